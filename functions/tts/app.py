"""POST /api/tts/: turn text into speech; POST /api/tts/jobs/: queue a text of any length;
POST /v1/audio/speech: speech answered as OpenAI answers."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.api.answers import (
    api_url,
    caller,
    created,
    delivered,
    invocation_deadline,
    refuse_audio_too_large_to_return,
    refuse_text_longer_than_a_job_takes,
)
from speech_common.api.envelope import JSON
from speech_common.api.resolver import create_resolver
from speech_common.core import synthesize
from speech_common.jobs import create_tts_job
from speech_common.models import JobAccepted, TtsJobRequest, TtsRequest, TtsResponse, TtsUrlResponse
from speech_common.observability import logger, metrics
from speech_common.openai_api.models import SpeechBody
from speech_common.openai_api.resolver import create_openai_resolver, resolve
from speech_common.openai_api.speech import OPENAI_SPEECH_CONTENT_TYPES, speak
from speech_common.settings import get_settings
from speech_common.snapstart import register_hooks

app = create_resolver(expected_media_type=JSON)
v1 = create_openai_resolver(expected_media_type=JSON)
register_hooks("tts")  # SnapStart (opt in): the SDK and clients set up before the snapshot


@app.post("/api/tts")
def text_to_speech(request: Annotated[TtsRequest, Body()]) -> Response[TtsResponse | TtsUrlResponse]:
    refuse_audio_too_large_to_return(request)
    speech, route = synthesize(request, invocation_deadline(app.current_event, app.lambda_context))
    return delivered(speech, app.current_event, route)


@app.post("/api/tts/jobs")
def text_to_speech_job(request: Annotated[TtsJobRequest, Body()]) -> Response[JobAccepted]:
    refuse_text_longer_than_a_job_takes(request)
    job = create_tts_job(get_settings(), caller(app.current_event), request)
    status_url = api_url(app.current_event, f"/api/jobs/{job.job_id}")
    return created(JobAccepted(job_id=job.job_id, status=job.status, status_url=status_url), 202)


@v1.post(
    "/v1/audio/speech",
    responses={
        200: {
            "description": "The audio",
            "content": {
                ct: {"schema": {"type": "string", "format": "binary"}}
                for ct in OPENAI_SPEECH_CONTENT_TYPES.values()
            },
        }
    },
)
def openai_speech(body: Annotated[SpeechBody, Body()]):
    # No return annotation: Powertools would validate and JSON-encode the audio bytes against it.
    return speak(body, invocation_deadline(v1.current_event, v1.lambda_context))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(event, context, api=app, v1=v1)
