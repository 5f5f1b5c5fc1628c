"""The jobs' data access: the DynamoDB JobStore and the SQS JobQueue, against moto in process."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from speech_common.jobs import FAILED, QUEUED, RUNNING, SUCCEEDED
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
