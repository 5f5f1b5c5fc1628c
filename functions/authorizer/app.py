"""The API's REQUEST authorizer: the API key from `x-api-key` or `Authorization: Bearer <key>` (as the OpenAI
SDKs send it), handed to API Gateway as usageIdentifierKey so that the usage plan's throttle and quota apply.

A known, enabled key is allowed on every route of the stage (API Gateway may cache the answer for the key). A
missing or unknown one is refused in the caller's door's shape: on /v1 by raising "Unauthorized" (API Gateway's
401 UNAUTHORIZED gateway response, OpenAI's error shape), elsewhere with a Deny (403 ACCESS_DENIED, the
{"detail", "code"} shape). The key's value never reaches a log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from speech_common.doors.openai import PREFIX as OPENAI_PREFIX
from speech_common.http_kit.paths import under
from speech_common.observability import logger

KEYS_CACHE_SECONDS = 300.0  # a key made or disabled takes up to this long to count


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


def _read_enabled_keys() -> dict[str, str]:
    """Every enabled API key of the account (value -> id), from API Gateway."""
    import boto3  # here: a request without a key is refused before any AWS call

    keys: dict[str, str] = {}
    for page in (
        boto3.client("apigateway")
        .get_paginator("get_api_keys")
        .paginate(includeValues=True, PaginationConfig={"PageSize": 500})
    ):
        keys.update({item["value"]: item["id"] for item in page.get("items", []) if item.get("enabled")})
    return keys


class KeyCache:
    """The enabled keys, read at most every `max_age_seconds` (one read at a time across threads)."""

    def __init__(
        self, max_age_seconds: float = KEYS_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age_seconds = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._read_at: float | None = None

    def id_of(self, key: str) -> str | None:
        """The id of `key` if it is a known, enabled key."""
        with self._lock:
            if self._read_at is None or self._clock() - self._read_at > self._max_age_seconds:
                self._keys = _read_enabled_keys()
                self._read_at = self._clock()
            return self._keys.get(key)

    def clear(self) -> None:
        """Forget the keys read: the next lookup reads them afresh, as a new container does."""
        with self._lock:
            self._keys = {}
            self._read_at = None


enabled_keys = KeyCache()


def _stage_arn(method_arn: str) -> str:
    """arn:...:api-id/stage/* from arn:...:api-id/stage/VERB/path: the answer holds for every route."""
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*"


def _policy(effect: str, method_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": _stage_arn(method_arn)}],
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method_arn = str(event.get("methodArn", ""))
    openai_door = under(event.get("path"), OPENAI_PREFIX)
    key = api_key_of(event.get("headers"), bearer_only=openai_door)
    key_id = enabled_keys.id_of(key) if key else None
    if key is None or key_id is None:
        logger.info("API key refused", extra={"reason": "missing" if key is None else "unknown"})
        if openai_door:
            raise Exception("Unauthorized")  # API Gateway's 401 (the exact message is what it looks for)
        return {"principalId": "anonymous", "policyDocument": _policy("Deny", method_arn)}
    return {
        "principalId": key_id,
        "policyDocument": _policy("Allow", method_arn),
        "usageIdentifierKey": key,
        "context": {"apiKeyId": key_id},
    }
