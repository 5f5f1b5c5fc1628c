"""POST /api/stt/: transcribe an uploaded audio file."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.api.answers import invocation_deadline, served
from speech_common.api.envelope import MULTIPART
from speech_common.api.multipart_form import read_stt_form
from speech_common.api.resolver import create_resolver
from speech_common.core import transcribe
from speech_common.models import SttResponse
from speech_common.observability import logger, metrics
from speech_common.snapstart import register_hooks

app = create_resolver(expected_media_type=MULTIPART)
register_hooks("stt")  # SnapStart (opt in): the SDK and clients set up before the snapshot


@app.post("/api/stt")
def speech_to_text() -> Response[SttResponse]:
    job = read_stt_form(app.current_event)
    transcript, route = transcribe(job, invocation_deadline(app.current_event, app.lambda_context))
    return served(SttResponse(transcript=transcript.text, model=transcript.model), route)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
