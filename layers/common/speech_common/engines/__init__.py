"""Engine factory: one instance per (kind, engine name) per container.

An engine's module is imported when a route first needs it (its "module:Class" entry in
speech_common.engine_names), so a cold start loads only the engines its request uses: a tts-1 call
never loads the realtime engine, its verbatim check or the Polly engine. Engine modules import their
SDKs lazily too (a test checks both).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from speech_common.engine_names import EngineKind, registry
from speech_common.engines.base import SpeechToTextEngine, TextToSpeechEngine
from speech_common.errors import UpstreamFailure
from speech_common.settings import Settings


class BuiltEngines:
    """The engines built in this container, each with the settings of its first use.

    Like functools.lru_cache, `cache_clear()` forgets them all: the next use builds anew (as in a
    new container, or after the settings were read again).
    """

    def __init__(self) -> None:
        self._engines: dict[tuple[EngineKind, str], TextToSpeechEngine | SpeechToTextEngine] = {}
        self._lock = threading.Lock()

    def get(self, kind: EngineKind, name: str, settings: Settings) -> Any:
        where = registry(kind).get(name)
        if where is None:  # settings refuse unknown engines; kept for settings built by hand
            raise UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, f"unknown engine {name!r}")
        module, _, class_name = where.partition(":")
        cls = getattr(importlib.import_module(module), class_name)
        with self._lock:
            engine = self._engines.get((kind, name))
            if not isinstance(engine, cls):
                engine = cls(settings)
                self._engines[(kind, name)] = engine
            return engine

    def cache_clear(self) -> None:
        with self._lock:
            self._engines.clear()


built_engines = BuiltEngines()


def tts_engine(name: str, settings: Settings) -> TextToSpeechEngine:
    engine: TextToSpeechEngine = built_engines.get("tts", name, settings)
    return engine


def stt_engine(name: str, settings: Settings) -> SpeechToTextEngine:
    engine: SpeechToTextEngine = built_engines.get("stt", name, settings)
    return engine
