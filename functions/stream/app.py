"""POST /v1/audio/speech and /v1/audio/transcriptions (and translations): the /v1 door's audio, sent as it is made.

This function runs behind AWS's Lambda Web Adapter in response-stream mode (run.sh starts `app`, an ASGI app, on
uvicorn): API Gateway streams its answers, so speech starts playing while the rest is read, a transcript arrives
piece by piece, and no answer stops at Lambda's 6 MB. `lambda_handler` answers the API Gateway event that the ASGI
app rebuilds from the adapter's request; a route that streams hands its body over (http_kit.streaming).
"""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.doors.openai import PREFIX as OPENAI_PREFIX
from speech_common.doors.openai.routes import SPEECH_PATH, openai_speech_door, openai_transcription_door
from speech_common.http_kit.asgi import asgi_app
from speech_common.http_kit.resolver import Door, resolve
from speech_common.observability import logger, metrics
from speech_common.settings import require

# A bad configuration, or a resource of the template missing, fails the cold start naming its variable.
require("speech_bucket", "jobs_table", "jobs_queue_url")

# Speech takes JSON, transcriptions a form: a door each, so that each checks its own content type first.
DOORS = (Door(SPEECH_PATH, openai_speech_door), Door(OPENAI_PREFIX, openai_transcription_door))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(event, context, DOORS)


app = asgi_app(lambda_handler)  # what run.sh serves: the adapter's requests as events for lambda_handler
