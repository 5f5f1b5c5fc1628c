"""The language heard, named by its ISO-639-1 code on /api (timed answers and every job result) and OpenAI's way on
/v1 (verbose_json's "english"), whichever engine heard it: whisper-1 (which names it), gpt-4o-transcribe (which does
not: the language asked for, else null), the offline engine (which gives Whisper's code), and a long recording of
many pieces (the language most of it was heard in)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from speech_common.audio import AudioUpload
from speech_common.core import TranscriptionJob, transcribe
from speech_common.deadline import Deadline
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import multipart_body, stt_event
from tests.integration.test_long_audio import long_mp3
from tests.integration.test_openai_door import (
    api_stt,
    call,
    finished_job,
    stt_engine_speech,
    transcription,
)
from tests.samples import tone
from tests.tone_speech import hear


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200, response["body"]
    return dict(json.loads(response["body"]))


def test_whisper_1s_language_is_a_code_on_api_and_its_name_on_v1(fake_openai: FakeOpenAI) -> None:
    # Given an upstream whisper-1 that hears French (its verbose_json says "french")
    fake_openai.language_heard = lambda _audio: "french"
    # When verbose_json is asked of /api/stt/ and of /v1/audio/transcriptions
    api = body_of(api_stt({"response_format": "verbose_json"}))
    v1 = body_of(transcription({"model": "whisper-1", "response_format": "verbose_json"}, tone("mp3")))
    # Then /api names it "fr", /v1 "french", as OpenAI does
    assert (api["language"], v1["language"]) == ("fr", "french")


@pytest.mark.parametrize("response_format", ["json", "text", "vtt"])
def test_a_jobs_result_names_the_language_whisper_1_heard(
    aws: dict[str, str], fake_openai: FakeOpenAI, response_format: str
) -> None:
    # Given an upstream whisper-1 that hears German, none asked for
    fake_openai.language_heard = lambda _audio: "german"
    # When a job is asked for in a format whose answer has no language of its own
    status = finished_job(aws, {"response_format": response_format})
    # Then its result names it by its code (whisper-1 was asked for verbose_json, which names it)
    assert status["result"]["language"] == "de"
    assert fake_openai.last_request.form["response_format"] == "verbose_json"


@pytest.mark.parametrize(("asked", "named"), [({"language": "es"}, "es"), ({}, None)])
def test_a_model_that_names_no_language_gives_the_one_asked_else_null(
    aws: dict[str, str],
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    asked: dict[str, str],
    named: str | None,
) -> None:
    # Given whisper-1 routed to gpt-4o-transcribe, whose json names no language
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:gpt-4o-transcribe")
    get_settings.cache_clear()
    # When a job runs, with or without a language asked for
    status = finished_job(aws, asked)
    # Then its result names the language asked for, or null: never one nobody heard
    assert fake_openai.last_request.form["response_format"] == "json"
    assert status["result"]["language"] == named


@pytest.mark.parametrize("timings", [False, True])
def test_a_long_recording_is_named_by_the_language_most_of_it_was_heard_in(
    fake_openai: FakeOpenAI, timings: bool
) -> None:
    # Given a twelve-minute recording cut into pieces, the first heard in English and every other in German
    audio, words = long_mp3()
    first_words = words.split()[:4]
    fake_openai.transcriber = hear
    fake_openai.language_heard = lambda piece: (
        "english" if hear(piece).split()[:4] == first_words else "german"
    )
    # When it is transcribed, with and without timings (pieces joined by either way)
    transcript, _ = transcribe(TranscriptionJob(AudioUpload(audio, "mp3"), timings=timings), Deadline(60))
    # Then the recording is German, not the first piece's English
    assert fake_openai.calls("/v1/audio/transcriptions") > 2
    assert transcript.language == "de"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """whisper-1 routed to the offline engine; speech in its voice."""
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=local:local")
    get_settings.cache_clear()
    return stt_engine_speech("Seven green apples fell from the tree.")


def test_the_offline_engines_language_is_a_code_on_api_and_its_name_on_v1(offline: bytes) -> None:
    # Given speech heard by the offline engine (faster-whisper detects "en") / When both doors give verbose_json
    api = call(
        "stt",
        stt_event(
            multipart_body({"response_format": "verbose_json"}, {"audio": ("a.wav", offline, "audio/wav")})
        ),
    )
    v1 = call(
        "stream",
        stt_event(
            multipart_body(
                {"model": "whisper-1", "response_format": "verbose_json"},
                {"file": ("a.wav", offline, "audio/wav")},
            ),
            path="/v1/audio/transcriptions",
        ),
    )
    # Then /api says "en", /v1 "english" as OpenAI would
    assert (body_of(api)["language"], body_of(v1)["language"]) == ("en", "english")


def test_the_offline_engine_takes_javanese_by_its_iso_code(offline: bytes) -> None:
    # Given Javanese asked for by its ISO-639-1 code, "jv" (Whisper spells it "jw")
    form = {"response_format": "verbose_json", "language": "jv"}
    # When the offline engine transcribes
    answer = call("stt", stt_event(multipart_body(form, {"audio": ("a.wav", offline, "audio/wav")})))
    # Then it is served, not refused as unknown, and the language is named "jv" again
    assert body_of(answer)["language"] == "jv"
