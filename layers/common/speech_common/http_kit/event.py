"""What an API Gateway event says: the body's bytes, the caller, this API's URL, this invocation's deadline."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from speech_common.deadline import Deadline
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.settings import get_settings


def body_bytes(event: APIGatewayProxyEvent) -> bytes:
    """The body as sent: base64-decoded when API Gateway encoded it (binary media types)."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                "The request body is not valid base64", code=ErrorCode.MALFORMED_BODY
            ) from None
    return body.encode("utf-8", errors="surrogateescape")


def invocation_deadline(event: APIGatewayProxyEvent, context: Any) -> Deadline:
    """The upstream deadline of this invocation, counted from when API Gateway received the request."""
    received_at = event.request_context.raw_event.get("requestTimeEpoch")
    return Deadline.for_invocation(
        context, get_settings(), request_time_epoch_ms=received_at if isinstance(received_at, int) else None
    )


def caller(event: APIGatewayProxyEvent) -> str:
    """Who is asking: the API key's id on AWS (uploads and jobs belong to it), "local" under make serve."""
    identity = event.request_context.raw_event.get("identity") or {}
    key_id = identity.get("apiKeyId") if isinstance(identity, dict) else None
    if not key_id:  # the authorizer names the key it handed to the usage plan
        authorizer = event.request_context.raw_event.get("authorizer") or {}
        key_id = authorizer.get("apiKeyId") if isinstance(authorizer, dict) else None
    return str(key_id) if key_id else "local"


def api_url(event: APIGatewayProxyEvent, path: str) -> str:
    """An absolute URL of this API for `path` ("/api/jobs/x"), as the caller reached it."""
    host = event.headers.get("host") or "localhost"
    scheme = event.headers.get("x-forwarded-proto") or ("https" if host.endswith("amazonaws.com") else "http")
    context = event.request_context.raw_event
    stage = context.get("stage") if isinstance(context.get("stage"), str) else ""
    prefix = f"/{stage}" if stage and str(context.get("path", "")).startswith(f"/{stage}/") else ""
    return f"{scheme}://{host}{prefix}{path}"
