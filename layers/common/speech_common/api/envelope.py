"""The request envelope: body size (413) and content type (400), checked before any parsing."""

from __future__ import annotations

import base64
import binascii

import multipart
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from speech_common.errors import InvalidRequest, PayloadTooLarge, SpeechError
from speech_common.settings import Settings

JSON = "application/json"
MULTIPART = "multipart/form-data"


def media_type(event: APIGatewayProxyEvent) -> tuple[str, dict[str, str]]:
    raw = event.headers.get("content-type") or ""  # Powertools v3 headers are case-insensitive
    mime, params = multipart.parse_options_header(raw)
    return mime.strip().lower(), params


def envelope_problem(
    event: APIGatewayProxyEvent, expected_media_type: str, settings: Settings
) -> SpeechError | None:
    """What is wrong with the envelope, size first, or None when the body may be parsed."""
    if len(event.body or "") > settings.max_event_body_bytes:
        return PayloadTooLarge(
            f"The request body is larger than the API accepts ({settings.max_event_body_bytes} bytes "
            "as received by the function; about 4.4 MB of audio once base64-encoded)"
        )
    mime, _ = media_type(event)
    if not event.body and (event.http_method in ("GET", "HEAD", "OPTIONS", "DELETE") or not mime):
        return None  # nothing to parse: a GET, or a POST whose fields are all optional
    if mime != expected_media_type:
        return InvalidRequest(
            f"Content-Type must be {expected_media_type} (got {mime or 'none'})",
            code="unsupported_content_type",
        )
    if expected_media_type == JSON and event.is_base64_encoded and not _utf8(event.body or ""):
        # JSON is UTF-8 (RFC 8259); a body that is not would fail deep in the parser as a 500.
        return InvalidRequest("The JSON body is not valid UTF-8", code="malformed_body")
    return None


def _utf8(base64_body: str) -> bool:
    try:
        base64.b64decode(base64_body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return False
    return True
