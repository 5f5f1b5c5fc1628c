"""POST /api/stt/: transcribe an audio file (or an upload) now; POST /api/stt/jobs/: queue the work.
POST /v1/audio/transcriptions (and translations): the OpenAI-shaped door to the same transcription."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.api.answers import (
    api_url,
    caller,
    created,
    invocation_deadline,
    refuse_audio_too_long_to_answer,
    served,
)
from speech_common.api.envelope import MULTIPART
from speech_common.api.multipart_form import read_stt_form
from speech_common.api.resolver import create_resolver
from speech_common.core import refuse_untimed, transcribe
from speech_common.errors import NotFound
from speech_common.jobs import create_stt_job
from speech_common.models import JobAccepted, SttResponse, SttVerboseResponse
from speech_common.observability import logger, metrics
from speech_common.openai_api.models import Transcription, TranscriptionVerbose
from speech_common.openai_api.resolver import create_openai_resolver, resolve
from speech_common.openai_api.transcriptions import read_transcription_form, transcription_answer
from speech_common.settings import get_settings
from speech_common.snapstart import register_hooks
from speech_common.storage import store_upload
from speech_common.transcript_formats import (
    TEXT_CONTENT_TYPE,
    TIMED_FORMATS,
    api_verbose_transcript,
    subtitles,
)

app = create_resolver(expected_media_type=MULTIPART)
v1 = create_openai_resolver(expected_media_type=MULTIPART)
register_hooks("stt")  # SnapStart (opt in): the SDK and clients set up before the snapshot


@app.post("/api/stt")
def speech_to_text() -> Response[SttResponse | SttVerboseResponse | str]:
    form = read_stt_form(app.current_event)
    response_format = form.form.response_format
    job = form.job(caller(app.current_event))
    refuse_audio_too_long_to_answer(job)
    transcript, route = transcribe(job, invocation_deadline(app.current_event, app.lambda_context))
    if response_format == "verbose_json":
        return served(SttVerboseResponse(**api_verbose_transcript(transcript)), route)
    if response_format == "json":
        return served(SttResponse(transcript=transcript.text, model=transcript.model), route)
    content_type, body = (
        (TEXT_CONTENT_TYPE, transcript.text)
        if response_format == "text"
        else subtitles(response_format, transcript.segments or ())
    )
    return served(body, route, content_type=content_type)


@app.post("/api/stt/jobs")
def speech_to_text_job() -> Response[JobAccepted]:
    form, owner, settings = read_stt_form(app.current_event), caller(app.current_event), get_settings()
    fields = form.form
    if fields.response_format in TIMED_FORMATS:
        refuse_untimed(fields.model)
    upload_id = fields.upload_id or store_upload(settings, owner, form.job(owner).audio)
    job = create_stt_job(
        settings,
        owner,
        upload_id,
        fields.model,
        fields.language,
        prompt=fields.prompt,
        response_format=fields.response_format,
    )
    status_url = api_url(app.current_event, f"/api/jobs/{job.job_id}")
    return created(JobAccepted(job_id=job.job_id, status=job.status, status_url=status_url), 202)


@v1.post("/v1/audio/transcriptions")
def openai_transcription() -> Response[Transcription | TranscriptionVerbose | str]:
    job, form = read_transcription_form(v1.current_event)
    return transcription_answer(job, form, invocation_deadline(v1.current_event, v1.lambda_context))


@v1.post("/v1/audio/translations")
def openai_translation() -> Response[Any]:
    # whisper-1 is OpenAI's only translation model and is shut down on 2027-02-26; its replacement
    # (gpt-transcribe) does not translate, and no engine here does. Refused rather than pretended.
    raise NotFound(
        "Translations are not served: whisper-1, OpenAI's only translation model, shuts down on 2027-02-26 "
        "and nothing replaces it. Transcribe with POST /v1/audio/transcriptions and translate the text",
        code="unsupported_endpoint",
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(event, context, api=app, v1=v1)
