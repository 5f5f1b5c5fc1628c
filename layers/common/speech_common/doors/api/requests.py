"""The /api door's requests in the core's terms: the STT form (a file or an upload) and the TTS body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from speech_common.audio import AudioUpload
from speech_common.doors.api.models import SttForm, SttJobForm, TtsRequest
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.http_kit.event import body_bytes
from speech_common.http_kit.forms import (
    read_form_parts,
    recognised_audio,
    refuse_files_other_than,
    validated_form,
)
from speech_common.settings import DIARIZE_MODEL, get_settings
from speech_common.transcript_formats import needs_timings

if TYPE_CHECKING:  # built by the routes that call the core: a 400 answer does not load it
    from speech_common.core import SynthesisRequest, TranscriptionJob

AUDIO_FIELD = "audio"


def synthesis_request(request: TtsRequest, owner: str) -> SynthesisRequest:
    """What this body asks the core for, for `owner` (the caller: whose speech cache it uses): the text as it is read
    (cleaned unless clean_text is false), which every later step sees: the budget, the cache, the engines, a job."""
    from speech_common.speakable_text import text_to_read  # here: an STT request does not load it

    text = text_to_read(request.text, clean=request.clean_text, field="text")
    from speech_common.core import SynthesisRequest

    return SynthesisRequest(
        text=text,
        model=request.model,
        voice=request.voice,
        response_format=request.response_format,
        speed=request.speed,
        owner=owner,
    )


def refuse_text_longer_than_a_job_takes(request: TtsRequest) -> None:
    limit = get_settings().tts_job_max_chars
    if len(request.text) > limit:
        raise InvalidRequest(
            f"text: {len(request.text):,} characters, more than a speech job takes ({limit:,})",
            code=ErrorCode.TEXT_TOO_LONG,
        )


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
        from speech_common.core import TranscriptionJob

        return TranscriptionJob(
            audio=audio,
            model=self.model,
            language=self.form.language,
            prompt=self.form.prompt,
            timings=needs_timings(self.form.response_format),
            diarize=self.form.diarize,
        )

    @property
    def model(self) -> str:
        """The public model that serves the form: the speaker model's route when speakers are asked for."""
        return DIARIZE_MODEL if self.form.diarize else self.form.model


def read_stt_form(event: APIGatewayProxyEvent, form_model: type[SttForm] = SttForm) -> SttFormData:
    """The audio file (recognised by content) or upload id, and the validated form fields: multipart, or urlencoded
    when there is no file (an upload id). The envelope (size, content type) was checked before the route ran.
    `form_model`: SttJobForm for the job route, whose audio may also be an audio_url."""
    files, fields, _ = read_form_parts(
        body_bytes(event), event.headers.get("content-type"), file_fields=frozenset({AUDIO_FIELD})
    )
    form = validated_form(form_model, fields)
    if form.diarize and form.prompt:
        raise InvalidRequest(
            "diarize: a diarizing model takes no prompt; send it without",
            code=ErrorCode.UNSUPPORTED_DIARIZATION,
            param="diarize",
        )
    if form.diarize and not needs_timings(form.response_format):
        raise InvalidRequest(
            f"diarize: speakers are given per segment; ask response_format verbose_json, srt or vtt "
            f"(got {form.response_format})",
            code=ErrorCode.UNSUPPORTED_DIARIZATION,
            param="diarize",
        )
    refuse_files_other_than(AUDIO_FIELD, files, "field")
    if isinstance(form, SttJobForm) and form.audio_url is not None:
        if AUDIO_FIELD in files or form.upload_id is not None:
            raise InvalidRequest(
                "send one of the file 'audio', the field 'upload_id' or the field 'audio_url'",
                code=ErrorCode.INVALID_FIELD,
            )
        return SttFormData(form=form, audio=None)
    if AUDIO_FIELD in files and form.upload_id is not None:
        raise InvalidRequest(
            "send either the file 'audio' or the field 'upload_id', not both", code=ErrorCode.INVALID_FIELD
        )
    if form.upload_id is not None:
        return SttFormData(form=form, audio=None)
    if AUDIO_FIELD not in files:
        raise InvalidRequest(
            "audio: a file is required (multipart field 'audio'), or the field 'upload_id'",
            code=ErrorCode.MISSING_FIELD,
        )
    return SttFormData(form=form, audio=recognised_audio(files[AUDIO_FIELD], AUDIO_FIELD))
