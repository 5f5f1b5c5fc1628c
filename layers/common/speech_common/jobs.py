"""Transcription and speech jobs: a row in the jobs table, a message on the queue, a worker that does the work.

A job moves queued -> running -> succeeded | failed. It belongs to the API key that made it: another
key reading it gets the same 404 as an unknown id. A job is never left running: the worker holds a
lease (its timeout and a margin), and a job whose lease has run out reads as failed
(`worker_timeout`); a message the worker never finishes ends on the dead-letter queue, whose
handler marks the job failed (`worker_failed`).
boto3 is imported inside the functions.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from speech_common.core import (
    STT_FAILED,
    TTS_FAILED,
    SynthesisRequest,
    TranscriptionJob,
    refuse_longer_than,
    synthesize_long_text,
    transcribe,
)
from speech_common.deadline import Deadline
from speech_common.errors import NotFound, OperationFailed, SpeechError
from speech_common.parallel import built_once
from speech_common.settings import Settings
from speech_common.storage import (
    check_upload,
    delete_text,
    presign_result,
    read_job_result,
    read_text,
    read_upload,
    store_job_audio,
    store_job_result,
    store_text,
)
from speech_common.transcript_formats import TIMED_FORMATS, api_job_result

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
STT, TTS = "stt", "tts"
JOB_FAILED = "The job failed"
FAILED_BY_KIND = {STT: STT_FAILED, TTS: TTS_FAILED}
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


def create_stt_job(
    settings: Settings,
    owner: str,
    upload_id: str,
    model: str,
    language: str | None,
    *,
    prompt: str | None = None,
    response_format: str = "json",
) -> Job:
    """Record the job and queue it; the worker does the rest. The upload must exist and be the caller's."""
    _check_configured(settings)
    check_upload(settings, owner, upload_id)
    request: dict[str, Any] = {"upload_id": upload_id, "model": model, "language": language}
    if prompt is not None:
        request["prompt"] = prompt
    if response_format != "json":
        request["response_format"] = response_format
    return _create_job(settings, owner, STT, request)


def create_tts_job(settings: Settings, owner: str, request: SynthesisRequest) -> Job:
    """Keep the text in the bucket (it may be larger than a table item), record the job and queue it."""
    _check_configured(settings)
    text_id = store_text(settings, owner, request.text)
    spoken = {k: v for k, v in dataclasses.asdict(request).items() if k != "text"}
    return _create_job(settings, owner, TTS, {"text_id": text_id, **spoken})


def _check_configured(settings: Settings) -> None:
    if not settings.jobs_queue_url:
        raise OperationFailed("Jobs are not configured", code="jobs_not_configured")


def _create_job(settings: Settings, owner: str, kind: str, request: dict[str, Any]) -> Job:
    job_id = secrets.token_urlsafe(18)
    now = _now()
    _dynamodb().put_item(
        TableName=_table(settings),
        Item={
            "job_id": {"S": job_id},
            "kind": {"S": kind},
            "status": {"S": QUEUED},
            "owner": {"S": owner},
            "request": {"S": json.dumps(request)},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "ttl": {"N": str(int(time.time()) + settings.result_retention_days * 86_400)},
        },
    )
    try:
        _sqs().send_message(QueueUrl=settings.jobs_queue_url, MessageBody=json.dumps({"job_id": job_id}))
    except Exception as exc:  # not queued: it would stay queued forever
        fail_job(settings, job_id, "jobs_unavailable", f"{FAILED_BY_KIND[kind]}: the job could not be queued")
        raise OperationFailed("The job could not be queued; try again", code="jobs_unavailable") from exc
    return Job(job_id, kind, QUEUED, now, now)


def get_job(settings: Settings, owner: str, job_id: str) -> Job:
    item = _item(settings, job_id)
    if item is None or item.get("owner", {}).get("S") != owner or "kind" not in item or _expired(item):
        raise _unknown_job()
    job = _job_of(item)
    lease = item.get("lease_until", {}).get("N")
    if job.status == RUNNING and lease and time.time() > float(lease):
        # Final: a redelivered message finds the job failed and leaves it (no second, unasked-for run).
        fail_job(
            settings,
            job_id,
            "worker_timeout",
            f"{FAILED_BY_KIND.get(job.kind, JOB_FAILED)}: the worker did not finish in time",
            lease=lease,
        )
        return get_job(settings, owner, job_id)
    if job.status == SUCCEEDED and "result_key" in item:
        result = read_job_result(settings, item["result_key"]["S"])
        if result is None:  # expired: the bucket's rule came before the table's TTL
            raise _unknown_job()
        if "audio_key" in result:  # a link made now: it outlives the job's run by expires_in
            key = result.pop("audio_key")
            result = {
                "audio_url": presign_result(settings, key),
                "expires_in": settings.result_url_expires_seconds,
                **result,
            }
        job = dataclasses.replace(job, result=result)
    return job


def _unknown_job() -> NotFound:
    return NotFound("No such job (unknown, expired, or made with another API key)", code="unknown_job")


def _expired(item: dict[str, Any]) -> bool:
    """Past its TTL: DynamoDB deletes such rows within days, not at once."""
    ttl = item.get("ttl", {}).get("N")
    return ttl is not None and time.time() > float(ttl)


def run_job(settings: Settings, job_id: str, deadline: Deadline, lease_seconds: float) -> None:
    """The worker's work for one job; the job ends succeeded or failed, never running."""
    from botocore.exceptions import ClientError

    item = _item(settings, job_id)
    if item is None or item.get("status", {}).get("S") in (SUCCEEDED, FAILED):
        return  # unknown (expired), or already done by an earlier delivery
    try:
        _update(
            settings,
            job_id,
            RUNNING,
            lease_until=time.time() + lease_seconds + LEASE_MARGIN_SECONDS,
            only_from=(QUEUED, RUNNING),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return  # it ended meanwhile (failed by an expired lease, say)
        raise
    owner, request = item["owner"]["S"], json.loads(item["request"]["S"])
    work = _transcription if item["kind"]["S"] == STT else _speech
    try:
        result = work(settings, job_id, owner, request, deadline)
    except SpeechError as error:
        fail_job(settings, job_id, error.code, error.detail)
    else:
        _update(settings, job_id, SUCCEEDED, result_key=store_job_result(settings, job_id, result))
    # Only once the job has ended: a delivery that fails before that comes back and reads the text again.
    if "text_id" in request:
        delete_text(settings, request["text_id"])


def _transcription(
    settings: Settings, job_id: str, owner: str, request: dict[str, Any], deadline: Deadline
) -> dict[str, Any]:
    audio = read_upload(settings, owner, request["upload_id"])
    refuse_longer_than(audio, settings.job_max_audio_seconds, "a job takes")
    response_format = request.get("response_format", "json")
    job = TranscriptionJob(
        audio=audio,
        model=request["model"],
        language=request.get("language"),
        prompt=request.get("prompt"),
        timings=response_format in TIMED_FORMATS,
    )
    transcript, _route = transcribe(job, deadline)
    return api_job_result(transcript, response_format)


def _speech(
    settings: Settings, job_id: str, owner: str, request: dict[str, Any], deadline: Deadline
) -> dict[str, Any]:
    """The audio is written whole, once, after every piece is read: nothing half-made is ever linked."""
    text = read_text(settings, owner, request["text_id"])
    wanted = SynthesisRequest(text=text, **{k: v for k, v in request.items() if k != "text_id"})
    speech, _route, seconds = synthesize_long_text(wanted, deadline)
    audio_key = store_job_audio(settings, job_id, owner, speech.audio, speech.response_format)
    return {
        "audio_key": audio_key,
        "model": speech.model,
        "voice": speech.voice,
        "response_format": speech.response_format,
        "duration_seconds": round(seconds, 3),
    }


def fail_abandoned_job(settings: Settings, job_id: str) -> None:
    """Fail a job whose messages ran out of retries (the dead-letter queue's handler)."""
    item = _item(settings, job_id)
    failed = FAILED_BY_KIND.get(item["kind"]["S"], JOB_FAILED) if item and "kind" in item else JOB_FAILED
    fail_job(settings, job_id, "worker_failed", f"{failed}: the worker stopped before it finished")


def fail_job(settings: Settings, job_id: str, code: str, detail: str, *, lease: str | None = None) -> None:
    """Mark a job failed, unless it already succeeded (or, with `lease`, unless its lease changed)."""
    from botocore.exceptions import ClientError

    try:
        _update(
            settings, job_id, FAILED, error={"detail": detail, "code": code}, unless=SUCCEEDED, lease=lease
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def _update(
    settings: Settings,
    job_id: str,
    status: str,
    *,
    result_key: str | None = None,
    error: dict[str, str] | None = None,
    lease_until: float | None = None,
    unless: str | None = None,
    only_from: tuple[str, ...] = (),
    lease: str | None = None,
) -> None:
    names = {"#s": "status"}
    values: dict[str, Any] = {":s": {"S": status}, ":u": {"S": _now()}}
    sets = ["#s = :s", "updated_at = :u"]
    if result_key is not None:
        sets.append("result_key = :r")
        values[":r"] = {"S": result_key}
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
    if only_from:
        allowed = [f":from{i}" for i in range(len(only_from))]
        condition += f" AND #s IN ({', '.join(allowed)})"
        values.update({name: {"S": status} for name, status in zip(allowed, only_from, strict=True)})
    if lease is not None:
        condition += " AND lease_until = :lease"
        values[":lease"] = {"N": lease}
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
        result=None,
        error=loaded("error"),
    )


def _table(settings: Settings) -> str:
    if not settings.jobs_table:
        raise OperationFailed("Jobs are not configured", code="jobs_not_configured")
    return settings.jobs_table


def _dynamodb() -> Any:
    return _client("dynamodb")


def _sqs() -> Any:
    return _client("sqs")


@built_once()
def _client(service: str) -> Any:
    """One client per service per container, with timeouts a request can afford."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
    session: Any = boto3.session.Session()
    return session.client(service, config=config)
