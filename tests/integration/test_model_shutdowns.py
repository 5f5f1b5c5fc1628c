"""Time travel: every documented model and voice keeps working through OpenAI's 2027 shutdowns.

The fake OpenAI HTTP server and the fake Realtime server reject each retired model from its
shutdown date (set by the test clock, which is also the functions' clock), exactly as OpenAI
answers: the default routes must carry on, and from a known date without paying a failed call.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from datetime import date

import av
import pytest

from speech_common import model_routing
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtimeServer
from tests.helpers import header, invoke, multipart_body, stt_event, tts_event
from tests.samples import tone

VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")
TTS_SHUTDOWN = date(2027, 1, 6)
STT_SHUTDOWN = date(2027, 2, 26)
DAYS = [date(2026, 11, 25), date(2027, 1, 5), TTS_SHUTDOWN, date(2027, 2, 25), STT_SHUTDOWN, date(2028, 1, 1)]


@pytest.fixture
def upstreams(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeOpenAI, FakeRealtimeServer]]:
    """Both fakes, one key; the functions use the default routes (nothing configured) and see the fakes' day."""
    monkeypatch.setattr(model_routing, "utc_today", lambda: fake_openai.today)
    with FakeRealtimeServer(api_key=fake_openai.api_key) as realtime:
        monkeypatch.setenv("OPENAI_REALTIME_BASE_URL", realtime.websocket_base_url)
        yield fake_openai, realtime
        assert realtime.protocol_errors == []


def set_day(upstreams: tuple[FakeOpenAI, FakeRealtimeServer], day: date) -> None:
    http, realtime = upstreams
    http.today = day
    realtime.today = day


def decodes_as_mp3(audio: bytes) -> bool:
    with av.open(io.BytesIO(audio)) as container:
        stream = container.streams.audio[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name in ("mp3", "mp3float") and frames > 0


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_tts_every_model_and_voice_on_any_day(
    upstreams: tuple[FakeOpenAI, FakeRealtimeServer], day: date
) -> None:
    # Given the upstreams as they are on that day
    set_day(upstreams, day)
    http, _ = upstreams
    served_by = set()
    # When every documented model and voice is asked for
    for model in ("tts-1", "tts-1-hd"):
        for voice in VOICES:
            response = invoke(
                "tts", tts_event({"text": "The quick brown fox.", "model": model, "voice": voice})
            )
            # Then each answer is 200, names the public model and voice, and carries real mp3
            assert response["statusCode"] == 200, (model, voice, response["json"])
            assert (response["json"]["model"], response["json"]["voice"]) == (model, voice)
            assert decodes_as_mp3(base64.b64decode(response["json"]["audio_base64"]))
            served_by.add(header(response, "X-Speech-Engine"))
    # And the header tells which upstream served it
    if day < TTS_SHUTDOWN:
        assert served_by == {"openai:tts-1", "openai:tts-1-hd"}
    else:
        assert served_by == {"openai-realtime:gpt-realtime-2.1-mini"}
        # the retired models' known date has come: no failed call was paid for them
        assert http.calls("/v1/audio/speech") == 0


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_stt_whisper_1_on_any_day(upstreams: tuple[FakeOpenAI, FakeRealtimeServer], day: date) -> None:
    # Given the upstreams as they are on that day, and an mp3 upload for whisper-1
    set_day(upstreams, day)
    http, _ = upstreams
    http.transcript = "the quick brown fox"
    body = multipart_body({"model": "whisper-1"}, {"audio": ("clip.mp3", tone("mp3"), "audio/mpeg")})
    # When it is transcribed three times in one container
    responses = [invoke("stt", stt_event(body)) for _ in range(3)]
    # Then each answer is 200 with the transcript under the public model's name
    for response in responses:
        assert response["statusCode"] == 200, response["json"]
        assert response["json"] == {"transcript": "the quick brown fox", "model": "whisper-1"}
    # And whisper-1 served them before its shutdown, gpt-transcribe from that day on
    expected = "openai:whisper-1" if day < STT_SHUTDOWN else "openai:gpt-transcribe"
    assert {header(r, "X-Speech-Engine") for r in responses} == {expected}
    # After the known date whisper-1 is not even tried: one call per request
    assert http.calls("/v1/audio/transcriptions") == 3


def test_a_shutdown_during_a_containers_life_is_absorbed(
    upstreams: tuple[FakeOpenAI, FakeRealtimeServer],
) -> None:
    # Given a warm container that served tts-1 the day before the shutdown
    set_day(upstreams, date(2027, 1, 5))
    assert header(invoke("tts", tts_event({"text": "Before."})), "X-Speech-Engine") == "openai:tts-1"
    # When the day comes
    set_day(upstreams, TTS_SHUTDOWN)
    response = invoke("tts", tts_event({"text": "After."}))
    # Then the same container moves on without a failed answer
    assert response["statusCode"] == 200
    assert header(response, "X-Speech-Engine") == "openai-realtime:gpt-realtime-2.1-mini"


def test_a_model_gone_before_its_known_date_is_skipped_for_a_while_then_tried_again(
    upstreams: tuple[FakeOpenAI, FakeRealtimeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given whisper-1 gone early (a key without access, say), and a short skip time
    http, _ = upstreams
    monkeypatch.setenv("MODEL_GONE_RETRY_SECONDS", "0.3")
    http.transcription_models["whisper-1"] = http.today
    body = multipart_body({"model": "whisper-1"}, {"audio": ("clip.mp3", tone("mp3"), "audio/mpeg")})
    # When two requests come / Then both are served by gpt-transcribe; only the first paid a failed call
    engines = [header(invoke("stt", stt_event(body)), "X-Speech-Engine") for _ in range(2)]
    assert engines == ["openai:gpt-transcribe"] * 2
    assert http.calls("/v1/audio/transcriptions") == 3
    # And once whisper-1 is back and the skip has run out, it serves again
    http.transcription_models["whisper-1"] = None
    time.sleep(0.35)
    assert header(invoke("stt", stt_event(body)), "X-Speech-Engine") == "openai:whisper-1"


def test_a_model_the_key_cannot_use_is_reported_so(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a one-entry route to a model OpenAI answers "does not exist or you do not have access to it"
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:gpt-4o-transcribe-private")
    body = multipart_body({"model": "whisper-1"}, {"audio": ("clip.mp3", tone("mp3"), "audio/mpeg")})
    # When a request comes / Then the error says to check the key's access, as model_unavailable
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 500
    assert response["json"]["code"] == "model_unavailable"
    assert "check the key's project and model permissions" in response["json"]["detail"]
    assert response["json"]["detail"].startswith("Transcription failed: ")
    # And the next request asks the upstream again (the last entry is always tried)
    invoke("stt", stt_event(body))
    assert fake_openai.calls("/v1/audio/transcriptions") == 2
