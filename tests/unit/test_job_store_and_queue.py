"""The jobs' data access: the DynamoDB JobStore and the SQS JobQueue, against moto in process."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from speech_common.jobs import FAILED, QUEUED, RUNNING, SUCCEEDED
from speech_common.jobs.progress import ProgressWriter
from speech_common.jobs.queue import SqsJobQueue, sqs_client
from speech_common.jobs.store import DynamoDBJobStore, JobChange, StoredJob, dynamodb_client

TABLE = "jobs"
A_JOB = StoredJob(
    job_id="job-1",
    kind="stt",
    status=QUEUED,
    owner="key-a",
    request={"upload_id": "u1", "model": "whisper-1", "language": None},
    created_at="2026-12-05T10:00:00Z",
    updated_at="2026-12-05T10:00:00Z",
    expires_at=1_800_000_000,
)


@pytest.fixture
def aws() -> Iterator[Any]:
    """moto's DynamoDB and SQS, with the jobs table; the cached clients are built inside it."""
    with mock_aws():
        for client in (dynamodb_client, sqs_client):
            client.cache_clear()
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb
        for client in (dynamodb_client, sqs_client):
            client.cache_clear()


@pytest.fixture
def store(aws: Any) -> DynamoDBJobStore:
    return DynamoDBJobStore(TABLE)


def test_a_job_is_read_back_as_it_was_kept(store: DynamoDBJobStore) -> None:
    # Given a job kept with every field a later step writes
    job = dataclasses.replace(
        A_JOB,
        lease_until=1_700_000_000,
        result_key="results/job-1.json",
        error={"detail": "Transcription failed", "code": "upstream_auth_failed"},
        progress=(3, 7),
    )
    store.add(job)
    # When it is read / Then it is the same job, request and error parsed back
    assert store.get("job-1") == job


def test_a_row_that_is_not_a_job_reads_as_none(store: DynamoDBJobStore, aws: Any) -> None:
    # Given a row without a kind (the worker's idempotency records share the table)
    aws.put_item(TableName=TABLE, Item={"job_id": {"S": "worker#abc"}, "status": {"S": "COMPLETED"}})
    # When it and an id nobody made are read / Then neither is a job
    assert store.get("worker#abc") is None
    assert store.get("nosuchjob") is None


def test_a_change_applies_only_from_the_statuses_named(store: DynamoDBJobStore) -> None:
    # Given a queued job
    store.add(A_JOB)
    # When it is taken from queued, then marked succeeded only from queued
    taken = store.change("job-1", JobChange(RUNNING, "t1", lease_until=100), only_from=(QUEUED, RUNNING))
    refused = store.change("job-1", JobChange(SUCCEEDED, "t2", result_key="k"), only_from=(QUEUED,))
    # Then the first applied and the second left the job as the first made it
    assert (taken, refused) == (True, False)
    job = store.get("job-1")
    assert job is not None
    assert (job.status, job.updated_at, job.lease_until, job.result_key) == (RUNNING, "t1", 100, None)


def test_a_change_brings_only_its_own_attributes(store: DynamoDBJobStore) -> None:
    # Given a job that failed with an error
    store.add(A_JOB)
    store.change("job-1", JobChange(FAILED, "t1", error={"detail": "gone", "code": "worker_failed"}))
    # When a later change names only its status and result
    store.change("job-1", JobChange(SUCCEEDED, "t2", result_key="results/job-1.json"))
    # Then what it did not name is kept
    job = store.get("job-1")
    assert job is not None and job.error == {"detail": "gone", "code": "worker_failed"}
    assert (job.status, job.result_key, job.owner, job.request) == (
        SUCCEEDED,
        "results/job-1.json",
        "key-a",
        A_JOB.request,
    )


def test_a_change_with_a_lease_applies_only_while_the_lease_is_that_one(store: DynamoDBJobStore) -> None:
    # Given a running job whose lease was renewed (a second delivery took it)
    store.add(A_JOB)
    store.change("job-1", JobChange(RUNNING, "t1", lease_until=100))
    store.change("job-1", JobChange(RUNNING, "t2", lease_until=200))
    failed = JobChange(FAILED, "t3", error={"detail": "late", "code": "worker_timeout"})
    # When it is failed for the old lease, then for the current one
    old, current = (store.change("job-1", failed, if_lease_until=lease) for lease in (100, 200))
    # Then only the current lease's change applied
    assert (old, current) == (False, True)


def test_a_change_never_makes_a_job(store: DynamoDBJobStore, aws: Any) -> None:
    # Given no job / When one is changed
    applied = store.change("nosuchjob", JobChange(FAILED, "t1", error={"detail": "x", "code": "y"}))
    # Then nothing applied and no row appeared
    assert applied is False
    assert aws.scan(TableName=TABLE)["Items"] == []


def test_a_sent_job_is_a_message_with_its_id(aws: Any) -> None:
    # Given a queue
    queue_url = boto3.client("sqs").create_queue(QueueName="jobs")["QueueUrl"]
    # When a job is sent
    SqsJobQueue(queue_url).send("job-1")
    # Then the worker receives its id
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"job_id": "job-1"}]


def test_a_queue_that_does_not_take_the_job_raises(aws: Any) -> None:
    # Given a queue that does not exist
    queue_url = boto3.client("sqs").create_queue(QueueName="jobs")["QueueUrl"] + "-gone"
    # When a job is sent to it / Then the send raises (the service then fails the job)
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        SqsJobQueue(queue_url).send("job-1")


def test_progress_moves_only_forward_and_only_while_the_job_runs(store: DynamoDBJobStore) -> None:
    # Given a running job
    store.add(A_JOB)
    store.change("job-1", JobChange(RUNNING, "t1", lease_until=100))
    # When progress is written 0, 5, then 3 (a late writer), then 5 again (a resumed run catching up)
    written = [store.advance("job-1", done, 15) for done in (0, 5, 3, 5)]
    # Then only the forward writes applied, and the job reads 5 of 15
    assert written == [True, True, False, False]
    job = store.get("job-1")
    assert job is not None and job.progress == (5, 15)
    # And once the job has ended, no progress is written to it, and none to a job that does not exist
    store.change("job-1", JobChange(SUCCEEDED, "t2", result_key="k"))
    assert store.advance("job-1", 15, 15) is False
    assert store.advance("nosuchjob", 1, 2) is False


def test_a_queued_job_has_no_progress(store: DynamoDBJobStore) -> None:
    # Given a queued job (its work not yet cut) / When progress is written to it
    store.add(A_JOB)
    applied = store.advance("job-1", 0, 3)
    # Then it is not: only a running job has pieces
    job = store.get("job-1")
    assert applied is False and job is not None and job.progress is None


@pytest.fixture
def updates(store: DynamoDBJobStore) -> Iterator[list[dict[str, Any]]]:
    """The UpdateItem calls the DynamoDB client makes, as sent (botocore's own event hook)."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    events = dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", record)
    yield sent
    events.unregister("provide-client-params.dynamodb.UpdateItem", record)


def running_job(store: DynamoDBJobStore) -> None:
    store.add(A_JOB)
    store.change("job-1", JobChange(RUNNING, "t1", lease_until=100))


def test_progress_of_pieces_finishing_together_is_written_once_a_second_then_its_latest(
    store: DynamoDBJobStore, updates: list[dict[str, Any]]
) -> None:
    # Given a running job whose work was cut into 10 pieces
    running_job(store)
    updates.clear()
    with ProgressWriter(store, "job-1", every=0.5) as progress:
        # When the count starts, then 6 pieces finish at once (from parallel threads)
        progress(0, 10)
        threads = [threading.Thread(target=progress, args=(done, 10)) for done in range(1, 7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then the start is written at once, the pieces not yet
        assert len(updates) == 1
        # And once the time is up, the latest count is written once
        time.sleep(0.8)
        assert len(updates) == 2
        job = store.get("job-1")
        assert job is not None and job.progress == (6, 10)
        # And the last piece is written at once, without waiting
        progress(10, 10)
        job = store.get("job-1")
        assert len(updates) == 3 and job is not None and job.progress == (10, 10)


def test_a_count_told_late_or_after_the_end_writes_nothing(
    store: DynamoDBJobStore, updates: list[dict[str, Any]]
) -> None:
    # Given a running job's count at 4 of 10
    running_job(store)
    progress = ProgressWriter(store, "job-1", every=0.2)
    progress(0, 10)
    time.sleep(0.3)
    progress(4, 10)
    updates.clear()
    # When a count of 3 arrives late, then a count of 5 comes after the work ended (the writer closed)
    progress(3, 10)
    progress.close()
    progress(5, 10)
    time.sleep(0.3)
    # Then nothing was written: the row still says 4 of 10
    job = store.get("job-1")
    assert updates == [] and job is not None and job.progress == (4, 10)


def test_a_progress_write_that_fails_does_not_fail_the_work(aws: Any) -> None:
    # Given a writer for a table that does not exist (DynamoDB refuses every write)
    progress = ProgressWriter(DynamoDBJobStore("no-such-table"), "job-1")
    # When counts are told / Then they are logged and dropped, not raised into the pieces' threads
    progress(0, 2)
    progress(2, 2)
    progress.close()
