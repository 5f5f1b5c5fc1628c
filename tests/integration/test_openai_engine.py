"""The `openai` engine against the fake OpenAI server: the real SDK, real HTTP, mapped failures."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from speech_common.audio import AudioUpload
from speech_common.deadline import Deadline
from speech_common.engines.base import SpeechRequest, TranscriptionRequest
from speech_common.engines.common import split_text
from speech_common.engines.openai_engine import SPEECH_CHUNK_CHARS, OpenAISpeechToText, OpenAITextToSpeech
from speech_common.errors import UpstreamFailure
from speech_common.settings import get_settings
from speech_common.transcode import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import invoke, tts_event
from tests.samples import tone

SPEECH = SpeechRequest(text="Hello there", voice="nova", response_format="mp3")


def tts() -> OpenAITextToSpeech:
    return OpenAITextToSpeech(get_settings())


def stt() -> OpenAISpeechToText:
    return OpenAISpeechToText(get_settings())


def test_speech_sends_model_voice_text_format_and_speed(fake_openai: FakeOpenAI) -> None:
    request = SpeechRequest(text="Read me", voice="onyx", response_format="flac", speed=0.5)
    audio = tts().synthesize(request, upstream_model="tts-1-hd", deadline=Deadline(10))
    assert audio.startswith(b"fLaC")
    sent = fake_openai.last_request.json
    assert sent == {
        "model": "tts-1-hd",
        "voice": "onyx",
        "input": "Read me",
        "response_format": "flac",
        "speed": 0.5,
    }


def test_transcription_sends_the_bytes_with_a_matching_name_and_json_format(fake_openai: FakeOpenAI) -> None:
    fake_openai.transcript = "one two three"
    upload = AudioUpload(data=tone("ogg"), format="ogg")
    text = stt().transcribe(
        TranscriptionRequest(upload, language="en"), upstream_model="gpt-transcribe", deadline=Deadline(10)
    )
    assert text == "one two three"
    sent = fake_openai.last_request
    assert (sent.model, sent.file_name, sent.file_content_type) == (
        "gpt-transcribe",
        "audio.ogg",
        "audio/ogg",
    )
    assert sent.file_bytes == upload.data
    assert sent.form.get("response_format") == "json" and sent.form.get("language") == "en"


def test_a_retired_model_is_reported_as_unavailable_without_retries(fake_openai: FakeOpenAI) -> None:
    # Given the day tts-1 is shut down
    fake_openai.today = date(2027, 1, 6)
    # When it is asked for / Then the engine says the model is unavailable, after one call
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    assert failure.value.code == UpstreamFailure.MODEL_UNAVAILABLE
    assert fake_openai.calls() == 1


def test_a_dropped_connection_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.drop_connection_next()
    assert tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    assert fake_openai.calls("/v1/audio/speech") == 2


def test_an_exhausted_quota_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(429, times=5, code="insufficient_quota")
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
    assert fake_openai.calls() == 1


def test_no_retry_starts_without_time_for_it(fake_openai: FakeOpenAI) -> None:
    # Given a server error with a long Retry-After and little time left
    fake_openai.fail_next(503, times=5, retry_after=30)
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(2.5))
    # Then one attempt only (a retry would start past the deadline)
    assert failure.value.code == UpstreamFailure.ERROR
    assert fake_openai.calls() <= 2


def test_one_client_per_container(fake_openai: FakeOpenAI) -> None:
    from speech_common.openai_client import get_openai_client

    assert get_openai_client(get_settings()) is get_openai_client(get_settings())


def test_logs_never_hold_the_key_or_the_text(
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a rejected key and a private text
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-key-0042")
    caplog.set_level(logging.DEBUG)
    invoke("tts", tts_event({"text": "the launch code is 0000"}))
    # Then neither appears in any log record (with its extra keys) nor in anything printed
    out = capsys.readouterr()
    logged = out.out + out.err + "\n".join(repr(record.__dict__) for record in caplog.records)
    assert "upstream_auth_failed" in logged  # the failure itself is logged
    assert "sk-very-secret" not in logged and "launch code" not in logged


def test_long_text_is_read_in_parallel_chunks_and_joined(fake_openai: FakeOpenAI) -> None:
    # Given a text too long to be read within the gateway's time in one call
    text = " ".join(f"This is sentence number {i} of a long text." for i in range(90))
    assert 3000 < len(text) <= 4096
    # When it is synthesized
    audio = tts().synthesize(
        SpeechRequest(text=text, voice="echo", response_format="mp3"),
        upstream_model="tts-1",
        deadline=Deadline(20),
    )
    # Then it was asked for in sentence-cut chunks of raw PCM, together covering the whole text
    sent = [r.json for r in fake_openai.requests if r.json is not None]
    assert len(sent) == len(split_text(text, SPEECH_CHUNK_CHARS)) >= 4
    assert all(s["response_format"] == "pcm" and s["voice"] == "echo" for s in sent)
    assert sorted(s["input"] for s in sent) == sorted(split_text(text, SPEECH_CHUNK_CHARS))
    # And the answer is one mp3 stream as long as the parts together (the fake reads 1 s per chunk)
    assert audio.startswith(b"ID3") and duration_seconds(audio) == pytest.approx(len(sent) * 1.0, abs=0.2)


def test_a_chunk_that_fails_fails_the_whole_text(fake_openai: FakeOpenAI) -> None:
    text = " ".join(f"Sentence {i} is here." for i in range(200))
    fake_openai.fail_next(429, times=50, code="insufficient_quota")
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SpeechRequest(text, "alloy", "mp3"), upstream_model="tts-1", deadline=Deadline(10))
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
