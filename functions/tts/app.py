"""POST /api/tts/: turn text into speech."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common import service
from speech_common.models import TtsRequest, TtsResponse
from speech_common.observability import logger, metrics
from speech_common.request_parsing import JSON, require_media_type
from speech_common.resolver import create_resolver

app = create_resolver(expected_media_type=JSON)


@app.post("/api/tts", middlewares=[require_media_type(JSON)])
def text_to_speech(request: Annotated[TtsRequest, Body()]) -> Response[TtsResponse]:
    return service.synthesize(request, app.current_event, app.lambda_context)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
