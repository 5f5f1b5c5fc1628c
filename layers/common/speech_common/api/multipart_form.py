"""The multipart form of POST /api/stt/: the audio file (recognised by content) and its fields."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import multipart
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError

from speech_common.api.envelope import media_type
from speech_common.api.validation import invalid_request_from, shown
from speech_common.audio import AudioUpload, sniff_audio_format
from speech_common.core import TranscriptionJob
from speech_common.errors import InvalidRequest, PayloadTooLarge
from speech_common.models import SttForm
from speech_common.settings import Settings, get_settings
from speech_common.transcript_formats import TIMED_FORMATS

AUDIO_FIELD = "audio"
ACCEPTED_AUDIO = "flac, m4a, mp3, mp4, mpeg, mpga, ogg, wav, webm"
MAX_FORM_PARTS = 16


def _body_bytes(event: APIGatewayProxyEvent) -> bytes:
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("The request body is not valid base64", code="malformed_body") from None
    return body.encode("utf-8", errors="surrogateescape")


@dataclass(frozen=True)
class SttFormData:
    """The form of POST /api/stt/ (and /api/stt/jobs/): the file, or the id of a completed upload."""

    form: SttForm
    audio: AudioUpload | None

    def job(self, owner: str) -> TranscriptionJob:
        """The transcription this form asks for (an upload is read from the bucket)."""
        audio = self.audio
        if audio is None:
            from speech_common.storage import read_upload

            settings = get_settings()
            audio = read_upload(
                settings, owner, self.form.upload_id or "", max_bytes=settings.sync_max_upload_bytes
            )
        return TranscriptionJob(
            audio=audio,
            model=self.form.model,
            language=self.form.language,
            prompt=self.form.prompt,
            timings=self.form.response_format in TIMED_FORMATS,
        )


def read_stt_form(event: APIGatewayProxyEvent) -> SttFormData:
    """The audio file (recognised by content) or upload id, and the validated form fields.

    The envelope (size, content type) was checked by the resolver before the route ran.
    """
    files, fields, _ = read_form_parts(event)
    form = validated_form(SttForm, fields)
    refuse_files_other_than(AUDIO_FIELD, files, "field")
    if AUDIO_FIELD in files and form.upload_id is not None:
        raise InvalidRequest(
            "send either the file 'audio' or the field 'upload_id', not both", code="invalid_field"
        )
    if form.upload_id is not None:
        return SttFormData(form=form, audio=None)
    if AUDIO_FIELD not in files:
        raise InvalidRequest(
            "audio: a file is required (multipart field 'audio'), or the field 'upload_id'",
            code="missing_field",
        )
    return SttFormData(form=form, audio=recognised_audio(files[AUDIO_FIELD], AUDIO_FIELD))


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
            code="unknown_field",
            param=shown(unexpected[0]),
        )


def recognised_audio(data: bytes, field: str) -> AudioUpload:
    """The uploaded file as audio, recognised by its content; 400 when empty or not audio."""
    if not data:
        raise InvalidRequest(f"{field}: the file is empty", code="empty_audio", param=field)
    fmt = sniff_audio_format(data)
    if fmt is None:
        raise InvalidRequest(
            f"{field}: the file is not audio in a supported format ({ACCEPTED_AUDIO})",
            code="unsupported_audio",
            param=field,
        )
    return AudioUpload(data=data, format=fmt)


type FormParts = tuple[dict[str, bytes], dict[str, str], dict[str, list[str]]]


def read_form_parts(event: APIGatewayProxyEvent, repeatable: frozenset[str] = frozenset()) -> FormParts:
    """The files, the fields and the repeated fields ("x[]", named in `repeatable`) of a multipart body.

    The envelope (size, content type) was checked by the resolver before the route ran.
    """
    _, params = media_type(event)
    boundary = params.get("boundary", "")
    if not boundary:
        raise InvalidRequest("The multipart Content-Type has no boundary", code="malformed_multipart")
    return _read_parts(_body_bytes(event), boundary, get_settings(), repeatable)


def _read_parts(raw: bytes, boundary: str, settings: Settings, repeatable: frozenset[str]) -> FormParts:
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
                    f"{shown(name)}: the field is sent more than once", code="duplicate_field"
                )
            if name == AUDIO_FIELD or part.filename:
                files[name] = part.raw
            else:
                fields[name] = part.value
    except InvalidRequest:
        raise
    except multipart.ParserLimitReached as exc:
        reason = str(exc).lower()
        if "segment count" in reason:  # "Maximum segment count exceeded"
            raise InvalidRequest(
                f"The form has too many fields (at most {MAX_FORM_PARTS})", code="too_many_fields"
            ) from None
        if "header" in reason:  # "Maximum segment header length/count exceeded": a huge field name
            raise InvalidRequest(
                "A form part's headers are too long (a field or file name of several KB)",
                code="invalid_field",
            ) from None
        raise PayloadTooLarge("The multipart body exceeds the API's size limits") from None
    except Exception:  # the parser's own errors and any decoding error on hostile bytes
        raise InvalidRequest(
            "The multipart/form-data body is malformed or truncated", code="malformed_multipart"
        ) from None
    return files, fields, lists
