"""Azure OpenAI: the SDK's Azure client for REST and realtime, keys in `api-key`, deployments as models."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from speech_common.settings import ConfigurationError, get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtimeServer
from tests.helpers import header, invoke, multipart_body, stt_event, tts_event
from tests.samples import tone

API_VERSION = "2025-04-01-preview"


@pytest.fixture
def azure(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The fake as an Azure OpenAI resource, and the functions configured for it."""
    fake_openai.azure_api_version = API_VERSION
    endpoint = fake_openai.base_url.removesuffix("/v1")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", API_VERSION)
    get_settings.cache_clear()
    yield fake_openai
    fake_openai.azure_api_version = None
    fake_openai.azure_requests.clear()


def test_an_azure_base_url_without_an_api_version_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given OPENAI_BASE_URL on an Azure OpenAI host and no API version
    monkeypatch.setenv("OPENAI_BASE_URL", "https://my-resource.openai.azure.com/openai/v1")
    get_settings.cache_clear()
    # When the settings are read / Then the start fails naming the missing variable
    with pytest.raises(
        ConfigurationError, match="AZURE_OPENAI_API_VERSION: required with an Azure OpenAI endpoint"
    ):
        get_settings()


def test_an_azure_base_url_is_used_as_the_azure_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given OPENAI_BASE_URL on an Azure OpenAI host and an API version
    monkeypatch.setenv("OPENAI_BASE_URL", "https://my-resource.openai.azure.com/openai/v1")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", API_VERSION)
    get_settings.cache_clear()
    # When the settings are read / Then the resource's endpoint is the Azure endpoint
    assert get_settings().azure_endpoint == "https://my-resource.openai.azure.com"


def test_speech_goes_to_the_deployment_with_the_key_in_api_key(azure: FakeOpenAI) -> None:
    # Given an Azure resource whose deployment is named tts-1
    # When speech is asked for
    response = invoke("tts", tts_event({"text": "Hello from Azure."}))
    # Then it was served through the deployment path, with the API version, the key in `api-key`
    assert response["statusCode"] == 200, response["json"]
    assert base64.b64decode(response["json"]["audio_base64"])[:3] == b"ID3"
    assert azure.azure_requests == [("tts-1", API_VERSION)]
    assert header(response, "X-Speech-Engine") == "openai:tts-1"


def test_transcription_goes_to_the_deployment(azure: FakeOpenAI) -> None:
    # Given an Azure resource / When audio is transcribed
    body = multipart_body({"model": "whisper-1"}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    response = invoke("stt", stt_event(body))
    # Then the whisper-1 deployment served it
    assert response["json"] == {"transcript": azure.transcript, "model": "whisper-1"}
    assert azure.azure_requests == [("whisper-1", API_VERSION)]


def test_a_bearer_key_is_refused_by_azure(azure: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the plain OpenAI client pointed at the Azure resource (what a base URL alone used to do)
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    monkeypatch.setenv("OPENAI_BASE_URL", azure.base_url.removesuffix("/v1") + "/openai/deployments/tts-1")
    monkeypatch.delenv("AZURE_OPENAI_API_VERSION")
    get_settings.cache_clear()
    # When speech is asked for / Then Azure refuses the request (no api-key, no api-version)
    response = invoke("tts", tts_event({"text": "Hello."}))
    assert response["statusCode"] == 500 and response["json"]["code"] == "upstream_auth_failed"


@pytest.mark.parametrize("event_names", ["ga", "beta"])
def test_the_realtime_route_speaks_through_the_azure_deployment(
    azure: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, event_names: str
) -> None:
    # Given an Azure realtime deployment (which may send the beta event names), as the tts-1 route
    with FakeRealtimeServer(api_key=azure.api_key) as realtime:
        realtime.azure_api_version = API_VERSION
        realtime.event_names = event_names  # type: ignore[assignment]
        realtime.models["my-realtime"] = None
        monkeypatch.setenv(
            "OPENAI_REALTIME_BASE_URL", realtime.websocket_base_url.removesuffix("/v1") + "/openai"
        )
        monkeypatch.setenv(
            "TTS_MODEL_ROUTES", "tts-1=openai-realtime:my-realtime;tts-1-hd=openai-realtime:my-realtime"
        )
        get_settings.cache_clear()
        # When speech is asked for
        response = invoke("tts", tts_event({"text": "Read this through Azure."}))
        # Then the deployment read it, over Azure's realtime URL with the key in `api-key`
        assert response["statusCode"] == 200, response["json"]
        assert [c.model for c in realtime.connections] == ["my-realtime"]
        assert [s.text for s in realtime.spoken] == ["Read this through Azure."]
        assert realtime.protocol_errors == []
