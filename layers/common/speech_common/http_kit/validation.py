"""JSON bodies and validation errors: every way a body can be wrong becomes one clear 400."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.vocabulary import MAX_TTS_TEXT_CHARS


def parse_json_body(body: str) -> Any:
    """json.loads for Powertools: every way a body can fail to parse, or be other than an object, is a 400.

    Deep nesting (RecursionError) and integers past Python's digit limit (ValueError) would
    otherwise escape as 500s.
    """
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError):
        raise json.JSONDecodeError("unparseable JSON", "", 0) from None
    if value is not None and not isinstance(value, dict):  # null reads as no body: missing_field
        # Powertools would validate the first element of a list as the body.
        raise InvalidRequest("The request body must be a JSON object", code=ErrorCode.INVALID_JSON)
    return value


# A field name is echoed to help a person find a typo; a longer one is cut (a 100 KB name is no typo).
MAX_ECHOED_CHARS = 40


def shown(name: str) -> str:
    """A client-sent name as it may appear in an error detail: at most MAX_ECHOED_CHARS characters."""
    return name if len(name) <= MAX_ECHOED_CHARS else name[:MAX_ECHOED_CHARS] + "…"


def _field_name(loc: Iterable[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body",) and not isinstance(part, int)]
    return shown(".".join(parts))


_CODES_BY_TYPE = {
    "missing": ErrorCode.MISSING_FIELD,
    "json_invalid": ErrorCode.INVALID_JSON,
    "extra_forbidden": ErrorCode.UNKNOWN_FIELD,
    "model_attributes_type": ErrorCode.INVALID_JSON,
    "dict_type": ErrorCode.INVALID_JSON,
}
_CODES_BY_FIELD = {"model": ErrorCode.UNSUPPORTED_MODEL, "voice": ErrorCode.UNSUPPORTED_VOICE}
_CODES_BY_FIELD_AND_TYPE = {
    ("text", "string_too_long"): ErrorCode.TEXT_TOO_LONG,
    ("input", "string_too_long"): ErrorCode.TEXT_TOO_LONG,  # the /v1 door's name for the text
}


def _message(error: Mapping[str, Any], error_type: str, field: str) -> str:
    """What is wrong, in words (pydantic's message, never the value it was given)."""
    if error_type == "extra_forbidden":
        return "Unknown field"
    if error_type != "string_too_long":
        return str(error.get("msg", "Invalid value"))
    limit = (error.get("ctx") or {}).get("max_length")
    if field == "text" and limit == MAX_TTS_TEXT_CHARS:
        return f"at most {limit} characters; send a longer text as a speech job: POST /api/tts/jobs/"
    return f"at most {limit} characters"


def invalid_request_from(errors: Sequence[Mapping[str, Any]]) -> InvalidRequest:
    """One clear 400 from pydantic/Powertools validation errors (the input values are never echoed)."""
    if not errors:
        return InvalidRequest("Invalid request data")
    first = errors[0]
    error_type = str(first.get("type", ""))
    field = _field_name(first.get("loc", ()))
    if error_type == "json_invalid":
        return InvalidRequest("The request body is not valid JSON", code=ErrorCode.INVALID_JSON)
    if error_type in ("model_attributes_type", "dict_type") and not field:
        return InvalidRequest("The request body must be a JSON object", code=ErrorCode.INVALID_JSON)
    if error_type == "missing" and not field:
        return InvalidRequest("The request body is empty; send a JSON object", code=ErrorCode.MISSING_FIELD)
    message = _message(first, error_type, field)
    code = (
        _CODES_BY_FIELD_AND_TYPE.get((field, error_type))
        or _CODES_BY_TYPE.get(error_type)
        or _CODES_BY_FIELD.get(field)
        or ErrorCode.INVALID_FIELD
    )
    if error_type == "value_error" and "blank" in message:
        code = ErrorCode.EMPTY_FIELD
    message = message.removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return InvalidRequest(
        f"{field}: {message}{more}" if field else f"{message}{more}", code=code, param=field or None
    )
