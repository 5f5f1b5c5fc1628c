"""Transcription and speech jobs: the state machine, over a `JobStore` (the table) and a `JobQueue` (the
worker's queue); the work itself is the core's, its inputs and results are in the bucket (`storage`).

A job moves queued -> running -> succeeded | failed. It belongs to the API key that made it: another
key reading it gets the same 404 as an unknown id. A worker runs a job under a short lease (JOB_RETRY_SECONDS)
that it renews while it works, as it keeps the job's message hidden for as long: a worker that dies (out of
memory, out of time) lets both run out within that time, and the message's next delivery resumes the job, its
finished pieces read back rather than paid again (core, stt_pieces, the speech cache). A delivery that finds
another's live lease waits for it to end (SQS delivers at least once), so no job is run twice at once. A job is
never left running: a message whose deliveries all stopped short ends on the dead-letter queue, whose handler
marks the job failed and says why. Each door shapes its own answer from a `Job`.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from speech_common import budgets
from speech_common.audio import AudioUpload
from speech_common.budgets import Reservation
from speech_common.core import (
    STT_FAILED,
    TTS_FAILED,
    SynthesisRequest,
    TranscriptionJob,
    measured,
    synthesize_long_text,
    transcribe,
)
from speech_common.deadline import Deadline
from speech_common.error_codes import ErrorCode
from speech_common.errors import NotFound, OperationFailed, SpeechError
from speech_common.jobs.progress import ProgressWriter
from speech_common.jobs.queue import JobQueue, SqsJobQueue
from speech_common.jobs.store import DynamoDBJobStore, JobChange, JobStore, StoredJob
from speech_common.observability import logger
from speech_common.settings import Settings
from speech_common.storage import (
    check_upload,
    delete_text,
    download_upload,
    presign_result,
    read_job_result,
    read_text,
    read_upload,
    store_job_audio,
    store_job_result,
    store_text,
)
from speech_common.transcript_formats import api_job_result, needs_timings

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
STT, TTS = "stt", "tts"
JOB_FAILED = "The job failed"
FAILED_BY_KIND = {STT: STT_FAILED, TTS: TTS_FAILED}
# A lease is renewed this many times within its length: one renewal lost (a slow call) does not lose it.
RENEWALS_PER_LEASE = 3
# How often a delivery that found another's live lease looks again, at most.
LEASE_POLL_SECONDS = 5.0
MAX_JOB_ID_CHARS = 64  # ours are 24; a longer id is nobody's and is not looked up
JOB_TAKES = "a job takes"


@dataclass(frozen=True)
class Job:
    """A job as its owner may see it."""

    job_id: str
    kind: str
    status: str
    created_at: str
    updated_at: str
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    webhook: dict[str, Any] | None = (
        None  # when a webhook_url was given: its delivery's state (jobs/webhooks.py)
    )
    progress: dict[str, int] | None = None  # {"done", "total"}: pieces, once the work is cut


def create_stt_job(
    settings: Settings,
    owner: str,
    upload_id: str,
    model: str,
    language: str | None,
    *,
    prompt: str | None = None,
    response_format: str = "json",
    budget: Reservation | None = None,
    webhook_url: str | None = None,
    diarize: bool = False,
) -> Job:
    """Record the job and queue it; the worker does the rest. The upload must exist and be the caller's. `budget`:
    what was reserved for it at submission (the worker gives it back if the upstream is never paid)."""
    queue = _queue(settings)
    check_upload(settings, owner, upload_id)
    request = _stt_request({"upload_id": upload_id}, model, language, prompt, response_format, diarize)
    if budget is not None:
        request["budget"] = budget.as_record()
    return _create_job(settings, queue, owner, STT, request, webhook_url=webhook_url)


def create_stt_job_from_url(
    settings: Settings,
    owner: str,
    audio_url: str,
    model: str,
    language: str | None,
    *,
    prompt: str | None = None,
    response_format: str = "json",
    webhook_url: str | None = None,
    diarize: bool = False,
) -> Job:
    """A transcription job whose worker fetches its audio from `audio_url` (checked now by outbound's rules, and
    again when fetched); its seconds are reserved by the worker once it has measured them."""
    from speech_common.outbound import check_url

    queue = _queue(settings)
    check_url(audio_url, allow_loopback=settings.outbound_allow_loopback)
    request = _stt_request({"audio_url": audio_url}, model, language, prompt, response_format, diarize)
    return _create_job(settings, queue, owner, STT, request, webhook_url=webhook_url)


def _stt_request(
    audio: dict[str, Any],
    model: str,
    language: str | None,
    prompt: str | None,
    response_format: str,
    diarize: bool,
) -> dict[str, Any]:
    """A transcription job's request as the worker reads it: where its audio is, and only the fields asked for."""
    request: dict[str, Any] = {**audio, "model": model, "language": language}
    if prompt is not None:
        request["prompt"] = prompt
    if response_format != "json":
        request["response_format"] = response_format
    if diarize:
        request["diarize"] = True
    return request


# Kept from the submission's deadline for what follows the count: the reservation, the job's row and message.
SUBMISSION_RESERVE_SECONDS = 3.0


def measure_upload(settings: Settings, owner: str, upload_id: str, deadline: Deadline) -> float | None:
    """An upload's length in seconds, counted at submission up to the job cap: 400 audio_too_long past it, 400
    unsupported_audio when it is not audio. Downloaded to a temporary file (deleted after), not into memory.
    None when the count cannot finish before `deadline` (less SUBMISSION_RESERVE_SECONDS) or the disk has no room:
    the worker measures it then, and reserves its seconds."""
    import tempfile

    from speech_common.core import counted_seconds
    from speech_common.transcode import OutOfTime

    room = deadline.remaining() - SUBMISSION_RESERVE_SECONDS
    if room <= 0:
        return None
    give_up_at = time.monotonic() + room
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        path = f"{folder}/audio"
        if not download_upload(settings, owner, upload_id, path, give_up_at=give_up_at):
            logger.info("an upload was not measured at submission: the worker will")
            return None
        try:
            return counted_seconds(path, settings.job_max_audio_seconds, JOB_TAKES, give_up_at=give_up_at)
        except OutOfTime:
            logger.info("an upload was not measured at submission in time: the worker will")
            return None


def create_tts_job(
    settings: Settings,
    owner: str,
    request: SynthesisRequest,
    *,
    budget: Reservation | None = None,
    webhook_url: str | None = None,
) -> Job:
    """Keep the text in the bucket (it may be larger than a table item), record the job and queue it."""
    queue = _queue(settings)
    text_id = store_text(settings, owner, request.text)
    # The owner is the job's own (its row's): not kept twice.
    spoken = {k: v for k, v in dataclasses.asdict(request).items() if k not in ("text", "owner")}
    kept = {"budget": budget.as_record()} if budget is not None else {}
    return _create_job(
        settings, queue, owner, TTS, {"text_id": text_id, **spoken, **kept}, webhook_url=webhook_url
    )


def _create_job(
    settings: Settings,
    queue: JobQueue,
    owner: str,
    kind: str,
    request: dict[str, Any],
    *,
    webhook_url: str | None = None,
) -> Job:
    webhook = _webhook_of(settings, request, webhook_url)
    store = _store(settings)
    job_id = secrets.token_urlsafe(18)
    now = _now()
    expires_at = int(time.time()) + settings.result_retention_days * 86_400
    store.add(StoredJob(job_id, kind, QUEUED, owner, request, now, now, expires_at, webhook=webhook))
    try:
        queue.send(job_id)
    except Exception as exc:  # not queued: it would stay queued forever
        _fail(
            store, job_id, ErrorCode.JOBS_UNAVAILABLE, f"{FAILED_BY_KIND[kind]}: the job could not be queued"
        )
        raise OperationFailed(
            "The job could not be queued; try again", code=ErrorCode.JOBS_UNAVAILABLE
        ) from exc
    return Job(job_id, kind, QUEUED, now, now, webhook=webhook)


def _webhook_of(
    settings: Settings, request: dict[str, Any], webhook_url: str | None
) -> dict[str, Any] | None:
    """The job's webhook as it starts (its URL checked now by outbound's rules, kept in the request, never shown
    beyond its host); None without one."""
    if webhook_url is None:
        return None
    from speech_common.outbound import check_url

    target = check_url(webhook_url, allow_loopback=settings.outbound_allow_loopback)
    request["webhook_url"] = webhook_url
    return {"state": "pending", "attempts": 0, "host": target.host}


def get_job(settings: Settings, owner: str, job_id: str) -> Job:
    store = _store(settings)
    stored = _stored(store, job_id)
    if stored is None or stored.owner != owner or time.time() > stored.expires_at:
        # Past its TTL the row is still there for a while (DynamoDB deletes within days), but gone to its owner.
        raise _unknown_job()
    # A running job whose lease ran out is not failed here: its message's next delivery resumes it, and the
    # dead-letter handler fails it once the deliveries are spent.
    result = None
    if stored.status == SUCCEEDED and stored.result_key is not None:
        result = _result(settings, stored.result_key)
    return Job(
        job_id=stored.job_id,
        kind=stored.kind,
        status=stored.status,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
        result=result,
        error=stored.error,
        webhook=stored.webhook,
        progress=_progress(stored),
    )


def _progress(stored: StoredJob) -> dict[str, int] | None:
    """The pieces done of the pieces cut; all of them once it succeeded (the last count may not have been written
    when the job ended)."""
    if stored.progress is None:
        return None
    done, total = stored.progress
    return {"done": total if stored.status == SUCCEEDED else min(done, total), "total": total}


def _result(settings: Settings, result_key: str) -> dict[str, Any]:
    result = read_job_result(settings, result_key)
    if result is None:  # expired: the bucket's rule came before the table's TTL
        raise _unknown_job()
    if "audio_key" in result:  # a link made now: it outlives the job's run by expires_in
        key = result.pop("audio_key")
        result = {
            "audio_url": presign_result(settings, key),
            "expires_in": settings.result_url_expires_seconds,
            **result,
        }
    return result


def _unknown_job() -> NotFound:
    return NotFound(
        "No such job (unknown, expired, or made with another API key)", code=ErrorCode.UNKNOWN_JOB
    )


class JobBusy(RuntimeError):
    """Another delivery held the job's lease for as long as this one could wait: the message is left to come back."""


def run_job(
    settings: Settings,
    job_id: str,
    deadline: Deadline,
    lease_seconds: float,
    hold_message: Callable[[], None] | None = None,
) -> None:
    """The worker's work for one job; the job ends succeeded or failed, never running.

    The job is taken under a lease of `lease_seconds`, renewed (with `hold_message`, which keeps the job's
    message hidden for as long) while the work goes on. A job another delivery holds is waited for: taken once
    that lease has run out (its worker died: this run resumes it), left once it has ended; JobBusy when the
    deadline comes first."""
    store = _store(settings)
    stored = _taken(store, job_id, deadline, lease_seconds, hold_message)
    if stored is None:
        return  # unknown (expired), or done by an earlier or another delivery
    work = _transcription if stored.kind == STT else _speech
    with _Renewal(store, job_id, stored.lease_until or 0, lease_seconds, hold_message):
        try:
            result = work(settings, job_id, stored.owner, stored.request, deadline)
        except SpeechError as error:
            if budgets.unpaid(error):  # what was reserved at submission, for work the upstream never did
                reserved = Reservation.from_record(stored.request.get("budget"))
                budgets.give_back(settings, reserved, token=job_id)  # less what a run before gave back
            _fail(store, job_id, error.code, error.detail)
        else:
            # From any status: a worker that lost its lease (or was failed meanwhile) keeps its result, not loses it.
            store.change(
                job_id, JobChange(SUCCEEDED, _now(), result_key=store_job_result(settings, job_id, result))
            )
    # Only once the job has ended: a delivery that fails before that comes back and reads the text again.
    if "text_id" in stored.request:
        delete_text(settings, stored.request["text_id"])


def _taken(
    store: JobStore,
    job_id: str,
    deadline: Deadline,
    lease_seconds: float,
    hold_message: Callable[[], None] | None,
) -> StoredJob | None:
    """The job, taken under a new lease (queued, or running under a lease that has run out); None once ended."""
    while True:
        stored = _stored(store, job_id)
        if stored is None or stored.status in (SUCCEEDED, FAILED):
            return None
        _hold(
            hold_message
        )  # before taking it: a message still under the queue's long timeout is ours from now
        now = int(time.time())
        lease_until = now + int(lease_seconds)
        taken = store.change(
            job_id,
            JobChange(RUNNING, _now(), lease_until=lease_until),
            only_from=(QUEUED, RUNNING),
            if_lease_ended_by=now,
        )
        if taken:
            if stored.status == RUNNING:
                logger.info("job resumed: its last worker stopped before it finished")
            return dataclasses.replace(stored, status=RUNNING, lease_until=lease_until)
        wait = min(max((stored.lease_until or now) - now, 0) + 1, LEASE_POLL_SECONDS)
        if deadline.remaining() < wait:
            raise JobBusy("another delivery holds the job")
        time.sleep(wait)


def _hold(hold_message: Callable[[], None] | None) -> None:
    if hold_message is None:
        return
    try:
        hold_message()
    except Exception as exc:  # the message may come back sooner: its delivery then waits for this lease
        logger.warning("the job's message was not kept hidden", extra={"error_type": type(exc).__name__})


class _Renewal:
    """Renews a running job's lease, and keeps its message hidden, in a thread until the work ends."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        lease_until: int,
        lease_seconds: float,
        hold_message: Callable[[], None] | None,
    ) -> None:
        self._store = store
        self._job_id = job_id
        self._lease_until = lease_until
        self._lease_seconds = lease_seconds
        self._hold_message = hold_message
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="job-lease", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._done.wait(self._lease_seconds / RENEWALS_PER_LEASE):
            _hold(self._hold_message)
            lease_until = int(time.time() + self._lease_seconds)
            try:
                renewed = self._store.change(
                    self._job_id,
                    JobChange(RUNNING, _now(), lease_until=lease_until),
                    only_from=(RUNNING,),
                    if_lease_until=self._lease_until,
                )
            except Exception as exc:  # DynamoDB unreachable for a moment: the next renewal tries again
                logger.warning("the job's lease was not renewed", extra={"error_type": type(exc).__name__})
                continue
            if not renewed:  # ended, or taken by another delivery: nothing left to hold
                return
            self._lease_until = lease_until


def _transcription(
    settings: Settings, job_id: str, owner: str, request: dict[str, Any], deadline: Deadline
) -> dict[str, Any]:
    # Measured again here (an upload not counted in time at submission comes unmeasured): decoding stops at the
    # cap, so the worker's memory is bounded whatever the file claims or expands to.
    audio = measured(_job_audio(settings, owner, request), settings.job_max_audio_seconds, JOB_TAKES)
    response_format = request.get("response_format", "json")
    job = TranscriptionJob(
        audio=audio,
        model=request["model"],
        language=request.get("language"),
        prompt=request.get("prompt"),
        timings=needs_timings(response_format),
        diarize=bool(request.get("diarize")),
        pieces_owner=owner,  # each piece kept as heard: a run after this one's death resumes from them
    )
    reservation = None
    # Not reserved at submission (not counted in time there): reserved now, once however often it runs.
    if "budget" not in request:
        seconds = budgets.amount_of_seconds(audio.seconds)
        reservation = budgets.reserve_once(settings, owner, budgets.AUDIO_SECONDS, seconds, token=job_id)
    with (
        budgets.given_back_when_unpaid(settings, reservation, token=job_id),
        ProgressWriter(_store(settings), job_id) as progress,
    ):
        transcript, _route = transcribe(job, deadline, progress=progress)
    # Silence costs nothing: the seconds reserved (at submission, or just now) less the speech, given back once.
    paid = reservation or Reservation.from_record(request.get("budget"))
    budgets.pay_for_speech(settings, paid, transcript.speech_seconds, token=job_id)
    return api_job_result(transcript, response_format)


def _job_audio(settings: Settings, owner: str, request: dict[str, Any]) -> AudioUpload:
    """The job's recording: its upload, or what its audio_url answers (fetched by the worker, under outbound's rules)."""
    if "audio_url" in request:
        from speech_common.audio_url import fetch_audio

        return fetch_audio(settings, request["audio_url"])
    return read_upload(settings, owner, request["upload_id"])


def _speech(
    settings: Settings, job_id: str, owner: str, request: dict[str, Any], deadline: Deadline
) -> dict[str, Any]:
    """The audio is written whole, once, after every piece is read: nothing half-made is ever linked."""
    text = read_text(settings, owner, request["text_id"])
    spoken = {k: v for k, v in request.items() if k not in ("text_id", "owner", "budget", "webhook_url")}
    wanted = SynthesisRequest(text=text, owner=owner, **spoken)
    with ProgressWriter(_store(settings), job_id) as progress:
        speech, _route, seconds = synthesize_long_text(wanted, deadline, progress=progress)
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
    store = _store(settings)
    stored = _stored(store, job_id)
    if stored is None:
        return  # unknown or expired: nobody is waiting for it
    failed = FAILED_BY_KIND.get(stored.kind, JOB_FAILED)
    if stored.status == RUNNING:
        # Taken on each delivery, and each stopped short: Lambda's timeout, or its memory.
        detail = (
            f"{failed}: the worker stopped before it finished on every delivery (out of time or memory); "
            "what it finished is kept for a while, so the same job sent again resumes from it"
        )
        _fail(store, job_id, ErrorCode.WORKER_TIMEOUT, detail)
        return
    _fail(store, job_id, ErrorCode.WORKER_FAILED, f"{failed}: the worker stopped before it finished")


def _fail(store: JobStore, job_id: str, code: ErrorCode, detail: str) -> None:
    """Mark a job failed, unless it already succeeded."""
    change = JobChange(FAILED, _now(), error={"detail": detail, "code": code})
    store.change(job_id, change, only_from=(QUEUED, RUNNING, FAILED))


def _stored(store: JobStore, job_id: str) -> StoredJob | None:
    if not job_id or len(job_id) > MAX_JOB_ID_CHARS:
        return None
    return store.get(job_id)


def _store(settings: Settings) -> JobStore:
    if not settings.jobs_table:
        raise OperationFailed("Jobs are not configured", code=ErrorCode.JOBS_NOT_CONFIGURED)
    return DynamoDBJobStore(settings.jobs_table)


def _queue(settings: Settings) -> JobQueue:
    if not settings.jobs_queue_url:
        raise OperationFailed("Jobs are not configured", code=ErrorCode.JOBS_NOT_CONFIGURED)
    return SqsJobQueue(settings.jobs_queue_url)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
