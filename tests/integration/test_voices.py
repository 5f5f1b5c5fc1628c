"""GET /v1/audio/voices and GET /api/tts/voices/: each voice with the speech models that speak it now, in the shape
Open WebUI reads (`voices`, each with `id` and `name`), speaches and Kokoro-FastAPI answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from speech_common.settings import get_settings
from tests.helpers import api_event, invoke

ALL_SIX = ["alloy", "echo", "fable", "onyx", "nova", "shimmer"]


@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment a test sets (routes, voice maps, shutdown dates), read afresh and forgotten after."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def voices_of(path: str) -> dict[str, Any]:
    response = invoke("jobs", api_event("GET", path, content_type=None))
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = response["json"]
    return body


def models_by_voice(body: dict[str, Any]) -> dict[str, list[str]]:
    return {voice["id"]: voice["models"] for voice in body["voices"]}


def test_the_default_routes_speak_the_six_voices_on_both_models(routes: pytest.MonkeyPatch) -> None:
    # Given the default route chains (openai, then the realtime engine with its voice map)
    # When a client asks for the voices on /v1
    body = voices_of("/v1/audio/voices")
    # Then all six, each with both speech models, named for people
    assert body["object"] == "list"
    assert models_by_voice(body) == {voice: ["tts-1", "tts-1-hd"] for voice in ALL_SIX}
    assert [voice["name"] for voice in body["voices"]] == [name.capitalize() for name in ALL_SIX]
    # And Open WebUI's parser (its get_available_voices, for an OpenAI-compatible base URL) reads them all
    open_webui = {voice["id"]: voice["name"] for voice in body.get("voices", [])}
    assert list(open_webui) == ALL_SIX


def test_a_realtime_only_route_lists_only_the_voices_the_realtime_api_has(routes: pytest.MonkeyPatch) -> None:
    # Given tts-1 served by the realtime engine alone, with no voice map (fable, onyx and nova are not its voices)
    routes.setenv("TTS_MODEL_ROUTES", "tts-1=openai-realtime:gpt-realtime-2.1-mini;tts-1-hd=openai:tts-1-hd")
    routes.setenv("REALTIME_VOICE_MAP", "")
    # When the voices are asked for
    voices = models_by_voice(voices_of("/v1/audio/voices"))
    # Then those three are left out of tts-1's, and tts-1-hd (OpenAI's endpoint) keeps all six
    assert [voice for voice, models in voices.items() if "tts-1" in models] == ["alloy", "echo", "shimmer"]
    assert all("tts-1-hd" in models for models in voices.values()) and list(voices) == ALL_SIX


def test_polly_speaks_the_voices_its_map_names(routes: pytest.MonkeyPatch) -> None:
    # Given both models served by Polly alone, its map naming two voices
    routes.setenv("TTS_MODEL_ROUTES", "tts-1=polly:neural;tts-1-hd=polly:neural")
    routes.setenv("POLLY_VOICE_MAP", "alloy=Joanna;onyx=Gregory")
    # When the voices are asked for on /api
    body = voices_of("/api/tts/voices")
    # Then only those two are listed (another would be read in the map's default voice), in the /api shape
    assert body == {
        "voices": [
            {"id": "alloy", "name": "Alloy", "models": ["tts-1", "tts-1-hd"]},
            {"id": "onyx", "name": "Onyx", "models": ["tts-1", "tts-1-hd"]},
        ]
    }


def test_an_entry_past_its_shutdown_date_no_longer_counts(routes: pytest.MonkeyPatch) -> None:
    # Given tts-1 served by OpenAI's tts-1, shut down yesterday, then Polly with one voice
    routes.setenv("TTS_MODEL_ROUTES", "tts-1=openai:tts-1,polly:neural;tts-1-hd=openai:tts-1-hd")
    routes.setenv("POLLY_VOICE_MAP", "nova=Danielle")
    routes.setenv("MODEL_SHUTDOWN_DATES", "tts-1=2000-01-01")
    # When the voices are asked for
    voices = models_by_voice(voices_of("/v1/audio/voices/"))
    # Then tts-1 speaks only what Polly speaks now
    assert [voice for voice, models in voices.items() if "tts-1" in models] == ["nova"]
    assert all("tts-1-hd" in models for models in voices.values())  # and every voice keeps tts-1-hd
