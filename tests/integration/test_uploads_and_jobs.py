"""Uploads straight to S3 and transcription jobs, against moto's S3, DynamoDB and SQS over real HTTP."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import av
import boto3
import pytest
import requests

from speech_common import core, storage
from speech_common.engines.openai_engine import speech_chunks
from speech_common.jobs import RUNNING
from speech_common.jobs.store import DynamoDBJobStore, JobChange
from speech_common.long_audio import piece_seconds_for
from speech_common.settings import get_settings
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    FakeLambdaContext,
    api_event,
    header,
    invoke,
    job_status,
    load_handler,
    multipart_body,
    run_worker,
    stt_event,
    with_api_key,
)
from tests.samples import encode as samples_encode
from tests.samples import silent_flac, tone
from tests.tone_speech import RATE, WORDS, hear, recording


def new_upload(api_key_id: str = "key-a", body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = invoke(
        "jobs", api_event("POST", "/api/uploads/", body=json.dumps(body or {}), api_key_id=api_key_id)
    )
    assert response["statusCode"] == 201, response["json"]
    return response["json"]


def send_file(upload: dict[str, Any], data: bytes) -> requests.Response:
    """What docs/api.md's curl does: the presigned fields, then the file, posted straight to S3."""
    files = {"file": ("meeting.mp3", data, "audio/mpeg")}
    return requests.post(upload["url"], data=upload["fields"], files=files, timeout=30)


def stt_with(
    fields: dict[str, str],
    api_key_id: str = "key-a",
    path: str = "/api/stt/",
    context: FakeLambdaContext | None = None,
) -> dict[str, Any]:
    return invoke("stt", with_api_key(stt_event(multipart_body(fields), path=path), api_key_id), context)


# An invocation with 4 s left: too little to count an upload at submission, which leaves it to the worker.
NO_TIME_TO_MEASURE = FakeLambdaContext(remaining_ms=4_000)


# --- uploads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/stt/", "/api/stt/jobs/"])
def test_an_upload_id_may_come_as_an_urlencoded_form(
    aws: dict[str, str], fake_openai: FakeOpenAI, path: str
) -> None:
    # Given an uploaded file, and its id sent as requests, httpx and fetch(URLSearchParams) send a form with no file
    upload = new_upload()
    assert send_file(upload, tone("mp3")).status_code == 204
    body = urlencode({"upload_id": upload["upload_id"], "model": "whisper-1"}).encode()
    event = stt_event(body, path=path, content_type="application/x-www-form-urlencoded", base64_encoded=False)
    # When POST /api/stt/ (or its jobs route) receives it
    response = invoke("stt", with_api_key(event, "key-a"))
    # Then it is taken as the multipart form would be: the transcript, or a queued job that the worker completes
    if path == "/api/stt/":
        assert response["json"] == {"transcript": fake_openai.transcript, "model": "whisper-1"}
    else:
        assert response["statusCode"] == 202, response["json"]
        assert run_worker(aws) == 1
        assert job_status(response["json"]["job_id"])["json"]["status"] == "succeeded"


def test_the_v1_door_still_wants_a_multipart_form(aws: dict[str, str]) -> None:
    # Given OpenAI's transcription route, which needs a file
    event = stt_event(
        b"model=whisper-1", path="/v1/audio/transcriptions", content_type="application/x-www-form-urlencoded"
    )
    # When an urlencoded form arrives / Then it is refused as OpenAI refuses it: no file, wrong content type
    response = invoke("stream", event)
    assert response["statusCode"] == 400
    assert response["json"]["error"]["code"] == "unsupported_content_type"


def test_an_upload_goes_straight_to_s3_and_is_transcribed_by_its_id(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a presigned upload, and the file posted to S3 with its fields (no API Gateway, no Lambda)
    upload = new_upload(body={"filename": "meeting.mp3", "content_type": "audio/mpeg"})
    assert upload["expires_in"] == 900 and upload["max_bytes"] == 500 * 1024 * 1024
    assert send_file(upload, tone("mp3")).status_code == 204
    # When POST /api/stt/ names the upload
    response = stt_with({"upload_id": upload["upload_id"]})
    # Then the documented answer comes back, from the uploaded audio
    assert response["json"] == {"transcript": fake_openai.transcript, "model": "whisper-1"}
    assert fake_openai.requests[-1].file_bytes == tone("mp3")


def test_the_presigned_policy_caps_the_size_and_binds_the_owner(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given uploads limited to 1,000 bytes
    monkeypatch.setenv("MAX_UPLOAD_OBJECT_BYTES", "1000")
    get_settings.cache_clear()
    # When an upload is asked for
    upload = new_upload(body={"content_type": "audio/mp4"})
    # Then the policy S3 checks caps the size and fixes the key, the owner and the content type
    # (moto does not enforce POST policies; S3 answers 400 EntityTooLarge to a larger body)
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"x-amz-meta-owner": "key-a"} in policy["conditions"]
    assert {"Content-Type": "audio/mp4"} in policy["conditions"]
    assert {"key": f"uploads/{upload['upload_id']}"} in policy["conditions"]
    assert upload["max_bytes"] == 1000


@pytest.mark.parametrize("case", ["unknown", "never-sent", "another-key"])
def test_an_upload_id_that_cannot_be_used_is_a_400(
    aws: dict[str, str], fake_openai: FakeOpenAI, case: str
) -> None:
    # Given an id nobody made, one whose file never came, or one made with another API key
    upload_id = "nosuchupload1234567890"
    if case != "unknown":
        upload = new_upload()
        upload_id = upload["upload_id"]
        if case == "another-key":
            send_file(upload, tone("mp3"))
    # When it is used / Then a 400 with its own code, and nothing reached the upstream
    response = stt_with({"upload_id": upload_id}, api_key_id="key-b" if case == "another-key" else "key-a")
    assert response["statusCode"] == 400 and response["json"]["code"] == "unknown_upload"
    assert fake_openai.calls() == 0


def test_an_upload_that_is_not_audio_is_a_400(aws: dict[str, str]) -> None:
    # Given an uploaded text file / When it is transcribed / Then unsupported_audio
    upload = new_upload()
    send_file(upload, b"these are not the sounds you are looking for" * 10)
    assert stt_with({"upload_id": upload["upload_id"]})["json"]["code"] == "unsupported_audio"


def test_a_file_and_an_upload_id_together_are_a_400(aws: dict[str, str]) -> None:
    # Given a form with both / When posted / Then it says to send one of them
    body = multipart_body({"upload_id": "x" * 20}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 400 and response["json"]["code"] == "invalid_field"


# --- jobs ------------------------------------------------------------------------------------------


def test_a_job_is_queued_run_by_the_worker_and_read_back(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given an uploaded recording
    upload = new_upload()
    send_file(upload, tone("mp3"))
    # When a job is asked for
    accepted = stt_with({"upload_id": upload["upload_id"], "language": "en"}, path="/api/stt/jobs/")
    # Then it is accepted as queued, with where to read it
    assert accepted["statusCode"] == 202, accepted["json"]
    job_id = accepted["json"]["job_id"]
    assert accepted["json"]["status"] == "queued" and accepted["json"]["status_url"].endswith(
        f"/Prod/api/jobs/{job_id}"
    )
    assert job_status(job_id)["json"]["status"] == "queued"
    # And once the worker ran, the job holds the documented transcript, and the language heard
    assert run_worker(aws) == 1
    status = job_status(job_id)["json"]
    assert status["status"] == "succeeded" and status["kind"] == "stt" and status["error"] is None
    assert status["result"] == {"transcript": fake_openai.transcript, "model": "whisper-1", "language": "en"}
    assert fake_openai.requests[-1].form["language"] == "en"


def test_a_job_from_an_inline_file_works_the_same(aws: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a small file sent with the job request itself
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    accepted = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))
    # When the worker runs / Then the job succeeded
    run_worker(aws)
    assert job_status(accepted["json"]["job_id"])["json"]["status"] == "succeeded"


def test_a_message_delivered_twice_is_transcribed_once(aws: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a queued job
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    job_id = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))["json"]["job_id"]
    event = {"Records": [{"messageId": "m1", "body": json.dumps({"job_id": job_id})}]}
    # When the worker receives its message twice (SQS delivers at least once)
    for _ in range(2):
        load_handler("worker").lambda_handler(event, FakeLambdaContext(remaining_ms=120_000))
    # Then the upstream transcribed it once
    assert fake_openai.calls("/v1/audio/transcriptions") == 1


def test_a_job_whose_transcription_fails_ends_failed_with_a_code(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given an upstream that refuses the key
    fake_openai.api_key = "sk-another"
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    job_id = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))["json"]["job_id"]
    # When the worker runs / Then the job is failed with the documented error, not running
    run_worker(aws)
    status = job_status(job_id)["json"]
    assert status["status"] == "failed" and status["result"] is None
    assert status["error"] == {"detail": "Transcription failed", "code": "upstream_auth_failed"}


def test_a_job_left_on_the_dead_letter_queue_is_marked_failed(aws: dict[str, str]) -> None:
    # Given a queued job whose messages ran out of retries
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    job_id = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))["json"]["job_id"]
    # When the dead-letter handler receives it
    event = {"Records": [{"messageId": "m1", "body": json.dumps({"job_id": job_id})}]}
    load_handler("worker").dead_letter_handler(event, FakeLambdaContext())
    # Then the job reads failed, with a code that says the worker stopped
    assert job_status(job_id)["json"]["error"]["code"] == "worker_failed"


def test_a_running_job_past_its_lease_reads_running_and_its_next_delivery_resumes_it(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a job a worker took and then never finished (its lease ran out)
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    job_id = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))["json"]["job_id"]
    taken = JobChange(RUNNING, "1970-01-01T00:00:01Z", lease_until=1)
    assert DynamoDBJobStore(aws["table"]).change(job_id, taken)
    # When it is read / Then it is still running (not failed: its message comes back)
    assert job_status(job_id)["json"]["status"] == "running"
    # And when its message is delivered again, the job is taken up and succeeds
    assert run_worker(aws) == 1
    assert job_status(job_id)["json"]["status"] == "succeeded"


@pytest.mark.parametrize("who", ["nobody's", "another key's"])
def test_an_unknown_or_foreign_job_is_a_404(aws: dict[str, str], who: str) -> None:
    # Given a job id nobody made, or one made with another API key
    job_id = "nosuchjob"
    if who == "another key's":
        body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
        job_id = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))["json"][
            "job_id"
        ]
    # When it is read with key-b / Then the same 404 in the error shape
    response = job_status(job_id, api_key_id="key-b")
    assert response["statusCode"] == 404 and response["json"]["code"] == "unknown_job"


# --- an hour-long recording, the way a phone sends it -------------------------------------------


@pytest.mark.parametrize("fmt", ["m4a", "mp3"])
def test_an_hour_long_recording_goes_through_upload_job_and_worker_with_every_word_in_order(
    aws: dict[str, str], fake_openai: FakeOpenAI, fmt: str
) -> None:
    # Given an hour of speech (tone words the fake can hear), as m4a or mp3, uploaded straight to S3
    words = [WORDS[(i * 5) % len(WORDS)] for i in range(3000)]  # 1.2 s a word
    audio = samples_encode(fmt, recording(words), RATE)
    fake_openai.transcriber = hear
    upload = new_upload()
    assert send_file(upload, audio).status_code == 204
    # When it is transcribed as a job and the worker runs
    job_id = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")["json"]["job_id"]
    run_worker(aws, FakeLambdaContext(remaining_ms=900_000))
    # Then the job succeeded with every word of the hour, in order
    status = job_status(job_id)["json"]
    assert status["status"] == "succeeded", status
    assert status["result"]["transcript"] == " ".join(words)
    # And the upstream got one round of pieces, none longer than the longest piece, the hour between them
    pieces = [r for r in fake_openai.requests if r.path == "/v1/audio/transcriptions"]
    seconds = [duration_seconds(r.file_bytes or b"") for r in pieces]
    parallel = get_settings().stt_parallel_calls
    assert 2 <= len(pieces) <= parallel
    assert max(seconds) <= piece_seconds_for(3600, parallel) + 0.1
    assert sum(seconds) == pytest.approx(3600, abs=5)


# --- TTS audio as a link -----------------------------------------------------------------------


def test_delivery_url_answers_a_link_to_audio_larger_than_an_answer_can_carry(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a text whose wav is refused inline (larger than Lambda's answer)
    text = ("A sentence of ordinary length, read aloud by the speech API. " * 70)[:4000]
    inline = invoke(
        "tts", api_event("POST", "/api/tts/", body=json.dumps({"text": text, "response_format": "wav"}))
    )
    assert inline["statusCode"] == 413 and '"delivery": "url"' in inline["json"]["detail"]
    # When it is asked for with "delivery": "url"
    body = {"text": text, "response_format": "wav", "delivery": "url", "voice": "nova"}
    response = invoke("tts", api_event("POST", "/api/tts/", body=json.dumps(body)))
    # Then the answer is a link, and the audio behind it is the whole wav
    assert response["statusCode"] == 200, response["json"]
    answer = response["json"]
    assert set(answer) == {"audio_url", "expires_in", "model", "voice"}
    assert (answer["model"], answer["voice"], answer["expires_in"]) == ("tts-1", "nova", 600)
    audio = requests.get(answer["audio_url"], timeout=30)
    assert audio.status_code == 200 and audio.content.startswith(b"RIFF")
    chunks = speech_chunks(text, get_settings().tts_parallel_calls)  # the fake speaks 1 s a chunk
    assert duration_seconds(audio.content) == pytest.approx(len(chunks), abs=0.2)
    # And the link is signed for the default 10 minutes, as expires_in says
    assert link_seconds(answer["audio_url"]) == 600


def link_seconds(url: str) -> int:
    """How long S3 honours a presigned GET: its SigV4 X-Amz-Expires."""
    (expires,) = parse_qs(urlsplit(url).query)["X-Amz-Expires"]
    return int(expires)


def test_an_audio_links_life_is_the_setting(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given audio links set to live two minutes (AudioLinkSeconds)
    monkeypatch.setenv("RESULT_URL_EXPIRES_SECONDS", "120")
    get_settings.cache_clear()
    # When speech is asked for with "delivery": "url"
    body = {"text": "Your order has shipped.", "delivery": "url"}
    response = invoke("tts", api_event("POST", "/api/tts/", body=json.dumps(body)))
    # Then S3 honours the link for two minutes, and the answer says so
    assert response["statusCode"] == 200, response["json"]
    assert response["json"]["expires_in"] == 120
    assert link_seconds(response["json"]["audio_url"]) == 120


# --- limits and failures found in review --------------------------------------------------------


def test_a_job_for_an_unknown_upload_is_refused_at_once(aws: dict[str, str]) -> None:
    # Given an upload id nobody made / When a job is asked for it / Then 400 unknown_upload, no job queued
    response = stt_with({"upload_id": "nosuchupload1234567890"}, path="/api/stt/jobs/")
    assert response["statusCode"] == 400 and response["json"]["code"] == "unknown_upload"
    assert (
        boto3.session.Session().client("sqs").receive_message(QueueUrl=aws["queue_url"]).get("Messages")
        is None
    )


def test_one_request_does_not_read_an_upload_larger_than_it_transcribes(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given synchronous requests limited to 1 KB of upload, and a larger uploaded file
    monkeypatch.setenv("SYNC_MAX_UPLOAD_BYTES", "1024")
    get_settings.cache_clear()
    upload = new_upload()
    send_file(upload, tone("mp3"))
    # When POST /api/stt/ names it / Then 400 audio_too_long pointing at the jobs route, no upstream call
    response = stt_with({"upload_id": upload["upload_id"]})
    assert response["json"]["code"] == "audio_too_long" and "/api/stt/jobs/" in response["json"]["detail"]
    assert fake_openai.calls() == 0


def test_a_job_longer_than_jobs_take_fails_with_a_code_before_any_call(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given jobs limited to 30 s and a one-minute recording, submitted with no time left to count it
    monkeypatch.setenv("JOB_MAX_AUDIO_SECONDS", "30")
    get_settings.cache_clear()
    upload = new_upload()
    send_file(upload, samples_encode("mp3", recording(["alpha", "bravo"] * 25), RATE))
    accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/", context=NO_TIME_TO_MEASURE)
    job_id = accepted["json"]["job_id"]
    # When the worker runs / Then the job failed as audio_too_long and the upstream was not paid
    run_worker(aws)
    assert job_status(job_id)["json"]["error"]["code"] == "audio_too_long"
    assert fake_openai.calls() == 0


def test_a_transcript_larger_than_a_table_item_is_kept_whole(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given an upstream whose transcript is 150,000 Cyrillic characters (over DynamoDB's 400 KB item once escaped)
    fake_openai.transcript = "ж" * 150_000
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    job_id = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))["json"]["job_id"]
    # When the worker runs / Then the job succeeded and its result comes back whole
    run_worker(aws)
    status = job_status(job_id)["json"]
    assert status["status"] == "succeeded" and status["result"]["transcript"] == "ж" * 150_000


def test_a_job_that_cannot_be_queued_is_failed_not_left_queued(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue that does not exist
    monkeypatch.setenv("JOBS_QUEUE_URL", aws["queue_url"] + "-gone")
    get_settings.cache_clear()
    # When a job is asked for / Then a 500 jobs_unavailable, and no job stays queued
    body = multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    response = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))
    assert response["statusCode"] == 500 and response["json"]["code"] == "jobs_unavailable"
    rows = boto3.session.Session().client("dynamodb").scan(TableName=aws["table"])["Items"]
    assert [row["status"]["S"] for row in rows if "kind" in row] == ["failed"]


def test_an_expired_upload_is_a_400(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an upload sent, and a clock two days later (uploads are kept one day)
    upload = new_upload()
    send_file(upload, tone("mp3"))

    class TwoDaysLater(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(days=2)

    monkeypatch.setattr(storage, "datetime", TwoDaysLater)
    # When it is used / Then 400 unknown_upload, and nothing reached the upstream
    response = stt_with({"upload_id": upload["upload_id"]})
    assert response["statusCode"] == 400 and response["json"]["code"] == "unknown_upload"
    assert fake_openai.calls() == 0


# --- the speech cache ------------------------------------------------------------------------------


def tts(body: dict[str, Any]) -> dict[str, Any]:
    return invoke("tts", api_event("POST", "/api/tts/", body=json.dumps(body)))


def test_an_identical_request_is_served_from_the_cache_without_an_upstream_call(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a request served once
    body = {"text": "Your order has shipped.", "voice": "echo"}
    first = tts(body)
    assert header(first, "X-Speech-Cache") == "miss"
    calls = fake_openai.calls("/v1/audio/speech")
    # When the same request comes again
    second = tts(body)
    # Then it is a hit: no upstream call, byte-identical audio, the same route named
    assert header(second, "X-Speech-Cache") == "hit"
    assert fake_openai.calls("/v1/audio/speech") == calls
    assert second["json"] == first["json"]
    assert header(second, "X-Speech-Engine") == header(first, "X-Speech-Engine")
    # And the text is not in the key
    keys = [
        o["Key"]
        for o in boto3.session.Session().client("s3").list_objects_v2(Bucket=aws["bucket"])["Contents"]
    ]
    assert all("order" not in key for key in keys)


def test_one_keys_cache_entry_is_never_served_to_another_key(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a request of key-a, served and cached
    body = json.dumps({"text": "Your test results are ready.", "voice": "echo"})
    assert (
        header(invoke("tts", api_event("POST", "/api/tts/", body=body, api_key_id="key-a")), "X-Speech-Cache")
        == "miss"
    )
    calls = fake_openai.calls("/v1/audio/speech")
    # When key-b sends the identical request
    other = invoke("tts", api_event("POST", "/api/tts/", body=body, api_key_id="key-b"))
    # Then key-b learns nothing of key-a's: a miss, read by the upstream for key-b
    assert other["statusCode"] == 200 and header(other, "X-Speech-Cache") == "miss"
    assert fake_openai.calls("/v1/audio/speech") == calls + 1
    # And each key still has its own hit (the cache keeps paying off for the key that asked before)
    for key in ("key-a", "key-b"):
        again = invoke("tts", api_event("POST", "/api/tts/", body=body, api_key_id=key))
        assert header(again, "X-Speech-Cache") == "hit", key
    assert fake_openai.calls("/v1/audio/speech") == calls + 1


@pytest.mark.parametrize(
    "change",
    [{"voice": "nova"}, {"speed": 1.25}, {"response_format": "wav"}, {"text": "Your order has shipped!"}],
)
def test_a_different_voice_speed_format_or_text_misses(
    aws: dict[str, str], fake_openai: FakeOpenAI, change: dict[str, Any]
) -> None:
    # Given a request served once / When one of its parts changes / Then the upstream is asked again
    body = {"text": "Your order has shipped.", "voice": "echo"}
    tts(body)
    assert header(tts({**body, **change}), "X-Speech-Cache") == "miss"
    assert fake_openai.calls("/v1/audio/speech") == 2


def test_a_changed_route_never_serves_the_old_upstreams_audio(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tts-1 served (and cached) by openai:tts-1
    body = {"text": "Menu, option one."}
    tts(body)
    # When the route moves to another upstream model (as on a shutdown day)
    monkeypatch.setenv("TTS_MODEL_ROUTES", "tts-1=openai:tts-1-hd;tts-1-hd=openai:tts-1-hd")
    get_settings.cache_clear()
    response = tts(body)
    # Then the new upstream is asked: the cache is per upstream model
    assert (
        header(response, "X-Speech-Cache") == "miss"
        and header(response, "X-Speech-Engine") == "openai:tts-1-hd"
    )


def test_the_cache_can_be_turned_off(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given TTS_CACHE=false / When the same request comes twice / Then both reach the upstream, no header
    monkeypatch.setenv("TTS_CACHE", "false")
    get_settings.cache_clear()
    first, second = tts({"text": "Hello."}), tts({"text": "Hello."})
    assert fake_openai.calls("/v1/audio/speech") == 2
    assert header(first, "X-Speech-Cache") is None and header(second, "X-Speech-Cache") is None


@pytest.fixture
def ten_minute_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs limited to 10 minutes of audio (JOB_MAX_AUDIO_SECONDS)."""
    monkeypatch.setenv("JOB_MAX_AUDIO_SECONDS", "600")
    get_settings.cache_clear()


def no_job_recorded(aws: dict[str, str]) -> bool:
    return boto3.session.Session().client("dynamodb").scan(TableName=aws["table"])["Count"] == 0


def test_an_inline_job_longer_than_jobs_take_is_refused_at_submission(
    aws: dict[str, str], fake_openai: FakeOpenAI, ten_minute_jobs: None
) -> None:
    # Given jobs limited to 10 minutes and an inline FLAC of an hour of silence
    body = multipart_body({}, {"audio": ("silence.flac", silent_flac(3600), "audio/flac")})
    # When the job is asked for / Then 400 audio_too_long now: no job recorded, nothing stored or sent
    response = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))
    assert response["statusCode"] == 400 and response["json"]["code"] == "audio_too_long"
    assert no_job_recorded(aws)
    listed = boto3.session.Session().client("s3").list_objects_v2(Bucket=aws["bucket"], Prefix="uploads/")
    assert listed.get("KeyCount", 0) == 0
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_the_worker_stops_decoding_an_upload_that_expands_past_the_cap(
    aws: dict[str, str], fake_openai: FakeOpenAI, ten_minute_jobs: None
) -> None:
    # Given jobs limited to 10 minutes and an upload (not counted at submission: no time left) of a small FLAC that
    # decodes to an hour
    upload = new_upload()
    send_file(upload, silent_flac(3600))
    accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/", context=NO_TIME_TO_MEASURE)
    job_id = accepted["json"]["job_id"]
    # When the worker runs / Then the job failed audio_too_long, the upstream unpaid
    run_worker(aws)
    assert job_status(job_id)["json"]["error"]["code"] == "audio_too_long"
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_an_upload_longer_than_jobs_take_is_refused_at_submission(
    aws: dict[str, str], fake_openai: FakeOpenAI, ten_minute_jobs: None
) -> None:
    # Given jobs limited to 10 minutes and an upload of a small FLAC that decodes to an hour
    upload = new_upload()
    send_file(upload, silent_flac(3600))
    # When a job is asked for it
    response = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")
    # Then 400 audio_too_long now: no job recorded, nothing queued, nothing sent upstream
    assert response["statusCode"] == 400 and response["json"]["code"] == "audio_too_long"
    assert no_job_recorded(aws)
    sqs = boto3.session.Session().client("sqs")
    assert "Messages" not in sqs.receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)
    assert fake_openai.calls() == 0


def test_an_upload_that_is_not_audio_is_refused_at_submission(aws: dict[str, str]) -> None:
    # Given an upload of text
    upload = new_upload()
    send_file(upload, b"these are not the bytes of any recording")
    # When a job is asked for it / Then 400 unsupported_audio, no job recorded
    response = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")
    assert response["statusCode"] == 400 and response["json"]["code"] == "unsupported_audio"
    assert no_job_recorded(aws)


def test_an_upload_is_counted_from_a_temporary_file_that_is_removed(
    aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given temporary files kept under a folder of the test's, and an uploaded recording
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    upload = new_upload()
    send_file(upload, tone("mp3"))
    opened: list[object] = []
    real_open = av.open
    monkeypatch.setattr(
        av, "open", lambda source, *a, **k: opened.append(source) or real_open(source, *a, **k)
    )
    # When a job is asked for it
    response = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")
    # Then it was counted from a file under that folder (not from bytes in memory), which is gone afterwards
    assert response["statusCode"] == 202, response["json"]
    assert any(isinstance(source, str) and source.startswith(str(tmp_path)) for source in opened)
    assert list(tmp_path.iterdir()) == []


def test_an_upload_not_counted_in_time_is_accepted_and_measured_by_the_worker(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an uploaded recording and an invocation with too little time left to count it
    upload = new_upload()
    send_file(upload, tone("mp3"))
    measured_by_worker: list[float] = []
    real_counted = core.counted_seconds
    monkeypatch.setattr(
        core, "counted_seconds", lambda *a, **k: measured_by_worker.append(1) or real_counted(*a, **k)
    )
    # When a job is asked for
    accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/", context=NO_TIME_TO_MEASURE)
    # Then it is accepted unmeasured (not counted, no budget kept with it)
    assert accepted["statusCode"] == 202, accepted["json"]
    assert measured_by_worker == []
    job_id = accepted["json"]["job_id"]
    assert "budget" not in DynamoDBJobStore(aws["table"]).get(job_id).request  # type: ignore[union-attr]
    # And the worker measures it and transcribes it
    run_worker(aws)
    assert measured_by_worker and job_status(job_id)["json"]["status"] == "succeeded"


def test_an_upload_larger_than_tmps_free_space_is_left_to_the_worker(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an uploaded recording and a /tmp with less free space than the upload needs
    upload = new_upload()
    send_file(upload, tone("mp3"))
    full = shutil.disk_usage("/")._replace(free=100)
    with monkeypatch.context() as patched:
        patched.setattr(shutil, "disk_usage", lambda _path: full)
        # When a job is asked for
        accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")
    # Then it is accepted, not downloaded (no budget kept with it), and the worker transcribes it
    assert accepted["statusCode"] == 202, accepted["json"]
    job_id = accepted["json"]["job_id"]
    assert "budget" not in DynamoDBJobStore(aws["table"]).get(job_id).request  # type: ignore[union-attr]
    run_worker(aws)
    assert job_status(job_id)["json"]["status"] == "succeeded"
