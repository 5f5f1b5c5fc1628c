"""The engines a route may name, and where each one's class lives ("module:Class").

Plain strings and no imports: `settings` checks route chains against these names and `engines` builds
an engine from its entry, so neither needs the other. An engine's module is imported only when a route
first uses it.
"""

from __future__ import annotations

from typing import Final, Literal

type EngineKind = Literal["stt", "tts"]

TTS_ENGINES: Final[dict[str, str]] = {
    "openai": "speech_common.engines.openai_engine:OpenAITextToSpeech",
    "openai-realtime": "speech_common.engines.openai_realtime.engine:OpenAIRealtimeTextToSpeech",
    "polly": "speech_common.engines.polly:PollyTextToSpeech",
    "local": "speech_common.engines.local:LocalTextToSpeech",
}
STT_ENGINES: Final[dict[str, str]] = {
    "openai": "speech_common.engines.openai_engine:OpenAISpeechToText",
    "local": "speech_common.engines.local:LocalSpeechToText",
}


def registry(kind: EngineKind) -> dict[str, str]:
    """Engine name -> "module:Class" for one kind of route."""
    return TTS_ENGINES if kind == "tts" else STT_ENGINES


def engine_names(kind: EngineKind) -> tuple[str, ...]:
    """The engines a route of this kind may name."""
    return tuple(registry(kind))
