"""The job worker: SQS delivers a job id; the job (a transcription or speech) is done once, however
often it is delivered, and a delivery after a worker died resumes it.

`lambda_handler` takes the jobs queue; `dead_letter_handler` takes its dead-letter queue and marks
each job it receives failed, so that no job is left running after its messages ran out of retries.
A job with a webhook_url has it delivered once it ended (jobs/webhooks.py): by the worker that ended it, by the
worker a retry's message reaches, and after the dead-letter handler failed it, through the jobs queue.
Once per job: the job's lease in the table (jobs.run_job), which also lets a delivery that comes after a worker
died take the job up again: Powertools' idempotency, which this replaced, held such a delivery off for the
whole of the dead worker's timeout and so sent the job to the dead-letter queue.
"""

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.deadline import Deadline
from speech_common.jobs import Job, fail_abandoned_job, run_job
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings, require

RESERVE_SECONDS = 20.0  # to record the outcome before Lambda stops the function
# A resource of the template missing fails the cold start naming its variable (both handlers need both).
require("speech_bucket", "jobs_table")


def message_holder(record: dict[str, Any], seconds: int) -> Callable[[], None] | None:
    """Keeps the record's message hidden for `seconds` from each call. The queue's own visibility timeout is long
    (Lambda wants it at least the worker's timeout): held this way instead, a worker that dies lets its message
    come back in `seconds`, not in the queue's 90 minutes. None when the record has no handle (not from SQS)."""
    handle = record.get("receiptHandle")
    queue_url = get_settings().jobs_queue_url
    if not handle or not queue_url:
        return None

    def hold() -> None:
        from speech_common.jobs.queue import sqs_client

        sqs_client().change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=seconds
        )

    return hold


def job_json(job: Job) -> dict[str, Any]:
    """A webhook's body: the job as GET /api/jobs/{job_id} answers it."""
    from speech_common.doors.api.jobs import job_status_of

    return job_status_of(job).model_dump(mode="json")


def _hold_briefly(hold: Callable[[], None] | None) -> None:
    if hold is None:
        return
    try:
        hold()
    except Exception as exc:  # it comes back later then: the delivery is not lost
        logger.warning("a webhook message was not held", extra={"error_type": type(exc).__name__})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    from speech_common.jobs.webhooks import CLAIM_SECONDS, deliver

    settings = get_settings()
    for record in event.get("Records", []):
        message = json.loads(record["body"])
        job_id = message.get("job_id", "")
        if "webhook_attempt" in message:  # a retry of the job's webhook
            # Back in CLAIM_SECONDS if this worker dies (not the queue's 90 minutes), when its claim has run out.
            _hold_briefly(message_holder(record, CLAIM_SECONDS))
            deliver(settings, job_id, int(message["webhook_attempt"]), job_json)
            continue
        seconds = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
        hold = message_holder(record, settings.job_retry_seconds)
        run_job(
            settings, job_id, Deadline(seconds), lease_seconds=settings.job_retry_seconds, hold_message=hold
        )
        deliver(settings, job_id, 1, job_json)  # nothing when it has no webhook, or another delivery sent it


@logger.inject_lambda_context(clear_state=True)
def dead_letter_handler(event: dict[str, Any], context: LambdaContext) -> None:
    from speech_common.jobs.queue import SqsJobQueue
    from speech_common.jobs.webhooks import give_up

    settings = get_settings()
    for record in event.get("Records", []):
        message = json.loads(record["body"])
        job_id = message.get("job_id", "")
        if not job_id:
            continue  # not one of ours: retrying it would block the queue for its retention
        if "webhook_attempt" in message:  # the job had ended: only its webhook's delivery stopped short
            give_up(settings, job_id)
            continue
        fail_abandoned_job(settings, job_id)
        if settings.jobs_queue_url:  # its webhook, if it has one, delivered by a worker
            SqsJobQueue(settings.jobs_queue_url).send_webhook_attempt(job_id, 1, 0)
