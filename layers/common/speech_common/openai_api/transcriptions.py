"""POST /v1/audio/transcriptions: OpenAI's multipart form, the same transcription as POST /api/stt/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ValidationError

from speech_common.api.answers import SERVED_BY_HEADER, refuse_audio_too_long_to_answer
from speech_common.api.multipart_form import read_form_parts, recognised_audio
from speech_common.api.validation import invalid_request_from, shown
from speech_common.core import TranscriptionJob, transcribe
from speech_common.deadline import Deadline
from speech_common.errors import InvalidRequest
from speech_common.openai_api.models import Transcription, TranscriptionForm
from speech_common.transcript_formats import TEXT_CONTENT_TYPE, refuse_timed_format

FILE_FIELD = "file"
GRANULARITIES = "timestamp_granularities[]"


def read_transcription_form(event: APIGatewayProxyEvent) -> tuple[TranscriptionJob, str]:
    """OpenAI's form as a TranscriptionJob and its response_format; 400 (naming the parameter) for anything
    this API cannot do, before any upstream call."""
    files, fields, lists = read_form_parts(event, repeatable=frozenset({GRANULARITIES}))
    values: dict[str, Any] = dict(fields)
    if GRANULARITIES in lists:
        values[GRANULARITIES] = lists[GRANULARITIES]
    try:
        form = TranscriptionForm.model_validate(values)
    except ValidationError as exc:
        raise invalid_request_from(exc.errors(include_input=False)) from None
    unexpected = sorted(name for name in files if name != FILE_FIELD)
    if unexpected:
        raise InvalidRequest(
            f"{shown(unexpected[0])}: unknown file parameter; send the audio as '{FILE_FIELD}'",
            code="unknown_field",
            param=shown(unexpected[0]),
        )
    if FILE_FIELD not in files:
        raise InvalidRequest("file: a file is required", code="missing_field", param=FILE_FIELD)
    refuse_timed_format(form.response_format)
    return TranscriptionJob(
        audio=recognised_audio(files[FILE_FIELD], FILE_FIELD),
        model=form.model,
        language=form.language,
        prompt=form.prompt,
        temperature=form.temperature,
    ), form.response_format


def transcription_answer(job: TranscriptionJob, response_format: str, deadline: Deadline) -> Response[Any]:
    """The transcript as OpenAI shapes it: json {"text"} or text/plain (a line)."""
    refuse_audio_too_long_to_answer(job)
    transcript, route = transcribe(job, deadline)
    headers = {SERVED_BY_HEADER: str(route)}
    if response_format == "text":
        return Response(200, TEXT_CONTENT_TYPE, transcript.text + "\n", headers)
    return Response(200, content_types.APPLICATION_JSON, Transcription(text=transcript.text), headers)
