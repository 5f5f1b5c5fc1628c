"""Transcription jobs: a row in the jobs table, a message on the queue, a worker that does the work.

A job moves queued -> running -> succeeded | failed. It belongs to the API key that made it: another
key reading it gets the same 404 as an unknown id. A job is never left running: the worker holds a
lease (its timeout and a margin), and a job whose lease has run out reads as failed
(`worker_timeout`); a message the worker never finishes ends on the dead-letter queue, whose
handler marks the job failed (`worker_failed`).
boto3 is imported inside the functions.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from speech_common.core import STT_FAILED, TranscriptionJob, transcribe
from speech_common.deadline import Deadline
from speech_common.errors import NotFound, OperationFailed, SpeechError
from speech_common.settings import Settings
from speech_common.storage import read_upload

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
LEASE_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    status: str
    created_at: str
    updated_at: str
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def public(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def create_stt_job(settings: Settings, owner: str, upload_id: str, model: str, language: str | None) -> Job:
    """Record the job and queue it; the worker does the rest."""
    job_id = secrets.token_urlsafe(18)
    now = _now()
    request = {"upload_id": upload_id, "model": model, "language": language}
    _dynamodb().put_item(
        TableName=_table(settings),
        Item={
            "job_id": {"S": job_id},
            "kind": {"S": "stt"},
            "status": {"S": QUEUED},
            "owner": {"S": owner},
            "request": {"S": json.dumps(request)},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "ttl": {"N": str(int(time.time()) + settings.result_retention_days * 86_400)},
        },
    )
    if not settings.jobs_queue_url:
        raise OperationFailed("Jobs are not configured", code="jobs_not_configured")
    _sqs().send_message(QueueUrl=settings.jobs_queue_url, MessageBody=json.dumps({"job_id": job_id}))
    return Job(job_id, "stt", QUEUED, now, now)


def get_job(settings: Settings, owner: str, job_id: str) -> Job:
    item = _item(settings, job_id)
    if item is None or item.get("owner", {}).get("S") != owner or "kind" not in item:
        raise NotFound("No such job (unknown, expired, or made with another API key)", code="unknown_job")
    job = _job_of(item)
    lease = float(item.get("lease_until", {}).get("N", "0") or 0)
    if job.status == RUNNING and lease and time.time() > lease:
        fail_job(settings, job_id, "worker_timeout", f"{STT_FAILED}: the worker did not finish in time")
        return get_job(settings, owner, job_id)
    return job


def run_stt_job(settings: Settings, job_id: str, deadline: Deadline, lease_seconds: float) -> None:
    """The worker's work for one job; the job ends succeeded or failed, never running."""
    item = _item(settings, job_id)
    if item is None or item.get("status", {}).get("S") in (SUCCEEDED, FAILED):
        return  # unknown (expired), or already done by an earlier delivery
    owner = item["owner"]["S"]
    request = json.loads(item["request"]["S"])
    _update(settings, job_id, RUNNING, lease_until=time.time() + lease_seconds + LEASE_MARGIN_SECONDS)
    try:
        audio = read_upload(settings, owner, request["upload_id"])
        transcript, _route = transcribe(
            TranscriptionJob(audio=audio, model=request["model"], language=request.get("language")), deadline
        )
    except SpeechError as error:
        fail_job(settings, job_id, error.code, error.detail)
        return
    _update(settings, job_id, SUCCEEDED, result={"transcript": transcript.text, "model": transcript.model})


def fail_job(settings: Settings, job_id: str, code: str, detail: str) -> None:
    """Mark a job failed, unless it already succeeded."""
    from botocore.exceptions import ClientError

    try:
        _update(settings, job_id, FAILED, error={"detail": detail, "code": code}, unless=SUCCEEDED)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def _update(
    settings: Settings,
    job_id: str,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
    lease_until: float | None = None,
    unless: str | None = None,
) -> None:
    names = {"#s": "status"}
    values: dict[str, Any] = {":s": {"S": status}, ":u": {"S": _now()}}
    sets = ["#s = :s", "updated_at = :u"]
    if result is not None:
        sets.append("#r = :r")
        names["#r"] = "result"
        values[":r"] = {"S": json.dumps(result)}
    if error is not None:
        sets.append("#e = :e")
        names["#e"] = "error"
        values[":e"] = {"S": json.dumps(error)}
    if lease_until is not None:
        sets.append("lease_until = :l")
        values[":l"] = {"N": str(int(lease_until))}
    condition = "attribute_exists(job_id)"
    if unless is not None:
        condition += " AND #s <> :unless"
        values[":unless"] = {"S": unless}
    _dynamodb().update_item(
        TableName=_table(settings),
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET " + ", ".join(sets),
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _item(settings: Settings, job_id: str) -> dict[str, Any] | None:
    if not job_id or len(job_id) > 64:
        return None
    item: dict[str, Any] | None = (
        _dynamodb()
        .get_item(TableName=_table(settings), Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def _job_of(item: dict[str, Any]) -> Job:
    def loaded(name: str) -> Any:
        value = item.get(name, {}).get("S")
        return json.loads(value) if value else None

    return Job(
        job_id=item["job_id"]["S"],
        kind=item["kind"]["S"],
        status=item["status"]["S"],
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        result=loaded("result"),
        error=loaded("error"),
    )


def _table(settings: Settings) -> str:
    if not settings.jobs_table:
        raise OperationFailed("Jobs are not configured", code="jobs_not_configured")
    return settings.jobs_table


@cache
def _dynamodb() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
    return boto3.session.Session().client("dynamodb", config=config)


@cache
def _sqs() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
    return boto3.session.Session().client("sqs", config=config)
