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
from collections.abc import Mapping
from typing import Any

from speech_common.doors.openai import PREFIX as OPENAI_PREFIX
from speech_common.http_kit.paths import under
from speech_common.observability import logger

KEYS_CACHE_SECONDS = 300.0  # a key made or disabled takes up to this long to count

_lock = threading.Lock()
_keys: dict[str, str] = {}  # enabled key value -> key id
_keys_read_at: float | None = None


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


def _enabled_keys() -> dict[str, str]:
    """Every enabled API key of the account (value -> id), read at most every KEYS_CACHE_SECONDS."""
    global _keys_read_at
    with _lock:
        if _keys_read_at is None or time.monotonic() - _keys_read_at > KEYS_CACHE_SECONDS:
            import boto3  # here: a request without a key is refused before any AWS call

            keys: dict[str, str] = {}
            for page in (
                boto3.client("apigateway")
                .get_paginator("get_api_keys")
                .paginate(includeValues=True, PaginationConfig={"PageSize": 500})
            ):
                keys.update(
                    {item["value"]: item["id"] for item in page.get("items", []) if item.get("enabled")}
                )
            _keys.clear()
            _keys.update(keys)
            _keys_read_at = time.monotonic()
        return dict(_keys)


def forget_keys() -> None:
    """A new container reads the keys afresh (tests start each one so)."""
    global _keys_read_at
    with _lock:
        _keys.clear()
        _keys_read_at = None


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
    key_id = _enabled_keys().get(key) if key else None
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
