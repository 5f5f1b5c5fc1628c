"""The API's REQUEST authorizer: the API key from `x-api-key` or `Authorization: Bearer <key>` (as the OpenAI
SDKs send it), handed to API Gateway as usageIdentifierKey so that the usage plan's throttle and quota apply.

A key of this API's usage plan is allowed on every route of the stage (API Gateway may cache the answer for
the key). A missing or unknown one is refused in the caller's door's shape: on /v1 by raising "Unauthorized"
(API Gateway's 401 UNAUTHORIZED gateway response, OpenAI's error shape), elsewhere with a Deny (403
ACCESS_DENIED, the {"detail", "code"} shape).

What a keyless flood costs is bounded here too: the keys are read from the one usage plan (USAGE_PLAN_NAME),
kept as SHA-256 digests, never as values; a failed read keeps the last good set for KEYS_KEPT_SECONDS and is
tried again at most every KEYS_RETRY_SECONDS; denials are counted in a metric, written at most once a
minute per container, never logged one line each. The key's value never reaches a log.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from speech_common.doors.openai import PREFIX as OPENAI_PREFIX
from speech_common.http_kit.paths import under
from speech_common.observability import logger, metrics

KEYS_CACHE_SECONDS = 300.0  # a key added to or removed from the plan takes up to this long to count
KEYS_KEPT_SECONDS = 900.0  # while reads fail, the last good set answers this long after it was read
KEYS_RETRY_SECONDS = 30.0  # after a failed read, the next one waits this long (not one read per request)
DENIALS_FLUSH_SECONDS = 60.0  # denials reach CloudWatch in one line per container at most this often
# Why a request was refused -> its metric (beside ApiKeyDenials, all of them).
DENIAL_METRICS = {"missing": "ApiKeyMissing", "unknown": "ApiKeyUnknown", "unavailable": "ApiKeysUnavailable"}
USAGE_PLAN_NAME_VARIABLE = "USAGE_PLAN_NAME"


class KeysUnavailable(Exception):
    """No set of keys read in the last KEYS_KEPT_SECONDS: every key is refused (fail closed)."""


def api_key_of(headers: Mapping[str, Any] | None, *, bearer_only: bool = False) -> str | None:
    """The key from x-api-key, else from Authorization: Bearer (header names are case-insensitive).

    `bearer_only` (the /v1 door): API Gateway caches that door's answers by the Authorization header alone,
    so the answer must depend on nothing else: a valid x-api-key beside a made-up Bearer token would
    otherwise leave that token allowed, for anyone, for the cache's 5 minutes.
    """
    lowered = {str(name).lower(): value for name, value in (headers or {}).items() if isinstance(value, str)}
    key = "" if bearer_only else lowered.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = lowered.get("authorization", "").strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def digest(key: str) -> str:
    """What the cache keeps of a key: its SHA-256, so that a memory dump holds no usable key."""
    return hashlib.sha256(key.encode()).hexdigest()


def _read_plan_keys() -> dict[str, str]:
    """The keys of this API's usage plan (digest -> key id): two GETs, on the plans and on that plan's keys.

    GetUsagePlanKeys answers each key's value with its id, so no other key of the account is read, and the
    IAM permission is scoped to that plan's keys. A disabled key of the plan is still listed: API Gateway's
    own key check refuses it after the authorizer (docs/api.md, "The key").
    """
    import boto3  # here: a request without a key is refused before any AWS call
    from botocore.config import Config

    name = os.environ.get(USAGE_PLAN_NAME_VARIABLE, "")
    # Short timeouts and one retry: a slow control plane must not hold every request for the SDK's 60 s.
    client = boto3.client(
        "apigateway",
        config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}),
    )
    plans = [
        plan["id"]
        for page in client.get_paginator("get_usage_plans").paginate()
        for plan in page.get("items", [])
        if name and plan.get("name") == name
    ]
    if len(plans) != 1:
        raise LookupError(
            f"{len(plans)} usage plans are named {name!r} ({USAGE_PLAN_NAME_VARIABLE}); expected one"
        )
    keys: dict[str, str] = {}
    for page in client.get_paginator("get_usage_plan_keys").paginate(
        usagePlanId=plans[0], PaginationConfig={"PageSize": 500}
    ):
        keys.update(
            {digest(item["value"]): item["id"] for item in page.get("items", []) if item.get("value")}
        )
    return keys


class KeyCache:
    """The plan's keys as digests, read at most every `max_age_seconds` (one read at a time across threads).

    When a read fails, the last good set still answers until `keep_seconds` after it was read, and the next
    read waits `retry_seconds`; with no good set in that time, every key is refused (KeysUnavailable). The
    failure is logged once, when it starts, and the recovery once.
    """

    def __init__(
        self,
        read: Callable[[], dict[str, str]] = _read_plan_keys,
        *,
        max_age_seconds: float = KEYS_CACHE_SECONDS,
        keep_seconds: float = KEYS_KEPT_SECONDS,
        retry_seconds: float = KEYS_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age_seconds = max_age_seconds
        self._keep_seconds = keep_seconds
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._digests: dict[str, str] = {}
        self._read_at: float | None = None
        self._failed_at: float | None = None

    def id_of(self, key: str) -> str | None:
        """The id of `key` if it is a key of the plan; KeysUnavailable when no good set is at hand."""
        with self._lock:
            now = self._clock()
            if self._due(now):
                self._refresh(now)
            if self._read_at is None or now - self._read_at > self._keep_seconds:
                raise KeysUnavailable
            return self._digests.get(digest(key))

    def _due(self, now: float) -> bool:
        stale = self._read_at is None or now - self._read_at > self._max_age_seconds
        waiting = self._failed_at is not None and now - self._failed_at < self._retry_seconds
        return stale and not waiting

    def _refresh(self, now: float) -> None:
        try:
            digests = self._read()
        except Exception as error:  # whatever it is (denied, throttled, unreachable), the same answer
            if self._failed_at is None:
                logger.error(
                    "The usage plan's API keys could not be read: the last good set answers for up to "
                    f"{self._keep_seconds:.0f} s after it was read, then every key is refused until a read works",
                    extra={"error": type(error).__name__, "reason": str(error)[:300]},
                )
            self._failed_at = now
            return
        if self._failed_at is not None:
            logger.info("The usage plan's API keys were read again")
        self._digests, self._read_at, self._failed_at = digests, now, None

    def clear(self) -> None:
        """Forget the keys read: the next lookup reads them afresh, as a new container does."""
        with self._lock:
            self._digests = {}
            self._read_at = None
            self._failed_at = None


class DenialCounter:
    """Refused requests, counted in memory and written as CloudWatch metrics (one EMF line) at most every
    `flush_seconds` per container: a flood costs a line a minute, not a line a request. The first denial of a
    container is written at once; a container retired by Lambda loses at most its last minute's count."""

    def __init__(
        self, flush_seconds: float = DENIALS_FLUSH_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._flushed_at: float | None = None

    def count(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] += 1
            now = self._clock()
            if self._flushed_at is None or now - self._flushed_at >= self._flush_seconds:
                self._flush(now)

    def _flush(self, now: float) -> None:
        metrics.add_metric(name="ApiKeyDenials", unit=MetricUnit.Count, value=sum(self._counts.values()))
        for reason, count in self._counts.items():
            metrics.add_metric(name=DENIAL_METRICS[reason], unit=MetricUnit.Count, value=count)
        metrics.flush_metrics()
        self._counts.clear()
        self._flushed_at = now


plan_keys = KeyCache()
denials = DenialCounter()


def _stage_arn(method_arn: str) -> str:
    """arn:...:api-id/stage/* from arn:...:api-id/stage/VERB/path: the answer holds for every route."""
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*"


def _route(event: Mapping[str, Any]) -> str:
    """The route's resource path as API Gateway defines it (`/v1/models/{model_id}`), never `path`: a custom
    domain's base path is in `path` ("/speech/v1/...") but in neither `resource` nor the methodArn."""
    resource = event.get("resource")
    if isinstance(resource, str) and resource.startswith("/"):
        return resource
    # arn:...:api-id/stage/VERB/resource/path
    parts = str(event.get("methodArn", "")).split("/", 3)
    return "/" + parts[3] if len(parts) == 4 else ""


def _policy(effect: str, method_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": _stage_arn(method_arn)}],
    }


def _key_id(key: str | None) -> tuple[str | None, str]:
    """The key's id, or None and why it is refused."""
    if key is None:
        return None, "missing"
    try:
        key_id = plan_keys.id_of(key)
    except KeysUnavailable:
        return None, "unavailable"
    return key_id, "unknown"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method_arn = str(event.get("methodArn", ""))
    openai_door = under(_route(event), OPENAI_PREFIX)
    key = api_key_of(event.get("headers"), bearer_only=openai_door)
    key_id, reason = _key_id(key)
    if key is None or key_id is None:
        denials.count(reason)
        if openai_door:
            raise Exception("Unauthorized")  # API Gateway's 401 (the exact message is what it looks for)
        return {"principalId": "anonymous", "policyDocument": _policy("Deny", method_arn)}
    return {
        "principalId": key_id,
        "policyDocument": _policy("Allow", method_arn),
        "usageIdentifierKey": key,
        "context": {"apiKeyId": key_id},
    }
