"""POST /api/stt/: transcribe an audio file (or an upload) now; POST /api/stt/jobs/: queue the work."""

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
from speech_common.core import transcribe
from speech_common.jobs import create_stt_job
from speech_common.models import JobAccepted, SttResponse
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings
from speech_common.snapstart import register_hooks
from speech_common.storage import store_upload

app = create_resolver(expected_media_type=MULTIPART)
register_hooks("stt")  # SnapStart (opt in): the SDK and clients set up before the snapshot


@app.post("/api/stt")
def speech_to_text() -> Response[SttResponse]:
    job = read_stt_form(app.current_event).job(caller(app.current_event))
    refuse_audio_too_long_to_answer(job)
    transcript, route = transcribe(job, invocation_deadline(app.current_event, app.lambda_context))
    return served(SttResponse(transcript=transcript.text, model=transcript.model), route)


@app.post("/api/stt/jobs")
def speech_to_text_job() -> Response[JobAccepted]:
    form, owner, settings = read_stt_form(app.current_event), caller(app.current_event), get_settings()
    upload_id = form.form.upload_id or store_upload(settings, owner, form.job(owner).audio)
    job = create_stt_job(settings, owner, upload_id, form.form.model, form.form.language)
    status_url = api_url(app.current_event, f"/api/jobs/{job.job_id}")
    return created(JobAccepted(job_id=job.job_id, status=job.status, status_url=status_url), 202)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
