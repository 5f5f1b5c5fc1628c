"""The job worker: SQS delivers a job id; the job (a transcription or speech) is done once, however
often it is delivered.

`lambda_handler` takes the jobs queue; `dead_letter_handler` takes its dead-letter queue and marks
each job it receives failed, so that no job is left running after its messages ran out of retries.
"""

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.deadline import Deadline
from speech_common.jobs import fail_abandoned_job, run_job
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings, require, resource

RESERVE_SECONDS = 20.0  # to record the outcome before Lambda stops the function
# A resource of the template missing fails the cold start naming its variable (both handlers need both).
require("speech_bucket", "jobs_table")


@cache
def idempotent_worker(table: str) -> tuple[IdempotencyConfig, Callable[..., dict[str, str]]]:
    """The job's work, done at most once per job id (Powertools' idempotency, in the jobs table)."""
    settings = get_settings()
    config = IdempotencyConfig(
        event_key_jmespath="job_id", expires_after_seconds=settings.result_retention_days * 86_400
    )
    # The table's TTL attribute, so that idempotency records expire with the jobs.
    persistence = DynamoDBPersistenceLayer(table_name=table, key_attr="job_id", expiry_attr="ttl")

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=persistence)
    def do_job(message: dict[str, Any], seconds: float) -> dict[str, str]:
        run_job(settings, message["job_id"], Deadline(seconds), lease_seconds=seconds + RESERVE_SECONDS)
        return {"job_id": message["job_id"]}

    return config, do_job


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    config, do_job = idempotent_worker(resource("jobs_table"))
    config.register_lambda_context(context)
    for record in event.get("Records", []):
        message = json.loads(record["body"])
        seconds = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
        do_job(message=message, seconds=seconds)


@logger.inject_lambda_context(clear_state=True)
def dead_letter_handler(event: dict[str, Any], context: LambdaContext) -> None:
    for record in event.get("Records", []):
        job_id = json.loads(record["body"]).get("job_id", "")
        if not job_id:
            continue  # not one of ours: retrying it would block the queue for its retention
        fail_abandoned_job(get_settings(), job_id)
