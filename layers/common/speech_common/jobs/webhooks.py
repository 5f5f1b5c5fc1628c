"""A job's webhook: when the job ends (succeeded or failed), its JSON (what GET /api/jobs/{id} answers) is POSTed
to the job's webhook_url, signed as the Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
`webhook-signature`: the `standardwebhooks` package signs), with the deployment's secret (secrets.webhook_secret).

At least once: the worker tries as soon as the job ends; a failure (an answer other than 2xx, a refused address, no
answer in time) is tried again later through the jobs queue (a message with DelaySeconds, settings'
webhook_retry_delays), with the same webhook-id every time, until one is delivered or the delays run out. Each
attempt is claimed in the job's row first, so two deliveries of one message do not both send it, and a worker that
died sending it leaves its claim to run out (CLAIM_SECONDS), after which the message's next delivery sends it.
The job's `webhook` says how it went: {"state": "pending" | "delivered" | "failed", "attempts", "host", ...}.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from speech_common.jobs.queue import SqsJobQueue
from speech_common.jobs.service import FAILED, SUCCEEDED, Job, _store, get_job
from speech_common.jobs.store import JobStore, StoredJob
from speech_common.observability import logger
from speech_common.outbound import FetchFailed, RefusedUrl, request
from speech_common.secrets import webhook_secret
from speech_common.settings import Settings

PENDING, DELIVERED = "pending", "delivered"
CLAIM_SECONDS = 90  # longer than one attempt takes (its time cap), so a live claim is never taken over
ATTEMPT_SECONDS = 30.0
ANSWER_MAX_BYTES = 64 * 1024  # what is read of a receiver's answer (it is not kept)

type BodyOf = Callable[[Job], dict[str, Any]]


def message_id(job_id: str) -> str:
    """The webhook-id: one per job, the same on every attempt (receivers deduplicate by it)."""
    return f"msg_{job_id}"


def deliver(settings: Settings, job_id: str, attempt: int, body_of: BodyOf) -> None:
    """Attempt `attempt` (1 is the first) of the job's webhook, once the job has ended; later attempts queued on
    failure. Nothing for a job without a webhook, not ended, or whose attempt another delivery has made."""
    store = _store(settings)
    stored = store.get(job_id)
    if stored is None or stored.webhook is None or stored.status not in (SUCCEEDED, FAILED):
        return
    url = stored.request.get("webhook_url")
    now = int(time.time())
    claimed = {**stored.webhook, "state": PENDING, "attempts": attempt}
    if not url or not store.change_webhook(
        job_id, claimed, claimed_until=now + CLAIM_SECONDS, claim=(attempt - 1, now)
    ):
        return
    failure = _post(settings, url, job_id, body_of(get_job(settings, stored.owner, job_id)))
    if failure is None:
        delivered = {**claimed, "delivered_at": _now()}
        delivered.pop("last_error", None)
        _record(store, job_id, {**delivered, "state": DELIVERED})
        logger.info("webhook delivered", extra={"attempt": attempt})
        return
    logger.info("webhook not delivered", extra={"attempt": attempt, "reason": failure})
    _failed_attempt(settings, store, stored, {**claimed, "last_error": failure}, attempt)


def _failed_attempt(
    settings: Settings, store: JobStore, stored: StoredJob, webhook: dict[str, Any], attempt: int
) -> None:
    delays = settings.webhook_retry_delays
    if attempt > len(delays):
        _record(store, stored.job_id, {**webhook, "state": FAILED})
        return
    _record(store, stored.job_id, webhook)
    try:
        SqsJobQueue(settings.jobs_queue_url or "").send_webhook_attempt(
            stored.job_id, attempt + 1, delays[attempt - 1]
        )
    except Exception as exc:  # no retry can come: said so, rather than left pending for ever
        logger.warning("a webhook retry was not queued", extra={"error_type": type(exc).__name__})
        _record(
            store, stored.job_id, {**webhook, "state": FAILED, "last_error": "a retry could not be queued"}
        )


def give_up(settings: Settings, job_id: str) -> None:
    """A webhook message that ran out of deliveries (the dead-letter queue): its delivery failed."""
    store = _store(settings)
    stored = store.get(job_id)
    if stored is None or stored.webhook is None or stored.webhook.get("state") != PENDING:
        return
    _record(
        store, job_id, {**stored.webhook, "state": FAILED, "last_error": "the worker stopped delivering it"}
    )


def _record(store: JobStore, job_id: str, webhook: dict[str, Any]) -> None:
    store.change_webhook(job_id, webhook, claimed_until=0, claim=None)


def _post(settings: Settings, url: str, job_id: str, body: dict[str, Any]) -> str | None:
    """One signed POST; None when the receiver answered 2xx, else why not (no URL in it)."""
    data = json.dumps(body, separators=(",", ":"))
    try:
        headers = signed_headers(webhook_secret(settings), message_id(job_id), data, datetime.now(UTC))
    except Exception as exc:  # the secret unreadable, or not one standardwebhooks takes
        logger.warning("a webhook could not be signed", extra={"error_type": type(exc).__name__})
        return "the delivery could not be signed"
    try:
        answer = request(
            "POST",
            url,
            body=data.encode(),
            headers=headers,
            allow_loopback=settings.outbound_allow_loopback,
            max_bytes=ANSWER_MAX_BYTES,
            total_seconds=ATTEMPT_SECONDS,
        )
    except RefusedUrl as refused:
        return refused.detail
    except FetchFailed as failed:
        if failed.status is not None and 200 <= failed.status < 300:
            return None  # received: only its answer was too long or too slow to read
        return failed.reason
    return None if 200 <= answer.status < 300 else f"the receiver answered {answer.status}"


def signed_headers(secret: str, msg_id: str, data: str, sent_at: datetime) -> dict[str, str]:
    """A delivery's headers: its id, when it was signed, and the signature of both with the body (Standard Webhooks,
    as the `standardwebhooks` package signs it: v1,base64(HMAC-SHA256(key, "id.timestamp.body")))."""
    from standardwebhooks import Webhook

    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent_at, data),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
