"""A transcription pays for its speech (speech_common/budgets.py `pay_for_speech`): the recording's seconds are
reserved before it is read (the 429 is decided before any work), and once the voice-activity pass has found the
speech the rest is given back, on every door and in jobs, once however often a job runs. Against moto's DynamoDB,
S3 and SQS, the fake OpenAI hearing the tone words (tests/tone_speech)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from speech_common import budgets, voice_activity
from speech_common.jobs import service
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import job_status, multipart_body, run_worker, streamed, stt_event, with_api_key
from tests.integration.test_budgets import set_budgets, usage
from tests.integration.test_job_resume import RETRY_SECONDS, WorkerKilled, deliver, receive
from tests.integration.test_uploads_and_jobs import NO_TIME_TO_MEASURE, new_upload, send_file, stt_with
from tests.integration.test_voice_activity import (
    PHANTOM,
    SILENT_SECONDS,
    TRANSCRIPTIONS,
    api_stt,
    meeting,
    meeting_file,
    meeting_seconds,
    silent_wav,
    spoken,
)
from tests.integration.test_webhooks_and_audio_urls import outbound, stt_job
from tests.tone_speech import hear, hear_timed
from tests.webhook_receiver import file_server


@pytest.fixture
def heard(aws: dict[str, str], fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The budgets' usage table, and an upstream that hears the tones' words (and a phrase in silence)."""
    fake_openai.transcriber = hear
    fake_openai.segmenter = hear_timed
    fake_openai.hallucination = PHANTOM
    return fake_openai


def v1(fields: dict[str, str], audio: bytes) -> dict[str, Any]:
    """POST /v1/audio/transcriptions with key-a's API key; the body as text in "text"."""
    body = multipart_body({"model": "whisper-1", **fields}, {"file": ("meeting.wav", audio, "audio/wav")})
    response = streamed("stream", with_api_key(stt_event(body, path=TRANSCRIPTIONS), "key-a"))
    response["text"] = (
        base64.b64decode(response["body"]).decode() if response.get("isBase64Encoded") else response["body"]
    )
    return response


def audio_seconds_used() -> int:
    day, month = usage()["day"]["audio_seconds"]["used"], usage()["month"]["audio_seconds"]["used"]
    assert day == month
    return int(day)


def speech_of_meeting() -> float:
    """The seconds of speech the voice-activity pass finds in the meeting (its words, padded)."""
    return voice_activity.speech_clock(meeting()[0]).speech_seconds


def test_silence_on_the_api_door_costs_nothing(heard: FakeOpenAI) -> None:
    # Given 30 s of digital silence
    # When it is posted to /api/stt/
    response = api_stt({}, silent_wav())
    # Then it is answered, and no second of the key's budget stays counted
    assert response["statusCode"] == 200, response["json"]
    assert audio_seconds_used() == 0


@pytest.mark.parametrize("fields", [{}, {"response_format": "verbose_json"}, {"stream": "true"}])
def test_silence_on_the_v1_door_costs_nothing(heard: FakeOpenAI, fields: dict[str, str]) -> None:
    # Given 30 s of digital silence
    # When it is posted to /v1/audio/transcriptions (json, verbose_json, streamed)
    response = v1(fields, silent_wav())
    # Then it is answered, and nothing stays counted
    assert response["statusCode"] == 200, response["text"]
    assert audio_seconds_used() == 0


def test_a_meeting_with_long_pauses_is_charged_its_speech_on_the_api_door(heard: FakeOpenAI) -> None:
    # Given a meeting of 2 min 25 s, of which about 11 s are words
    # When it is posted to /api/stt/
    response = api_stt({}, meeting_file("wav"))
    # Then it is heard, and the key is charged the speech sent (within a second), not the pauses
    assert response["json"]["transcript"] == spoken(), response["json"]
    assert abs(audio_seconds_used() - speech_of_meeting()) <= 1
    assert audio_seconds_used() < meeting_seconds() - 90


def test_a_meeting_streamed_on_the_v1_door_is_charged_its_speech(heard: FakeOpenAI) -> None:
    # Given the meeting
    # When it is streamed from /v1/audio/transcriptions
    response = v1({"stream": "true"}, meeting_file("wav"))
    # Then its text comes, and the key is charged its speech
    events = [json.loads(line.removeprefix("data: ")) for line in response["text"].split("\n") if line]
    assert events[-1]["text"] == spoken(), events
    assert abs(audio_seconds_used() - speech_of_meeting()) <= 1


def test_a_silent_job_costs_nothing(heard: FakeOpenAI, aws: dict[str, str]) -> None:
    # Given a transcription job of 30 s of silence, its seconds reserved at submission
    accepted = api_stt({}, silent_wav(), path="/api/stt/jobs/")
    assert accepted["statusCode"] == 202, accepted["json"]
    assert audio_seconds_used() >= SILENT_SECONDS
    # When the worker runs it
    run_worker(aws)
    # Then it succeeded, and the reservation was given back whole
    assert job_status(accepted["json"]["job_id"])["json"]["status"] == "succeeded"
    assert audio_seconds_used() == 0


def test_a_job_the_worker_reserved_is_charged_its_speech(heard: FakeOpenAI, aws: dict[str, str]) -> None:
    # Given the meeting uploaded, and a job for it whose seconds the worker reserves (no time to count them)
    upload = new_upload()
    assert send_file(upload, meeting_file("wav")).status_code == 204
    accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/", context=NO_TIME_TO_MEASURE)
    assert accepted["statusCode"] == 202, accepted["json"]
    assert audio_seconds_used() == 0
    # When the worker runs it
    run_worker(aws)
    # Then it is heard, and the key is charged its speech only
    assert job_status(accepted["json"]["job_id"])["json"]["result"]["transcript"] == spoken()
    assert abs(audio_seconds_used() - speech_of_meeting()) <= 1


@pytest.mark.usefixtures(outbound.__name__)
def test_a_job_by_audio_url_is_charged_its_speech(heard: FakeOpenAI, aws: dict[str, str]) -> None:
    # Given the meeting served over HTTP, and a job for its link (the worker fetches it and reserves its seconds)
    with file_server({"/meeting.wav": meeting_file("wav")}) as base:
        accepted = stt_job({"audio_url": f"{base}/meeting.wav"})
        assert accepted["statusCode"] == 202, accepted["json"]
        # When the worker runs it
        run_worker(aws)
    # Then it is heard, and the key is charged its speech only
    assert job_status(accepted["json"]["job_id"])["json"]["result"]["transcript"] == spoken()
    assert abs(audio_seconds_used() - speech_of_meeting()) <= 1


def test_a_job_rerun_after_its_worker_died_gives_back_once(
    heard: FakeOpenAI, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the key's other work (200 s, room for a second give-back to hide in), and the meeting's job, whose
    # worker dies after giving back the pauses but before keeping the result
    monkeypatch.setenv("JOB_RETRY_SECONDS", str(RETRY_SECONDS))
    get_settings.cache_clear()
    budgets.reserve(get_settings(), "key-a", budgets.AUDIO_SECONDS, 200)
    accepted = api_stt({}, meeting_file("wav"), path="/api/stt/jobs/")
    job_id = accepted["json"]["job_id"]
    (first,) = receive(aws["queue_url"])

    def die(*_args: Any) -> None:
        raise WorkerKilled()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "store_job_result", die)
        with pytest.raises(WorkerKilled):
            deliver([first])
    charged = audio_seconds_used()
    assert abs(charged - 200 - speech_of_meeting()) <= 1
    # When its message comes back and the job runs again
    time.sleep(RETRY_SECONDS + 0.5)
    (again,) = receive(aws["queue_url"])
    deliver([again])
    # Then it succeeded, and the pauses were given back once: the speech is still what is charged
    assert job_status(job_id)["json"]["status"] == "succeeded"
    assert audio_seconds_used() == charged


def test_a_partial_give_back_is_made_once_per_job_and_the_rest_only_once(aws: dict[str, str]) -> None:
    # Given 100 seconds reserved for a job
    settings = get_settings()
    reservation = budgets.reserve(settings, "key-a", budgets.AUDIO_SECONDS, 100)
    # When its run gives back all but 30 s of speech twice (a rerun), then fails unpaid (all given back)
    first = budgets.pay_for_speech(settings, reservation, 29.2, token="job-1")
    again = budgets.pay_for_speech(settings, reservation, 29.2, token="job-1")
    after_speech = budgets.usage_of(settings, "key-a")[0].used[budgets.AUDIO_SECONDS]
    budgets.give_back(settings, reservation, token="job-1")
    # Then 70 were given back once, and the full give-back gave only the 30 left
    assert (first, again, after_speech) == (70, 0, 30)
    day, month = budgets.usage_of(settings, "key-a")
    assert day.used[budgets.AUDIO_SECONDS] == month.used[budgets.AUDIO_SECONDS] == 0


def test_a_give_back_is_never_more_than_was_reserved(aws: dict[str, str]) -> None:
    # Given 10 seconds reserved by one key, and 20 by another request of the same key
    settings = get_settings()
    reservation = budgets.reserve(settings, "key-a", budgets.AUDIO_SECONDS, 10)
    budgets.reserve(settings, "key-a", budgets.AUDIO_SECONDS, 20)
    # When more speech than was reserved is paid for, and then a give-back larger than the reservation is asked
    nothing = budgets.pay_for_speech(settings, reservation, 12.0)
    capped = budgets.give_back_part(settings, reservation, 50)
    # Then nothing, then only the reservation's 10, was given back: the other request's 20 stay counted
    assert (nothing, capped) == (0, 10)
    assert budgets.usage_of(settings, "key-a")[0].used[budgets.AUDIO_SECONDS] == 20


def test_over_the_budget_is_still_refused_before_any_work(
    heard: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 30 seconds a day, and the meeting (2 min 25 s, 11 s of it speech)
    set_budgets(monkeypatch, audio_seconds_per_day=30)
    # When it is posted
    refused = api_stt({}, meeting_file("wav"))
    # Then 429 on the recording's length, nothing sent upstream, nothing counted
    assert refused["statusCode"] == 429 and refused["json"]["code"] == "budget_exceeded"
    assert heard.calls(TRANSCRIPTIONS) == 0
    assert audio_seconds_used() == 0
