"""Engine factory: one instance per (kind, engine name) per container, imported on first use."""

from __future__ import annotations

import importlib
import threading
from typing import Any

from speech_common.engines.base import SpeechToTextEngine, TextToSpeechEngine
from speech_common.errors import UpstreamFailure
from speech_common.settings import Settings

# Engine name -> "module:Class". Modules import their SDK lazily, so looking up a class is cheap.
TTS_ENGINES = {
    "openai": "speech_common.engines.openai_engine:OpenAITextToSpeech",
    "openai-realtime": "speech_common.engines.openai_realtime:OpenAIRealtimeTextToSpeech",
    "polly": "speech_common.engines.polly:PollyTextToSpeech",
    "local": "speech_common.engines.local:LocalTextToSpeech",
}
STT_ENGINES = {
    "openai": "speech_common.engines.openai_engine:OpenAISpeechToText",
    "local": "speech_common.engines.local:LocalSpeechToText",
}

_instances: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def _engine_class(registry: dict[str, str], name: str) -> type:
    target = registry.get(name)
    if target is None:
        raise UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, f"unknown engine {name!r}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UpstreamFailure(
            UpstreamFailure.NOT_CONFIGURED, f"engine {name!r} is not installed ({exc.name})"
        ) from None
    cls: type = getattr(module, class_name)
    return cls


def _instance(kind: str, registry: dict[str, str], name: str, settings: Settings) -> Any:
    with _lock:
        engine = _instances.get((kind, name))
        if engine is None:
            engine = _engine_class(registry, name)(settings)
            _instances[(kind, name)] = engine
        return engine


def tts_engine(name: str, settings: Settings) -> TextToSpeechEngine:
    engine: TextToSpeechEngine = _instance("tts", TTS_ENGINES, name, settings)
    return engine


def stt_engine(name: str, settings: Settings) -> SpeechToTextEngine:
    engine: SpeechToTextEngine = _instance("stt", STT_ENGINES, name, settings)
    return engine


def tts_input_limit(name: str) -> int:
    """The engine's text limit, without building the engine."""
    limit: int = _engine_class(TTS_ENGINES, name).max_input_chars  # type: ignore[attr-defined]
    return limit


def reset_engines() -> None:
    """Tests only: forget built engines (a new container)."""
    with _lock:
        _instances.clear()
