"""POST /api/tts/: turn text into speech; POST /v1/audio/speech: the same, answered as OpenAI answers."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.api.answers import delivered, invocation_deadline, refuse_audio_too_large_to_return
from speech_common.api.envelope import JSON
from speech_common.api.resolver import create_resolver
from speech_common.core import synthesize
from speech_common.models import TtsRequest, TtsResponse, TtsUrlResponse
from speech_common.observability import logger, metrics
from speech_common.openai_api.models import SpeechBody
from speech_common.openai_api.resolver import create_openai_resolver, resolve
from speech_common.openai_api.speech import SPEECH_CONTENT_TYPES, speak
from speech_common.snapstart import register_hooks

app = create_resolver(expected_media_type=JSON)
v1 = create_openai_resolver(expected_media_type=JSON)
register_hooks("tts")  # SnapStart (opt in): the SDK and clients set up before the snapshot


@app.post("/api/tts")
def text_to_speech(request: Annotated[TtsRequest, Body()]) -> Response[TtsResponse | TtsUrlResponse]:
    refuse_audio_too_large_to_return(request)
    speech, route = synthesize(request, invocation_deadline(app.current_event, app.lambda_context))
    return delivered(speech, app.current_event, route)


@v1.post(
    "/v1/audio/speech",
    responses={
        200: {
            "description": "The audio",
            "content": {
                ct: {"schema": {"type": "string", "format": "binary"}} for ct in SPEECH_CONTENT_TYPES.values()
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
