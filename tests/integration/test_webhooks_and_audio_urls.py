"""Jobs' webhooks (signed deliveries, retries, their state in the job) and transcription jobs by audio_url, through
the handlers and the worker against moto's S3, DynamoDB and SQS and the fake OpenAI. The receiver and the file
server are real HTTP servers on loopback (allowed here as make serve allows it); the receiver verifies with
standardwebhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    FakeLambdaContext,
    api_event,
    invoke,
    job_status,
    load_handler,
    multipart_body,
    run_worker,
    stt_event,
    with_api_key,
)
from tests.samples import tone
from tests.webhook_receiver import file_server, webhook_receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]) -> Iterator[None]:
    """Loopback allowed (as make serve sets it), the signing secret, and retries without waiting."""
    monkeypatch.setenv("OUTBOUND_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_RETRY_DELAYS", "0,0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def tts_job(body: dict[str, Any]) -> dict[str, Any]:
    return invoke("tts", api_event("POST", "/api/tts/jobs/", body=json.dumps(body), api_key_id="key-a"))


def stt_job(fields: dict[str, str], files: dict[str, Any] | None = None) -> dict[str, Any]:
    body = multipart_body(fields, files or {})
    return invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))


def drain(aws: dict[str, str], rounds: int = 5) -> None:
    """Deliver the queue's messages to the worker until it is empty (retries included)."""
    for _ in range(rounds):
        if run_worker(aws) == 0:
            return


# --- webhooks ------------------------------------------------------------------------------------


def test_a_finished_job_is_posted_signed_to_its_webhook(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    with webhook_receiver(SECRET) as receiver:
        # Given a speech job with a webhook
        accepted = tts_job({"text": "Hello there.", "webhook_url": receiver.url})
        assert accepted["statusCode"] == 202, accepted["json"]
        job_id = accepted["json"]["job_id"]
        assert job_status(job_id)["json"]["webhook"] == {
            "state": "pending",
            "attempts": 0,
            "host": "127.0.0.1",
            "last_error": None,
            "delivered_at": None,
        }
        # When the worker runs it
        drain(aws)
        # Then one delivery came, verified by standardwebhooks with the secret, holding the job's JSON
        [delivery] = receiver.deliveries
        assert isinstance(delivery.verified, dict), delivery.verified
        status = job_status(job_id)["json"]
        assert delivery.verified["job_id"] == job_id and delivery.verified["status"] == "succeeded"
        sent_view = {k: v for k, v in delivery.verified.items() if k not in ("webhook", "result")}
        assert sent_view == {k: v for k, v in status.items() if k not in ("webhook", "result")}
        assert delivery.headers["webhook-id"] == f"msg_{job_id}"
        assert delivery.headers["Content-Type"] == "application/json"
        # And the job says it was delivered, on the first attempt, naming only the URL's host
        assert status["webhook"]["state"] == "delivered" and status["webhook"]["attempts"] == 1
        assert receiver.url not in json.dumps(status)


def test_a_signature_made_with_another_secret_does_not_verify(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    # Given a receiver holding a different secret
    with webhook_receiver("whsec_" + "QUJD" * 8) as receiver:
        job_id = tts_job({"text": "Hello.", "webhook_url": receiver.url})["json"]["job_id"]
        # When the job's webhook is delivered
        drain(aws)
        # Then its verification fails: the signature is the secret's
        assert receiver.deliveries and not isinstance(receiver.deliveries[0].verified, dict)
        assert job_status(job_id)["json"]["webhook"]["attempts"] >= 1


def test_a_failed_delivery_is_retried_with_the_same_id_until_delivered(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    # Given a receiver that fails the first delivery (a 503)
    with webhook_receiver(SECRET, statuses=[503]) as receiver:
        body = {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")}
        job_id = stt_job({"webhook_url": receiver.url}, body)["json"]["job_id"]
        # When the worker runs the job, and then the retry its message brings
        run_worker(aws)
        first = job_status(job_id)["json"]["webhook"]
        drain(aws)
        # Then the first attempt is recorded as failed and pending, the second delivered it, both with one id
        assert first["state"] == "pending" and first["attempts"] == 1
        assert first["last_error"] == "the receiver answered 503"
        assert [d.headers["webhook-id"] for d in receiver.deliveries] == [f"msg_{job_id}"] * 2
        assert all(isinstance(d.verified, dict) for d in receiver.deliveries)
        final = job_status(job_id)["json"]["webhook"]
        assert (final["state"], final["attempts"], final["last_error"]) == ("delivered", 2, None)


def test_a_delivery_that_keeps_failing_ends_failed_after_the_last_retry(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    # Given a receiver that always answers 500, and two retries configured
    with webhook_receiver(SECRET, statuses=[500] * 10) as receiver:
        job_id = tts_job({"text": "Hello.", "webhook_url": receiver.url})["json"]["job_id"]
        # When the worker has run everything the queue brings
        drain(aws)
        # Then three attempts were made, and the job's webhook failed (the job itself succeeded)
        assert len(receiver.deliveries) == 3
        status = job_status(job_id)["json"]
        assert status["status"] == "succeeded"
        assert status["webhook"]["state"] == "failed" and status["webhook"]["attempts"] == 3


def test_a_failed_job_is_delivered_too(aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None) -> None:
    # Given an upstream that refuses the key, and a job with a webhook
    fake_openai.api_key = "sk-another"
    with webhook_receiver(SECRET) as receiver:
        body = {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")}
        stt_job({"webhook_url": receiver.url}, body)
        # When the worker runs it
        drain(aws)
        # Then the delivery carries the failed job and its error
        [delivery] = receiver.deliveries
        assert delivery.verified["status"] == "failed"
        assert delivery.verified["error"]["code"] == "upstream_auth_failed"


def test_a_message_delivered_twice_posts_the_webhook_once(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    # Given a job with a webhook, already run and delivered
    with webhook_receiver(SECRET) as receiver:
        job_id = tts_job({"text": "Hello.", "webhook_url": receiver.url})["json"]["job_id"]
        drain(aws)
        # When its message comes again (SQS delivers at least once)
        event = {"Records": [{"messageId": "m1", "body": json.dumps({"job_id": job_id})}]}
        load_handler("worker").lambda_handler(event, FakeLambdaContext(remaining_ms=60_000))
        # Then the receiver got it once
        assert len(receiver.deliveries) == 1


def test_a_job_message_delivered_again_after_a_failed_attempt_does_not_post_again(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    # Given a job whose first delivery failed (its retry queued)
    with webhook_receiver(SECRET, statuses=[503]) as receiver:
        job_id = tts_job({"text": "Hello.", "webhook_url": receiver.url})["json"]["job_id"]
        run_worker(aws)
        assert len(receiver.deliveries) == 1
        # When the job's own message comes again, and then the queue is drained
        event = {"Records": [{"messageId": "m1", "body": json.dumps({"job_id": job_id})}]}
        load_handler("worker").lambda_handler(event, FakeLambdaContext(remaining_ms=60_000))
        after_duplicate = len(receiver.deliveries)
        drain(aws)
        # Then the duplicate posted nothing; only the queued retry did, once
        assert after_duplicate == 1
        assert len(receiver.deliveries) == 2
        assert job_status(job_id)["json"]["webhook"]["attempts"] == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "http://example.com/hook",
        "https://user@[::ffff:127.0.0.1]/",
    ],
)
def test_a_refused_webhook_url_is_a_400_and_no_job(
    aws: dict[str, str], fake_openai: FakeOpenAI, url: str
) -> None:
    # Given a webhook_url to a metadata, private or plain-http address (deployed: no loopback allowance)
    # When a speech job and a transcription job ask for it
    tts = tts_job({"text": "Hello.", "webhook_url": url})
    stt = stt_job({"webhook_url": url}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    # Then both are 400 url_not_allowed, and nothing was queued
    for answer in (tts, stt):
        assert answer["statusCode"] == 400 and answer["json"]["code"] == "url_not_allowed", answer["json"]
    assert run_worker(aws) == 0


def test_a_job_of_the_dead_letter_queue_is_failed_then_delivered(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    with webhook_receiver(SECRET) as receiver:
        # Given a job with a webhook whose messages ran out of retries
        job_id = tts_job({"text": "Hello.", "webhook_url": receiver.url})["json"]["job_id"]
        event = {"Records": [{"messageId": "m1", "body": json.dumps({"job_id": job_id})}]}
        # When the dead-letter handler fails it (its original message taken off the queue first)
        load_handler("worker").dead_letter_handler(event, FakeLambdaContext())
        drain(aws)
        # Then the failed job was delivered
        assert [d.verified["error"]["code"] for d in receiver.deliveries] == ["worker_failed"]


# --- audio_url -----------------------------------------------------------------------------------


def test_a_job_by_audio_url_is_fetched_by_the_worker_and_transcribed(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None
) -> None:
    # Given a recording served over HTTP (a link with a query, as a presigned one has)
    with file_server({"/episode.mp3": tone("mp3")}) as base:
        accepted = stt_job({"audio_url": f"{base}/episode.mp3?token=s3cr3t"})
        assert accepted["statusCode"] == 202, accepted["json"]
        # When the worker runs the job
        drain(aws)
    # Then the recording was transcribed, and its seconds were counted against the key's budget
    status = job_status(accepted["json"]["job_id"])["json"]
    assert status["status"] == "succeeded", status
    assert status["result"]["transcript"] == fake_openai.transcript
    assert fake_openai.requests[-1].file_bytes == tone("mp3")
    usage = invoke("jobs", api_event("GET", "/api/usage", content_type=None, api_key_id="key-a"))["json"]
    assert usage["day"]["audio_seconds"]["used"] >= 1


@pytest.mark.parametrize(
    ("path", "code", "detail"),
    [
        ("/missing.mp3?token=s3cr3t", "audio_url_failed", "audio_url: answered 404"),
        ("/page.html?token=s3cr3t", "unsupported_audio", "audio_url: what it answered is not audio"),
    ],
)
def test_an_audio_url_that_cannot_be_used_fails_the_job_with_a_code(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None, path: str, code: str, detail: str
) -> None:
    # Given a link that answers 404, or answers a web page
    with file_server({"/page.html": b"<!doctype html><html><body>Not found</body></html>"}) as base:
        job_id = stt_job({"audio_url": base + path})["json"]["job_id"]
        # When the worker runs the job
        drain(aws)
    # Then the job failed with a code and a message that quotes no URL, and nothing went upstream
    status = job_status(job_id)["json"]
    assert status["status"] == "failed" and status["error"]["code"] == code
    assert status["error"]["detail"].startswith(detail) and "s3cr3t" not in status["error"]["detail"]
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_an_audio_url_larger_than_the_upload_cap_fails_the_job(
    aws: dict[str, str], fake_openai: FakeOpenAI, outbound: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an upload cap of 1,000 bytes and a recording larger than it
    monkeypatch.setenv("MAX_UPLOAD_OBJECT_BYTES", "1000")
    get_settings.cache_clear()
    with file_server({"/long.mp3": tone("mp3")}) as base:
        job_id = stt_job({"audio_url": f"{base}/long.mp3"})["json"]["job_id"]
        # When the worker runs the job
        drain(aws)
    # Then the job failed saying so
    error = job_status(job_id)["json"]["error"]
    assert error["code"] == "audio_url_failed" and "larger than 1,000 bytes" in error["detail"]


@pytest.mark.parametrize(
    ("fields", "with_file"),
    [
        ({"audio_url": "https://example.com/a.mp3", "upload_id": "x" * 24}, False),
        ({"audio_url": "https://example.com/a.mp3"}, True),
    ],
)
def test_audio_url_with_a_file_or_an_upload_id_is_a_400(
    aws: dict[str, str], fields: dict[str, str], with_file: bool
) -> None:
    # Given an audio_url together with another source of audio
    files = {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")} if with_file else None
    # When the job is asked for
    answer = stt_job(fields, files)
    # Then it is a 400 that says to send one
    assert answer["statusCode"] == 400 and answer["json"]["code"] == "invalid_field"


def test_audio_url_is_refused_on_the_synchronous_route(aws: dict[str, str]) -> None:
    # Given POST /api/stt/ (no worker to fetch it)
    body = multipart_body({"audio_url": "https://example.com/a.mp3"}, {})
    # When audio_url is sent there
    answer = invoke("stt", with_api_key(stt_event(body, path="/api/stt/"), "key-a"))
    # Then it is an unknown field
    assert answer["statusCode"] == 400 and answer["json"]["code"] == "unknown_field"


def test_a_refused_audio_url_is_a_400(aws: dict[str, str]) -> None:
    # Given an audio_url to the metadata service (deployed: no loopback allowance)
    # When the job is asked for
    answer = stt_job({"audio_url": "https://169.254.169.254/latest/meta-data/iam"})
    # Then it is a 400 url_not_allowed and nothing was queued
    assert answer["statusCode"] == 400 and answer["json"]["code"] == "url_not_allowed"
    assert run_worker(aws) == 0
