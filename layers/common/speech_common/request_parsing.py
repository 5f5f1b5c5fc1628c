"""Reading API Gateway events: size and content-type checks, JSON errors, the STT multipart form."""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import multipart
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ValidationError

from speech_common.audio import AudioUpload, sniff_audio_format
from speech_common.errors import InvalidRequest, PayloadTooLarge
from speech_common.models import SttForm
from speech_common.settings import Settings, get_settings

JSON = "application/json"
MULTIPART = "multipart/form-data"
AUDIO_FIELD = "audio"
ACCEPTED_AUDIO = "flac, m4a, mp3, mp4, mpeg, mpga, ogg, wav, webm"
MAX_FORM_PARTS = 16


def media_type(event: APIGatewayProxyEvent) -> tuple[str, dict[str, str]]:
    raw = event.headers.get("content-type") or ""  # Powertools v3 headers are case-insensitive
    mime, params = multipart.parse_options_header(raw)
    return mime.strip().lower(), params


def check_envelope(event: APIGatewayProxyEvent, expected_media_type: str, settings: Settings) -> None:
    """Size first (413), then the content type (400): the checks that come before any parsing."""
    if len(event.body or "") > settings.max_event_body_bytes:
        raise PayloadTooLarge(
            f"The request body is larger than the API accepts ({settings.max_event_body_bytes} bytes "
            "as received by the function; about 4.4 MB of audio once base64-encoded)"
        )
    mime, _ = media_type(event)
    if mime != expected_media_type:
        shown = mime or "none"
        raise InvalidRequest(
            f"Content-Type must be {expected_media_type} (got {shown})", code="unsupported_content_type"
        )


def parse_json_body(body: str) -> Any:
    """json.loads for Powertools: every way a body can fail to parse becomes a JSON error (a 400).

    Deep nesting (RecursionError) and integers past Python's digit limit (ValueError) would
    otherwise escape as 500s.
    """
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError):
        raise json.JSONDecodeError("unparseable JSON", "", 0) from None


def _field_name(loc: Iterable[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body",) and not isinstance(part, int)]
    return ".".join(parts)


_CODES_BY_TYPE = {
    "missing": "missing_field",
    "json_invalid": "invalid_json",
    "extra_forbidden": "unknown_field",
    "model_attributes_type": "invalid_json",
    "dict_type": "invalid_json",
}
_CODES_BY_FIELD = {"model": "unsupported_model", "voice": "unsupported_voice"}


def invalid_request_from(errors: Sequence[Mapping[str, Any]]) -> InvalidRequest:
    """One clear 400 from pydantic/Powertools validation errors (the input values are never echoed)."""
    if not errors:
        return InvalidRequest("Invalid request data")
    first = errors[0]
    error_type = str(first.get("type", ""))
    field = _field_name(first.get("loc", ()))
    if error_type == "json_invalid":
        return InvalidRequest("The request body is not valid JSON", code="invalid_json")
    if error_type in ("model_attributes_type", "dict_type") and not field:
        return InvalidRequest("The request body must be a JSON object", code="invalid_json")
    if error_type == "missing" and not field:
        return InvalidRequest("The request body is empty; send a JSON object", code="missing_field")
    message = str(first.get("msg", "Invalid value"))
    if error_type == "extra_forbidden":
        message = "Unknown field"
    code = _CODES_BY_TYPE.get(error_type) or _CODES_BY_FIELD.get(field) or "invalid_field"
    if error_type == "value_error" and "blank" in message:
        code = "empty_field"
    message = message.removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return InvalidRequest(f"{field}: {message}{more}" if field else f"{message}{more}", code=code)


def _body_bytes(event: APIGatewayProxyEvent) -> bytes:
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("The request body is not valid base64", code="malformed_body") from None
    return body.encode("utf-8", errors="surrogateescape")


def parse_stt_form(event: APIGatewayProxyEvent, settings: Settings) -> tuple[AudioUpload, SttForm]:
    """The audio file (recognised by content) and the validated form fields of POST /api/stt/."""
    check_envelope(event, MULTIPART, settings)
    _, params = media_type(event)
    boundary = params.get("boundary", "")
    if not boundary:
        raise InvalidRequest("The multipart Content-Type has no boundary", code="malformed_multipart")
    files, fields = _read_parts(_body_bytes(event), boundary, settings)

    try:
        form = SttForm.model_validate(fields)
    except ValidationError as exc:
        raise invalid_request_from(exc.errors(include_input=False)) from None
    unexpected_files = sorted(name for name in files if name != AUDIO_FIELD)
    if unexpected_files:
        raise InvalidRequest(
            f"{unexpected_files[0]}: unknown file field; send the audio as '{AUDIO_FIELD}'",
            code="unknown_field",
        )
    if AUDIO_FIELD not in files:
        raise InvalidRequest("audio: a file is required (multipart field 'audio')", code="missing_field")
    data = files[AUDIO_FIELD]
    if not data:
        raise InvalidRequest("audio: the file is empty", code="empty_audio")
    fmt = sniff_audio_format(data)
    if fmt is None:
        raise InvalidRequest(
            f"audio: the file is not audio in a supported format ({ACCEPTED_AUDIO})", code="unsupported_audio"
        )
    return AudioUpload(data=data, format=fmt), form


def _read_parts(raw: bytes, boundary: str, settings: Settings) -> tuple[dict[str, bytes], dict[str, str]]:
    files: dict[str, bytes] = {}
    fields: dict[str, str] = {}
    parser = multipart.MultipartParser(
        io.BytesIO(raw),
        boundary,
        content_length=len(raw),
        strict=True,
        part_limit=MAX_FORM_PARTS,
        partsize_limit=settings.max_upload_bytes,
        spool_limit=settings.max_upload_bytes + 1,
        memory_limit=settings.max_upload_bytes + 1024 * 1024,
        disk_limit=0,  # never spool to disk: a Lambda's /tmp is not for request bodies
    )
    try:
        for part in parser:
            name = part.name
            if name in files or name in fields:
                raise InvalidRequest(f"{name}: the field is sent more than once", code="duplicate_field")
            if name == AUDIO_FIELD or part.filename:
                files[name] = part.raw
            else:
                fields[name] = part.value
    except InvalidRequest:
        raise
    except multipart.ParserLimitReached as exc:
        if "count" in str(exc).lower():  # "Maximum segment count exceeded"
            raise InvalidRequest(
                f"The form has too many fields (at most {MAX_FORM_PARTS})", code="too_many_fields"
            ) from None
        raise PayloadTooLarge("The multipart body exceeds the API's size limits") from None
    except Exception:  # the parser's own errors and any decoding error on hostile bytes
        raise InvalidRequest(
            "The multipart/form-data body is malformed or truncated", code="malformed_multipart"
        ) from None
    return files, fields


def require_media_type(expected: str) -> Callable[..., Any]:
    """Route middleware: a valid body under the wrong Content-Type is still refused."""

    def middleware(app: Any, next_middleware: NextMiddleware) -> Any:
        check_envelope(app.current_event, expected, get_settings())
        return next_middleware(app)

    return middleware
