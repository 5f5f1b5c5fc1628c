"""POST /api/uploads/: a presigned S3 POST for a large file; GET /api/jobs/{job_id}: a job's state; GET /api/usage:
the caller's budgets, spent and left;
GET /api/tts/voices/ and GET /v1/audio/voices: the voices each speech model speaks now;
GET /v1/models[/{model_id}]: the public models served (the OpenAI-shaped door).

Each door's routes are registered when its first request arrives.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common.doors.openai import PREFIX as OPENAI_PREFIX
from speech_common.http_kit.envelope import JSON
from speech_common.http_kit.event import caller
from speech_common.http_kit.resolver import Door, SpeechApiResolver, created, resolve
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings, require

# A bad configuration, or a resource of the template missing, fails the cold start naming its variable.
require("speech_bucket", "jobs_table")


def api_door() -> SpeechApiResolver:
    from speech_common.budgets import UNITS, WindowUsage, usage_of
    from speech_common.doors.api.jobs import JobStatus, job_status_of
    from speech_common.doors.api.models import (
        Spent,
        UploadRequest,
        UploadResponse,
        UsageResponse,
        UsageWindow,
        VoiceEntry,
        VoicesResponse,
    )
    from speech_common.doors.api.resolver import api_resolver
    from speech_common.jobs import get_job
    from speech_common.storage import presign_upload
    from speech_common.voices import voices_offered

    app = api_resolver(JSON)

    @app.post("/api/uploads")
    def new_upload(request: Annotated[UploadRequest | None, Body()] = None) -> Response[UploadResponse]:
        content_type = request.content_type if request else None
        upload = presign_upload(get_settings(), caller(app.current_event), content_type)
        return created(UploadResponse(**upload.__dict__))

    @app.get("/api/usage")
    def usage() -> UsageResponse:
        def window(spent: WindowUsage) -> UsageWindow:
            limits = {unit: Spent(used=spent.used[unit], limit=spent.limits[unit] or None) for unit in UNITS}
            resets_at = spent.window.resets_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            return UsageWindow(window=spent.window.name, resets_at=resets_at, **limits)

        day, month = usage_of(get_settings(), caller(app.current_event))
        return UsageResponse(day=window(day), month=window(month))

    @app.get("/api/tts/voices")
    def voices() -> VoicesResponse:
        offers = voices_offered(get_settings())
        return VoicesResponse(
            voices=[VoiceEntry(id=o.voice, name=o.name, models=list(o.models)) for o in offers]
        )

    @app.get("/api/jobs/<job_id>")
    def job_status(job_id: str) -> JobStatus:
        return job_status_of(get_job(get_settings(), caller(app.current_event), job_id))

    return app


def openai_door() -> SpeechApiResolver:
    from speech_common.doors.openai.catalog import served_model, served_models, served_voices
    from speech_common.doors.openai.models import ModelCard, ModelList, VoiceList
    from speech_common.doors.openai.resolver import openai_resolver

    v1 = openai_resolver(JSON)

    @v1.get("/v1/models")
    def openai_models() -> ModelList:
        return served_models()

    @v1.get("/v1/audio/voices")
    def openai_voices() -> VoiceList:
        return served_voices(get_settings())

    @v1.get("/v1/models/<model_id>")
    def openai_model(model_id: str) -> ModelCard:
        return served_model(model_id)

    return v1


DOORS = (Door(OPENAI_PREFIX, openai_door), Door("", api_door))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(event, context, DOORS)
