"""Engine registry and factory: one instance per (kind, engine name) per container.

An engine's module is imported when a route first needs it (`module:Class` below), so a cold start
loads only the engines its request uses: a tts-1 call never loads the realtime engine, its verbatim
check or the Polly engine. Engine modules import their SDKs lazily too (a test checks both).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from speech_common.engines.base import SpeechToTextEngine, TextToSpeechEngine
from speech_common.errors import UpstreamFailure
from speech_common.settings import Settings

TTS_ENGINES: dict[str, str] = {
    "openai": "speech_common.engines.openai_engine:OpenAITextToSpeech",
    "openai-realtime": "speech_common.engines.openai_realtime:OpenAIRealtimeTextToSpeech",
    "polly": "speech_common.engines.polly:PollyTextToSpeech",
    "local": "speech_common.engines.local:LocalTextToSpeech",
}
STT_ENGINES: dict[str, str] = {
    "openai": "speech_common.engines.openai_engine:OpenAISpeechToText",
    "local": "speech_common.engines.local:LocalSpeechToText",
}

_instances: dict[tuple[str, str], TextToSpeechEngine | SpeechToTextEngine] = {}
_lock = threading.Lock()


def engine_names(kind: str) -> tuple[str, ...]:
    """The engines a route of this kind ("stt" or "tts") may name."""
    return tuple(TTS_ENGINES if kind == "tts" else STT_ENGINES)


def _instance(kind: str, registry: dict[str, str], name: str, settings: Settings) -> Any:
    where = registry.get(name)
    if where is None:  # settings refuse unknown engines; kept for settings built by hand
        raise UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, f"unknown engine {name!r}")
    module, _, class_name = where.partition(":")
    cls = getattr(importlib.import_module(module), class_name)
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
