"""A job whose worker dies mid-run: delivered again within JOB_RETRY_SECONDS, resumed from the pieces already heard
(none paid twice), failed with its reason once the deliveries are spent. Against moto's S3, DynamoDB and SQS; the
fake OpenAI's log is what the upstream was asked."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
import pytest

from speech_common import storage, stt_pieces
from speech_common.audio import AudioUpload
from speech_common.jobs.store import DynamoDBJobStore
from speech_common.settings import get_settings
from speech_common.transcode import encode_pcm
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    FakeLambdaContext,
    invoke,
    job_status,
    load_handler,
    multipart_body,
    stt_event,
    with_api_key,
)
from tests.tone_speech import RATE, WORDS, hear, recording

RETRY_SECONDS = 2
WORD_COUNT = 1000  # twenty minutes: more than one 600 s piece, so one call at a time reads several


class WorkerKilled(BaseException):
    """What Lambda's kill looks like to the job: nothing after it runs (not an Exception: nothing catches it)."""


@cache
def long_recording() -> tuple[bytes, str]:
    words = [WORDS[(i * 7) % len(WORDS)] for i in range(WORD_COUNT)]
    return encode_pcm(recording(words), sample_rate=RATE, fmt="mp3"), " ".join(words)


@pytest.fixture
def jobs(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The jobs queue with a dead-letter queue after `max_receives`; one upstream call at a time (a kill then
    falls between pieces, never in one); the message held RETRY_SECONDS at a time."""
    sqs = boto3.session.Session().client("sqs")
    dead_url = sqs.create_queue(QueueName=f"dead-{aws['table']}")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2})
    sqs.set_queue_attributes(QueueUrl=aws["queue_url"], Attributes={"RedrivePolicy": redrive})
    monkeypatch.setenv("JOB_RETRY_SECONDS", str(RETRY_SECONDS))
    monkeypatch.setenv("STT_PARALLEL_CALLS", "1")
    get_settings.cache_clear()
    fake_openai.transcriber = hear
    yield {**aws, "dead_url": dead_url}


def submit_long_job() -> str:
    """The recording uploaded (as a presigned POST leaves it) and sent as a job by its upload_id."""
    audio, _ = long_recording()
    upload_id = storage.store_upload(get_settings(), "key-a", AudioUpload(data=audio, format="mp3"))
    body = multipart_body({"upload_id": upload_id})
    accepted = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))
    assert accepted["statusCode"] == 202, accepted["json"]
    return str(accepted["json"]["job_id"])


def receive(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.session.Session().client("sqs")
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
        "Messages", []
    )


def deliver(messages: list[dict[str, Any]], handler: str = "lambda_handler") -> None:
    """As Lambda's event source mapping does: the records, their receipt handles, and the message deleted when
    the invocation succeeds."""
    records = [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
        for m in messages
    ]
    getattr(load_handler("worker"), handler)({"Records": records}, FakeLambdaContext(remaining_ms=300_000))


@contextmanager
def killed_after_pieces(kept: int) -> Iterator[None]:
    """Within: the worker dies right after its `kept`-th piece was heard and kept."""
    real = stt_pieces.keep_piece
    count = 0

    def keep_then_die(*args: Any) -> None:
        nonlocal count
        real(*args)
        count += 1
        if count == kept:
            raise WorkerKilled()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stt_pieces, "keep_piece", keep_then_die)
        yield


def piece_calls(fake_openai: FakeOpenAI) -> list[str]:
    """The hash of each piece the upstream was sent, in order."""
    return [
        hashlib.sha256(r.file_bytes or b"").hexdigest()
        for r in fake_openai.requests
        if r.path == "/v1/audio/transcriptions"
    ]


def test_a_job_whose_worker_died_is_delivered_again_soon_and_pays_no_piece_twice(
    jobs: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a twenty-minute recording's job, whose worker dies after its first piece was paid for
    job_id = submit_long_job()
    (first,) = receive(jobs["queue_url"])
    with killed_after_pieces(1), pytest.raises(WorkerKilled):
        deliver([first])
    assert len(piece_calls(fake_openai)) == 1
    assert job_status(job_id)["json"]["status"] == "running"
    # When its message comes back (after the worker's hold, not the queue's long timeout) and is delivered
    assert receive(jobs["queue_url"]) == []
    time.sleep(RETRY_SECONDS + 0.5)
    (again,) = receive(jobs["queue_url"])
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    deliver([again])
    # Then the job succeeded with every word in order
    status = job_status(job_id)["json"]
    assert status["status"] == "succeeded", status
    assert status["result"]["transcript"] == long_recording()[1]
    # And the upstream was asked for each piece exactly once over both runs
    calls = piece_calls(fake_openai)
    assert len(calls) >= 2 and len(set(calls)) == len(calls)


def test_a_job_whose_worker_dies_on_its_last_delivery_fails_saying_why(
    jobs: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a job whose worker dies on each of its two allowed deliveries
    job_id = submit_long_job()
    for _ in range(2):
        (message,) = receive(jobs["queue_url"])
        with killed_after_pieces(1), pytest.raises(WorkerKilled):
            deliver([message])
        time.sleep(RETRY_SECONDS + 0.5)
    # When SQS moves its message to the dead-letter queue and the dead-letter handler takes it
    assert receive(jobs["queue_url"]) == []
    deliver(receive(jobs["dead_url"]), handler="dead_letter_handler")
    # Then the job failed, saying that the worker stopped short each time and that sending it again resumes it
    error = job_status(job_id)["json"]["error"]
    assert error["code"] == "worker_timeout"
    assert "stopped before it finished on every delivery" in error["detail"]
    assert "sent again resumes" in error["detail"]
    # And the second run paid only for a piece the first had not heard
    calls = piece_calls(fake_openai)
    assert len(calls) == 2 and len(set(calls)) == 2


def test_a_working_worker_keeps_its_message_hidden_and_its_lease_renewed(
    jobs: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a job whose one upstream call takes three times the hold
    body_job = submit_long_job()
    fake_openai.transcriber = lambda data: (time.sleep(RETRY_SECONDS * 3), hear(data))[1]
    # (a queue whose own timeout is shorter than the hold: only the worker keeps the message hidden)
    sqs = boto3.session.Session().client("sqs")
    sqs.set_queue_attributes(QueueUrl=jobs["queue_url"], Attributes={"VisibilityTimeout": "1"})
    (message,) = receive(jobs["queue_url"])
    # When the worker runs it
    worker = threading.Thread(target=deliver, args=([message],))
    worker.start()
    time.sleep(RETRY_SECONDS * 2)
    # Then meanwhile the message stays hidden (past the hold it first set) and the lease moves on
    assert receive(jobs["queue_url"]) == []
    lease_then = DynamoDBJobStore(jobs["table"]).get(body_job).lease_until  # type: ignore[union-attr]
    time.sleep(RETRY_SECONDS)
    lease_later = DynamoDBJobStore(jobs["table"]).get(body_job).lease_until  # type: ignore[union-attr]
    assert lease_then is not None and lease_later is not None and lease_later > lease_then
    worker.join(timeout=120)
    assert job_status(body_job)["json"]["status"] == "succeeded"


def test_two_deliveries_at_once_run_the_job_once(jobs: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a job whose message SQS delivers twice at the same time
    job_id = submit_long_job()
    fake_openai.transcriber = lambda data: (time.sleep(0.5), hear(data))[1]
    (message,) = receive(jobs["queue_url"])
    # When two workers take it together
    workers = [threading.Thread(target=deliver, args=([message],)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    # Then it succeeded, and the upstream heard each piece once (the second waited for the first's lease)
    assert job_status(job_id)["json"]["status"] == "succeeded"
    calls = piece_calls(fake_openai)
    assert len(calls) >= 2 and len(set(calls)) == len(calls)
