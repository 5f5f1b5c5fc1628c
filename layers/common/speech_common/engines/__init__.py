"""Engine registry and factory: one instance per (kind, engine name) per container.

Engine modules import their SDKs lazily, so importing them all here stays cheap (a test checks).
"""

from __future__ import annotations

import threading

from speech_common.engines.base import SpeechToTextEngine, TextToSpeechEngine
from speech_common.engines.local import LocalSpeechToText, LocalTextToSpeech
from speech_common.engines.openai_engine import OpenAISpeechToText, OpenAITextToSpeech
from speech_common.engines.openai_realtime import OpenAIRealtimeTextToSpeech
from speech_common.engines.polly import PollyTextToSpeech
from speech_common.errors import UpstreamFailure
from speech_common.settings import Settings

TTS_ENGINES: dict[str, type[TextToSpeechEngine]] = {
    "openai": OpenAITextToSpeech,
    "openai-realtime": OpenAIRealtimeTextToSpeech,
    "polly": PollyTextToSpeech,
    "local": LocalTextToSpeech,
}
STT_ENGINES: dict[str, type[SpeechToTextEngine]] = {
    "openai": OpenAISpeechToText,
    "local": LocalSpeechToText,
}

_instances: dict[tuple[str, str], TextToSpeechEngine | SpeechToTextEngine] = {}
_lock = threading.Lock()


def engine_names(kind: str) -> tuple[str, ...]:
    """The engines a route of this kind ("stt" or "tts") may name."""
    return tuple(TTS_ENGINES if kind == "tts" else STT_ENGINES)


def _instance[E: (TextToSpeechEngine, SpeechToTextEngine)](
    kind: str, registry: dict[str, type[E]], name: str, settings: Settings
) -> E:
    cls = registry.get(name)
    if cls is None:  # settings refuse unknown engines; kept for settings built by hand
        raise UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, f"unknown engine {name!r}")
    with _lock:
        engine = _instances.get((kind, name))
        if not isinstance(engine, cls):
            engine = cls(settings)
            _instances[(kind, name)] = engine
        return engine


def tts_engine(name: str, settings: Settings) -> TextToSpeechEngine:
    return _instance("tts", TTS_ENGINES, name, settings)


def stt_engine(name: str, settings: Settings) -> SpeechToTextEngine:
    return _instance("stt", STT_ENGINES, name, settings)


def reset_engines() -> None:
    """A new container starts with no engine built (tests start each one so)."""
    with _lock:
        _instances.clear()
