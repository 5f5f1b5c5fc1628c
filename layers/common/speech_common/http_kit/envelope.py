"""The request envelope: body size (413) and content type (400), checked before any parsing."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest, PayloadTooLarge, SpeechError
from speech_common.settings import Settings

JSON = "application/json"
MULTIPART = "multipart/form-data"
URLENCODED = (
    "application/x-www-form-urlencoded"  # a form with fields only, as requests, httpx and fetch send it
)


def mime_of(content_type: str | None) -> str:
    """The lower-cased media type of a Content-Type header, without its parameters."""
    return (content_type or "").partition(";")[0].strip().lower()


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """The lower-cased media type of a Content-Type header, and its parameters (the multipart boundary)."""
    import multipart  # its quoting rules for the parameters; only a form's parsing pays for importing it

    mime, params = multipart.parse_options_header(content_type or "")
    return mime.strip().lower(), params


def envelope_problem(
    *,
    body: str | None,
    is_base64: bool,
    method: str,
    content_type: str | None,
    expected_media_types: Sequence[str],
    settings: Settings,
) -> SpeechError | None:
    """What is wrong with the envelope, size first, or None when the body may be parsed."""
    if len(body or "") > settings.max_event_body_bytes:
        return PayloadTooLarge(
            f"The request body is larger than the API accepts ({settings.max_event_body_bytes} bytes "
            "as received by the function; about 4.4 MB of audio once base64-encoded)"
        )
    mime = mime_of(content_type)
    if not body and (method in ("GET", "HEAD", "OPTIONS", "DELETE") or not mime):
        return None  # nothing to parse: a GET, or a POST whose fields are all optional
    if mime not in expected_media_types:
        return InvalidRequest(
            f"Content-Type must be {' or '.join(expected_media_types)} (got {mime or 'none'})",
            code=ErrorCode.UNSUPPORTED_CONTENT_TYPE,
        )
    if mime == JSON and is_base64 and not _utf8(body or ""):
        # JSON is UTF-8 (RFC 8259); a body that is not would fail deep in the parser as a 500.
        return InvalidRequest("The JSON body is not valid UTF-8", code=ErrorCode.MALFORMED_BODY)
    return None


def _utf8(base64_body: str) -> bool:
    try:
        base64.b64decode(base64_body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return False
    return True
