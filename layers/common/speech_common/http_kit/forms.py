"""Form bodies, whichever door takes them: multipart (files and fields) or urlencoded (fields only), and an uploaded
file recognised as audio by its content."""

from __future__ import annotations

import io
import urllib.parse
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from speech_common.audio import AudioUpload, sniff_audio_format
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest, PayloadTooLarge
from speech_common.http_kit.envelope import URLENCODED, media_type
from speech_common.http_kit.validation import invalid_request_from, shown
from speech_common.settings import Settings, get_settings

ACCEPTED_AUDIO = "flac, m4a, mp3, mp4, mpeg, mpga, ogg, wav, webm"
MAX_FORM_PARTS = 16


def validated_form[Form: BaseModel](model: type[Form], values: Mapping[str, Any]) -> Form:
    """The form's fields as `model`; 400 naming the first field at fault (its value never echoed)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_request_from(exc.errors(include_input=False)) from None


def refuse_files_other_than(field: str, files: Mapping[str, bytes], noun: str) -> None:
    """400 unknown_field for a file under another name than `field` (`noun`: what the door calls fields)."""
    unexpected = sorted(name for name in files if name != field)
    if unexpected:
        raise InvalidRequest(
            f"{shown(unexpected[0])}: unknown file {noun}; send the audio as '{field}'",
            code=ErrorCode.UNKNOWN_FIELD,
            param=shown(unexpected[0]),
        )


def recognised_audio(data: bytes, field: str) -> AudioUpload:
    """The uploaded file as audio, recognised by its content; 400 when empty or not audio."""
    if not data:
        raise InvalidRequest(f"{field}: the file is empty", code=ErrorCode.EMPTY_AUDIO, param=field)
    fmt = sniff_audio_format(data)
    if fmt is None:
        raise InvalidRequest(
            f"{field}: the file is not audio in a supported format ({ACCEPTED_AUDIO})",
            code=ErrorCode.UNSUPPORTED_AUDIO,
            param=field,
        )
    return AudioUpload(data=data, format=fmt)


type FormParts = tuple[dict[str, bytes], dict[str, str], dict[str, list[str]]]


def read_form_parts(
    raw: bytes,
    content_type: str | None,
    *,
    file_fields: frozenset[str] = frozenset(),
    repeatable: frozenset[str] = frozenset(),
) -> FormParts:
    """The files, the fields and the repeated fields ("x[]", named in `repeatable`) of a form body.

    A multipart part is a file when it has a filename or is named in `file_fields`. An urlencoded body has
    fields only. The envelope (size, content type) was checked before.
    """
    mime, params = media_type(content_type)
    if mime == URLENCODED:
        return {}, *_read_urlencoded(raw, repeatable)
    boundary = params.get("boundary", "")
    if not boundary:
        raise InvalidRequest("The multipart Content-Type has no boundary", code=ErrorCode.MALFORMED_MULTIPART)
    return _read_parts(raw, boundary, get_settings(), file_fields, repeatable)


def _read_urlencoded(raw: bytes, repeatable: frozenset[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(raw),
            max_num_fields=MAX_FORM_PARTS,
        )
    except UnicodeDecodeError:  # say, curl --data-binary @file.mp3: a file sent without a multipart form
        raise InvalidRequest(
            "An application/x-www-form-urlencoded body must be UTF-8 text (fields only); send a file as "
            "multipart/form-data (curl -F field=@file)",
            code=ErrorCode.UNSUPPORTED_CONTENT_TYPE,
        ) from None
    except ValueError as exc:  # "Max number of fields exceeded" or a malformed pair
        if "max number" in str(exc).lower():
            raise InvalidRequest(
                f"The form has too many fields (at most {MAX_FORM_PARTS})", code=ErrorCode.TOO_MANY_FIELDS
            ) from None
        raise InvalidRequest("The urlencoded form body is malformed", code=ErrorCode.MALFORMED_BODY) from None
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in repeatable:
            lists.setdefault(name, []).append(value)
        elif name in fields:
            raise InvalidRequest(
                f"{shown(name)}: the field is sent more than once", code=ErrorCode.DUPLICATE_FIELD
            )
        else:
            fields[name] = value
    return fields, lists


def _read_parts(
    raw: bytes, boundary: str, settings: Settings, file_fields: frozenset[str], repeatable: frozenset[str]
) -> FormParts:
    import multipart  # here: a JSON request also imports this module, and never pays for the parser

    files: dict[str, bytes] = {}
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
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
            if name in repeatable and not part.filename:
                lists.setdefault(name, []).append(part.value)
                continue
            if name in files or name in fields:
                raise InvalidRequest(
                    f"{shown(name)}: the field is sent more than once", code=ErrorCode.DUPLICATE_FIELD
                )
            if name in file_fields or part.filename:
                files[name] = part.raw
            else:
                fields[name] = part.value
    except InvalidRequest:
        raise
    except multipart.ParserLimitReached as exc:
        reason = str(exc).lower()
        if "segment count" in reason:  # "Maximum segment count exceeded"
            raise InvalidRequest(
                f"The form has too many fields (at most {MAX_FORM_PARTS})", code=ErrorCode.TOO_MANY_FIELDS
            ) from None
        if "header" in reason:  # "Maximum segment header length/count exceeded": a huge field name
            raise InvalidRequest(
                "A form part's headers are too long (a field or file name of several KB)",
                code=ErrorCode.INVALID_FIELD,
            ) from None
        raise PayloadTooLarge("The multipart body exceeds the API's size limits") from None
    except Exception:  # the parser's own errors and any decoding error on hostile bytes
        raise InvalidRequest(
            "The multipart/form-data body is malformed or truncated", code=ErrorCode.MALFORMED_MULTIPART
        ) from None
    return files, fields, lists
