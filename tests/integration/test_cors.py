"""The functions' own answers carry CORS headers, so that a page on another origin may read them on AWS, where
API Gateway passes a Lambda proxy answer through as it is (it answers only the preflight itself)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from speech_common.settings import ConfigurationError, get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import header, invoke, load_handler, multipart_body, stt_event, tts_event

PAGE = "http://app.example.test:5173"


@pytest.fixture(autouse=True)
def new_containers() -> Iterator[None]:
    """The handlers are imported once a session, as in a warm container; the origin is read when one starts."""
    load_handler.cache_clear()
    yield
    load_handler.cache_clear()


def from_page(event: dict[str, Any], origin: str = PAGE) -> dict[str, Any]:
    event["headers"]["Origin"] = origin
    event["multiValueHeaders"]["Origin"] = [origin]
    return event


def test_tts_answer_and_its_error_carry_the_allowed_origin(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given functions allowed one origin (the template's AllowedOrigins)
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", PAGE)
    # When a page of that origin asks for speech, once well and once with a bad voice
    served = invoke("tts", from_page(tts_event({"text": "Hello"})))
    refused = invoke("tts", from_page(tts_event({"text": "Hello", "voice": "nobody"})))
    # Then both answers name that origin, and the page may read the engine header
    assert served["statusCode"] == 200 and refused["statusCode"] == 400
    for response in (served, refused):
        assert header(response, "Access-Control-Allow-Origin") == PAGE
    assert "X-Speech-Engine" in (header(served, "Access-Control-Expose-Headers") or "")


def test_another_origin_gets_no_cors_header(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given functions allowed one origin
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", PAGE)
    # When a page of another origin asks
    response = invoke("tts", from_page(tts_event({"text": "Hello"}), "https://elsewhere.test"))
    # Then it is served, but without a header that would let that page read it
    assert response["statusCode"] == 200
    assert header(response, "Access-Control-Allow-Origin") is None


def test_stt_error_carries_the_wildcard_by_default(fake_openai: FakeOpenAI) -> None:
    # Given the default (any origin)
    # When a page uploads a form without a file
    response = invoke("stt", from_page(stt_event(multipart_body(fields={"model": "whisper-1"}))))
    # Then the 400 is readable from the page
    assert response["statusCode"] == 400
    assert header(response, "Access-Control-Allow-Origin") == "*"


def test_an_origin_with_a_path_stops_the_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an allowed origin that is not an origin (a path, or a list API Gateway could not send)
    for bad in ("https://a.test/app", "https://a.test,https://b.test"):
        monkeypatch.setenv("CORS_ALLOW_ORIGIN", bad)
        get_settings.cache_clear()
        # When a function starts / Then it refuses, naming the variable
        with pytest.raises(ConfigurationError, match="CORS_ALLOW_ORIGIN"):
            invoke("tts", tts_event({"text": "Hello"}))
