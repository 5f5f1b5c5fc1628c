"""GET /api/jobs/{job_id}: a job's state as the /api door answers it."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, Field

from speech_common.doors.api.models import ErrorBody
from speech_common.jobs import Job


class WebhookStatus(BaseModel):
    """A job's webhook delivery: pending until the receiver answered 2xx (delivered) or the retries ran out (failed)."""

    state: Literal["pending", "delivered", "failed"]
    attempts: int = Field(description="Deliveries tried so far")
    host: str = Field(description="The webhook_url's host (the URL itself is not shown)")
    last_error: str | None = Field(default=None, description="Why the last attempt failed, when it did")
    delivered_at: str | None = Field(default=None, description="When the receiver took it (UTC, ISO 8601)")


class JobProgress(BaseModel):
    """How far a job has got, in pieces: a recording's pieces heard, a text's pieces read."""

    done: int = Field(description="Pieces finished (a piece kept from an earlier run of the job counts)")
    total: int = Field(description="Pieces the work was cut into (a short recording is one)")


class JobStatus(BaseModel):
    """A job's state; `result` once it succeeded, `error` once it failed (both present, null until then)."""

    job_id: str = Field(description="The job's id, as POST /api/stt/jobs/ or /api/tts/jobs/ answered it")
    kind: Literal["stt", "tts"] = Field(description="stt: a transcription; tts: speech")
    status: Literal["queued", "running", "succeeded", "failed"] = Field(
        description="queued -> running -> succeeded | failed; a job is never left running"
    )
    result: dict[str, Any] | None = Field(
        default=None,
        description=(
            "stt: the transcript in the response_format asked ({transcript, model}, verbose_json's fields, or "
            "srt and vtt under subtitles); tts: {audio_url, expires_in, model, voice, response_format, "
            "duration_seconds}, a link made at each read"
        ),
    )
    error: ErrorBody | None = Field(
        default=None, description="Why it failed: {detail, code}, as an error answer"
    )
    webhook: WebhookStatus | None = Field(
        default=None, description="When a webhook_url was given: how its delivery goes (null otherwise)"
    )
    progress: JobProgress | None = Field(
        default=None,
        description="{done, total} pieces, once the work is cut (null until then); never goes back; done equals "
        "total once the job succeeded; kept as it stood when a job failed",
    )
    created_at: str = Field(description="When the job was made (UTC, ISO 8601, seconds)")
    updated_at: str = Field(description="When its status last changed (UTC, ISO 8601, seconds)")


def job_status_of(job: Job) -> JobStatus:
    return JobStatus.model_validate(dataclasses.asdict(job))
