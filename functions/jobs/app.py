"""POST /api/uploads/: a presigned S3 POST for a large file; GET /api/jobs/{job_id}: a job's state."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.api.answers import caller, created
from speech_common.api.envelope import JSON
from speech_common.api.resolver import create_resolver
from speech_common.jobs import get_job
from speech_common.models import UploadRequest, UploadResponse
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings
from speech_common.storage import presign_upload

app = create_resolver(expected_media_type=JSON)


@app.post("/api/uploads")
def new_upload(request: Annotated[UploadRequest | None, Body()] = None) -> Response[UploadResponse]:
    content_type = request.content_type if request else None
    upload = presign_upload(get_settings(), caller(app.current_event), content_type)
    return created(UploadResponse(**upload.__dict__))


@app.get("/api/jobs/<job_id>")
def job_status(job_id: str) -> Response[Any]:
    job = get_job(get_settings(), caller(app.current_event), job_id)
    return Response(status_code=200, content_type="application/json", body=job.public())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
