"""POST /v1/audio/transcriptions: OpenAI's multipart form, the same transcription as POST /api/stt/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from speech_common.api.answers import refuse_audio_too_long_to_answer, served
from speech_common.api.multipart_form import (
    read_form_parts,
    recognised_audio,
    refuse_files_other_than,
    validated_form,
)
from speech_common.core import Transcript, TranscriptionJob, transcribe
from speech_common.deadline import Deadline
from speech_common.errors import InvalidRequest
from speech_common.openai_api.models import Transcription, TranscriptionForm, TranscriptionVerbose
from speech_common.transcript_formats import (
    TEXT_CONTENT_TYPE,
    TIMED_FORMATS,
    recording_seconds,
    segment_objects,
    subtitles,
    word_objects,
)

FILE_FIELD = "file"
GRANULARITIES = "timestamp_granularities[]"


def read_transcription_form(event: APIGatewayProxyEvent) -> tuple[TranscriptionJob, TranscriptionForm]:
    """OpenAI's form as a TranscriptionJob, and the form (its response_format and timestamp_granularities);
    400 (naming the parameter) for anything this API cannot do, before any upstream call."""
    files, fields, lists = read_form_parts(event, repeatable=frozenset({GRANULARITIES}))
    values: dict[str, Any] = dict(fields)
    if GRANULARITIES in lists:
        values[GRANULARITIES] = lists[GRANULARITIES]
    form = validated_form(TranscriptionForm, values)
    refuse_files_other_than(FILE_FIELD, files, "parameter")
    if FILE_FIELD not in files:
        raise InvalidRequest("file: a file is required", code="missing_field", param=FILE_FIELD)
    verbose = form.response_format == "verbose_json"
    return TranscriptionJob(
        audio=recognised_audio(files[FILE_FIELD], FILE_FIELD),
        model=form.model,
        language=form.language,
        prompt=form.prompt,
        temperature=form.temperature,
        # timestamp_granularities[] count with verbose_json only, as on OpenAI.
        timings=form.response_format in TIMED_FORMATS,
        words=verbose and "word" in form.timestamp_granularities,
    ), form


def transcription_answer(job: TranscriptionJob, form: TranscriptionForm, deadline: Deadline) -> Response[Any]:
    """The transcript as OpenAI shapes it: json {"text"}, text/plain (a line), srt, vtt or verbose_json."""
    refuse_audio_too_long_to_answer(job)
    transcript, route = transcribe(job, deadline)
    if form.response_format == "text":
        return served(transcript.text + "\n", route, content_type=TEXT_CONTENT_TYPE)
    if form.response_format in ("srt", "vtt"):
        content_type, body = subtitles(form.response_format, transcript.segments or ())
        return served(body, route, content_type=content_type)
    if form.response_format == "verbose_json":
        segments = not form.timestamp_granularities or "segment" in form.timestamp_granularities
        # Written here, not by the resolver: a part not asked for is absent, as on OpenAI, not null.
        return served(verbose_transcription(transcript, segments).model_dump_json(exclude_none=True), route)
    return served(Transcription(text=transcript.text), route)


def verbose_transcription(transcript: Transcript, segments: bool) -> TranscriptionVerbose:
    """OpenAI's verbose_json: segments unless only words were asked for; words when they were."""
    timed = transcript.segments or ()
    return TranscriptionVerbose(
        language=transcript.language or "",
        duration=recording_seconds(transcript),
        text=transcript.text,
        segments=segment_objects(timed) if segments else None,  # pydantic makes the models of the dicts
        words=None if transcript.words is None else word_objects(transcript.words),
    )
