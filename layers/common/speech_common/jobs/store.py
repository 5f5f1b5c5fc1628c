"""Where jobs are kept: the `JobStore` the job service writes through, and its DynamoDB table.

A row: job_id (the key), kind, status, owner, request (JSON), created_at, updated_at, ttl (epoch seconds, the
table's TTL attribute), and as the job moves on: lease_until, result_key, error (JSON), pieces_done and
pieces_total (its progress, written apart from its status changes: `advance`). A job with a webhook also has webhook
(JSON: its public state), webhook_state, webhook_attempts and webhook_claimed_until (jobs/webhooks.py). A row without a kind
(an idempotency record of an earlier worker) is never read as a job.
boto3 is imported when the first client is built.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from speech_common.parallel import built_once


@dataclass(frozen=True)
class StoredJob:
    """A job as the store keeps it, its owner and request included."""

    job_id: str
    kind: str
    status: str
    owner: str
    request: dict[str, Any]
    created_at: str
    updated_at: str
    expires_at: int  # epoch seconds: the table deletes the row some time after
    lease_until: int | None = None
    result_key: str | None = None
    error: dict[str, str] | None = None
    webhook: dict[str, Any] | None = None  # the delivery's public state: {"state", "attempts", "host", ...}
    progress: tuple[int, int] | None = None  # (pieces done, pieces in all), once the job's work is cut


@dataclass(frozen=True)
class JobChange:
    """One step of a job: its new status, when it was taken, and what the step brings."""

    status: str
    updated_at: str
    lease_until: int | None = None
    result_key: str | None = None
    error: dict[str, str] | None = None


class JobStore(Protocol):
    def add(self, job: StoredJob) -> None:
        """Keep a new job."""
        ...

    def get(self, job_id: str) -> StoredJob | None:
        """The job as last written (a read after a write sees it); None when there is no such job."""
        ...

    def change(
        self,
        job_id: str,
        change: JobChange,
        *,
        only_from: Collection[str] | None = None,
        if_lease_until: int | None = None,
        if_lease_ended_by: int | None = None,
    ) -> bool:
        """Apply `change` to an existing job whose status is one of `only_from` (None: any) and, given
        `if_lease_until`, whose lease is still that one, or given `if_lease_ended_by`, that holds no lease ending
        after that time; whether it was applied (all or nothing)."""
        ...

    def change_webhook(
        self, job_id: str, webhook: dict[str, Any], *, claimed_until: int, claim: tuple[int, int] | None
    ) -> bool:
        """Write the delivery's state (its "state" and "attempts" among it) while it is pending and, given
        `claim` = (attempts before, now), only when its attempts are that many, or one more whose claim has
        ended by now (a worker died delivering it); without `claim` (an attempt's outcome, recorded with
        `claimed_until` 0), only when its attempts are already webhook["attempts"]. Whether it was written."""
        ...

    def advance(self, job_id: str, done: int, total: int) -> bool:
        """Record a running job's progress, only forward: not applied (False) when the job is not running or has
        recorded as many pieces done already (a late or a resumed worker's count)."""
        ...


class DynamoDBJobStore:
    """The jobs table (JOBS_TABLE)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def add(self, job: StoredJob) -> None:
        dynamodb_client().put_item(TableName=self.table, Item=_item_of(job))

    def get(self, job_id: str) -> StoredJob | None:
        item = (
            dynamodb_client()
            .get_item(TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
            .get("Item")
        )
        return _job_of(item) if item is not None and "kind" in item else None

    def change(
        self,
        job_id: str,
        change: JobChange,
        *,
        only_from: Collection[str] | None = None,
        if_lease_until: int | None = None,
        if_lease_ended_by: int | None = None,
    ) -> bool:
        from botocore.exceptions import ClientError

        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key={"job_id": {"S": job_id}},
                **update_expression(
                    change,
                    only_from=only_from,
                    if_lease_until=if_lease_until,
                    if_lease_ended_by=if_lease_ended_by,
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def change_webhook(
        self, job_id: str, webhook: dict[str, Any], *, claimed_until: int, claim: tuple[int, int] | None
    ) -> bool:
        from botocore.exceptions import ClientError

        attempts = int(webhook["attempts"])
        values: dict[str, Any] = {
            ":w": {"S": json.dumps(webhook)},
            ":state": {"S": str(webhook["state"])},
            ":n": {"N": str(attempts)},
            ":c": {"N": str(claimed_until)},
            ":pending": {"S": "pending"},
        }
        condition = "webhook_state = :pending AND "
        if claim is None:
            condition += "webhook_attempts = :n"
        else:
            before, now = claim
            # A claim's end is 0 once its attempt was recorded: only a claim left by a worker that died is taken over.
            condition += (
                "(webhook_attempts = :before OR (webhook_attempts = :n AND webhook_claimed_until > :zero"
                " AND webhook_claimed_until <= :now))"
            )
            values.update({":before": {"N": str(before)}, ":now": {"N": str(now)}, ":zero": {"N": "0"}})
        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=(
                    "SET webhook = :w, webhook_state = :state, webhook_attempts = :n, webhook_claimed_until = :c"
                ),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def advance(self, job_id: str, done: int, total: int) -> bool:
        from botocore.exceptions import ClientError

        try:
            dynamodb_client().update_item(
                TableName=self.table, Key={"job_id": {"S": job_id}}, **progress_expression(done, total)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def progress_expression(done: int, total: int) -> dict[str, Any]:
    """UpdateItem's expressions for a running job's progress, never moved back."""
    return {
        "UpdateExpression": "SET pieces_done = :d, pieces_total = :t",
        "ConditionExpression": "attribute_exists(job_id) AND #s = :running "
        "AND (attribute_not_exists(pieces_done) OR pieces_done < :d)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            ":d": {"N": str(done)},
            ":t": {"N": str(total)},
            ":running": {"S": "running"},
        },
    }


def update_expression(
    change: JobChange,
    *,
    only_from: Collection[str] | None = None,
    if_lease_until: int | None = None,
    if_lease_ended_by: int | None = None,
) -> dict[str, Any]:
    """UpdateItem's expressions for `change` (the attributes it brings, no others) and its conditions."""
    names = {"#s": "status"}
    values: dict[str, Any] = {":s": {"S": change.status}, ":u": {"S": change.updated_at}}
    sets = ["#s = :s", "updated_at = :u"]
    if change.result_key is not None:
        sets.append("result_key = :r")
        values[":r"] = {"S": change.result_key}
    if change.error is not None:
        sets.append("#e = :e")  # `error` is a reserved word
        names["#e"] = "error"
        values[":e"] = {"S": json.dumps(change.error)}
    if change.lease_until is not None:
        sets.append("lease_until = :l")
        values[":l"] = {"N": str(change.lease_until)}
    condition = "attribute_exists(job_id)"  # never create a row: a job that is gone stays gone
    if only_from is not None:
        allowed = [f":from{i}" for i in range(len(only_from))]
        condition += f" AND #s IN ({', '.join(allowed)})"
        values.update({name: {"S": status} for name, status in zip(allowed, only_from, strict=True)})
    if if_lease_until is not None:
        condition += " AND lease_until = :lease"
        values[":lease"] = {"N": str(if_lease_until)}
    if if_lease_ended_by is not None:
        condition += " AND (attribute_not_exists(lease_until) OR lease_until <= :ended)"
        values[":ended"] = {"N": str(if_lease_ended_by)}
    return {
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _item_of(job: StoredJob) -> dict[str, Any]:
    item: dict[str, Any] = {
        "job_id": {"S": job.job_id},
        "kind": {"S": job.kind},
        "status": {"S": job.status},
        "owner": {"S": job.owner},
        "request": {"S": json.dumps(job.request)},
        "created_at": {"S": job.created_at},
        "updated_at": {"S": job.updated_at},
        "ttl": {"N": str(job.expires_at)},
    }
    if job.lease_until is not None:
        item["lease_until"] = {"N": str(job.lease_until)}
    if job.result_key is not None:
        item["result_key"] = {"S": job.result_key}
    if job.error is not None:
        item["error"] = {"S": json.dumps(job.error)}
    if job.webhook is not None:
        item["webhook"] = {"S": json.dumps(job.webhook)}
        item["webhook_state"] = {"S": str(job.webhook["state"])}
        item["webhook_attempts"] = {"N": str(job.webhook["attempts"])}
        item["webhook_claimed_until"] = {"N": "0"}
    if job.progress is not None:
        item["pieces_done"], item["pieces_total"] = ({"N": str(count)} for count in job.progress)
    return item


def _job_of(item: dict[str, Any]) -> StoredJob:
    def text(name: str) -> str | None:
        value: str | None = item.get(name, {}).get("S")
        return value

    def number(name: str) -> int | None:
        value = item.get(name, {}).get("N")
        return int(value) if value is not None else None

    error = text("error")
    webhook = text("webhook")
    done, total = number("pieces_done"), number("pieces_total")
    return StoredJob(
        job_id=item["job_id"]["S"],
        kind=item["kind"]["S"],
        status=item["status"]["S"],
        owner=item["owner"]["S"],
        request=json.loads(item["request"]["S"]),
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        expires_at=int(item["ttl"]["N"]),
        lease_until=number("lease_until"),
        result_key=text("result_key"),
        error=json.loads(error) if error else None,
        webhook=json.loads(webhook) if webhook else None,
        progress=(done, total) if done is not None and total is not None else None,
    )


@built_once()
def dynamodb_client() -> Any:
    """One DynamoDB client per container, with timeouts a request can afford."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
    return boto3.session.Session().client("dynamodb", config=config)
