"""The /v1 door's requests in the core's terms: OpenAI's speech body and its transcription form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from speech_common.doors.openai.models import SpeechBody
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.http_kit.event import body_bytes
from speech_common.http_kit.forms import (
    read_form_parts,
    recognised_audio,
    refuse_files_other_than,
    validated_form,
)

if TYPE_CHECKING:  # built by the routes that call the core: a 400 answer does not load it
    from speech_common.core import SynthesisRequest, TranscriptionJob
    from speech_common.doors.openai.transcription_models import TranscriptionForm
    from speech_common.engines.base import KnownSpeaker

FILE_FIELD = "file"
GRANULARITIES = "timestamp_granularities[]"
SPEAKER_NAMES = "known_speaker_names[]"
SPEAKER_REFERENCES = "known_speaker_references[]"
# What a transcript streamed as events can be: its text (timed formats need the whole recording heard), or the
# diarize model's segments (transcript.text.segment events, sent once the recording is heard).
STREAMED_FORMATS = ("json", "text", "diarized_json")
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
# What gpt-4o-transcribe-diarize answers, as OpenAI documents it.
DIARIZE_FORMATS = ("json", "text", "diarized_json")


def synthesis_request(body: SpeechBody, owner: str) -> SynthesisRequest:
    """What this body asks the core for, for `owner` (the caller: whose speech cache it uses); 400 for what
    tts-1 and tts-1-hd cannot do. The input as it is read (cleaned unless clean_text is false), which every later
    step sees: the budget, the cache, the engines."""
    if body.instructions and body.instructions.strip():
        raise InvalidRequest(
            "instructions: tts-1 and tts-1-hd do not take instructions; send none",
            code=ErrorCode.UNSUPPORTED_PARAMETER,
            param="instructions",
        )
    from speech_common.speakable_text import text_to_read  # here: an STT request does not load it

    text = text_to_read(body.input, clean=body.clean_text, field="input")
    from speech_common.core import SynthesisRequest

    return SynthesisRequest(
        text=text,
        model=body.model,
        voice=body.voice,
        response_format=body.response_format,
        speed=body.speed,
        owner=owner,
    )


def read_transcription_form(event: APIGatewayProxyEvent) -> tuple[TranscriptionJob, TranscriptionForm]:
    """OpenAI's form as a TranscriptionJob, and the form (its response_format and timestamp_granularities);
    400 (naming the parameter) for anything this API cannot do, before any upstream call."""
    # Here: the speech route's cold start does not build the transcription models.
    from speech_common.doors.openai.transcription_models import TranscriptionForm
    from speech_common.transcript_formats import needs_timings

    files, fields, lists = read_form_parts(
        body_bytes(event),
        event.headers.get("content-type"),
        file_fields=frozenset({FILE_FIELD}),
        repeatable=frozenset({GRANULARITIES, SPEAKER_NAMES, SPEAKER_REFERENCES}),
    )
    values: dict[str, Any] = dict(fields)
    for name in (GRANULARITIES, SPEAKER_NAMES, SPEAKER_REFERENCES):
        if name in lists:
            values[name] = lists[name]
    form = validated_form(TranscriptionForm, values)
    refuse_what_the_model_cannot(form)
    if form.stream and form.response_format not in STREAMED_FORMATS:
        raise InvalidRequest(
            f"stream: a streamed transcript is text; use response_format json or text (got {form.response_format})",
            code=ErrorCode.UNSUPPORTED_PARAMETER,
            param="stream",
        )
    refuse_files_other_than(FILE_FIELD, files, "parameter")
    if FILE_FIELD not in files:
        raise InvalidRequest("file: a file is required", code=ErrorCode.MISSING_FIELD, param=FILE_FIELD)
    verbose = form.response_format == "verbose_json"
    from speech_common.core import TranscriptionJob

    return TranscriptionJob(
        audio=recognised_audio(files[FILE_FIELD], FILE_FIELD),
        model=form.model,
        language=form.language,
        prompt=form.prompt,
        temperature=form.temperature,
        timings=needs_timings(form.response_format),
        # timestamp_granularities[] count with verbose_json only, as on OpenAI.
        words=verbose and "word" in form.timestamp_granularities,
        diarize=form.response_format == "diarized_json",
        known_speakers=known_speakers(form),
    ), form


def refuse_what_the_model_cannot(form: TranscriptionForm) -> None:
    """400 for what gpt-4o-transcribe-diarize does not take (as OpenAI refuses it), and diarized_json from another
    model; before any upstream call."""
    diarizing = form.model == DIARIZE_MODEL
    if form.response_format == "diarized_json" and not diarizing:
        _refuse(f"response_format: diarized_json is given by {DIARIZE_MODEL} only", "response_format")
    if diarizing and form.response_format not in DIARIZE_FORMATS:
        _refuse(f"response_format: {DIARIZE_MODEL} answers json, text or diarized_json", "response_format")
    if diarizing and (form.prompt or form.timestamp_granularities):
        param = "prompt" if form.prompt else GRANULARITIES
        _refuse(f"{param}: {DIARIZE_MODEL} does not take it", param)
    if (
        form.known_speaker_names or form.known_speaker_references
    ) and form.response_format != "diarized_json":
        _refuse(f"{SPEAKER_NAMES}: known speakers are named in diarized_json only", SPEAKER_NAMES)
    if len(form.known_speaker_names) != len(form.known_speaker_references):
        _refuse(f"{SPEAKER_REFERENCES}: one reference for each of {SPEAKER_NAMES}", SPEAKER_REFERENCES)
    if any(not _is_audio_data_url(reference) for reference in form.known_speaker_references):
        _refuse(
            f"{SPEAKER_REFERENCES}: each is a data URL of audio (data:audio/...;base64,...)",
            SPEAKER_REFERENCES,
        )


def _is_audio_data_url(reference: str) -> bool:
    head, comma, _ = reference.partition(",")
    return bool(comma) and head.startswith("data:audio/") and head.endswith(";base64")


def _refuse(detail: str, param: str) -> NoReturn:
    code = (
        ErrorCode.UNSUPPORTED_RESPONSE_FORMAT
        if param == "response_format"
        else ErrorCode.UNSUPPORTED_PARAMETER
    )
    raise InvalidRequest(detail, code=code, param=param)


def known_speakers(form: TranscriptionForm) -> tuple[KnownSpeaker, ...]:
    from speech_common.engines.base import KnownSpeaker

    return tuple(
        KnownSpeaker(name=name, reference=reference)
        for name, reference in zip(form.known_speaker_names, form.known_speaker_references, strict=True)
    )
