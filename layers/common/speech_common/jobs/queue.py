"""How jobs reach the worker: the `JobQueue` the job service sends through, and its SQS queue.

A message is `{"job_id": ...}` (a job to run), or `{"job_id": ..., "webhook_attempt": n}` (its webhook to deliver,
sent with a delay for a retry); the worker (functions/worker/app.py) reads the job itself from the store.
boto3 is imported when the first client is built.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from speech_common.parallel import built_once


class JobQueue(Protocol):
    def send(self, job_id: str) -> None:
        """Hand the job to a worker; raises when the queue did not take it."""
        ...


class SqsJobQueue:
    """The jobs queue (JOBS_QUEUE_URL), drained by the worker function."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, job_id: str) -> None:
        sqs_client().send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"job_id": job_id}))

    def send_webhook_attempt(self, job_id: str, attempt: int, delay_seconds: int) -> None:
        """The job's webhook, to be delivered (attempt `attempt`) by a worker in `delay_seconds` (at most 900)."""
        body = json.dumps({"job_id": job_id, "webhook_attempt": attempt})
        sqs_client().send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay_seconds)


@built_once()
def sqs_client() -> Any:
    """One SQS client per container, with timeouts a request can afford."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
    return boto3.session.Session().client("sqs", config=config)
