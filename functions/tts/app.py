"""POST /api/tts/: turn text into speech; POST /api/tts/jobs/: queue a text of any length.

(/v1/audio/speech is the streaming function's: functions/stream.) The jobs route loads the jobs code on its first
request.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common import budgets
from speech_common.http_kit.envelope import JSON
from speech_common.http_kit.event import api_url, caller, invocation_deadline
from speech_common.http_kit.resolver import Door, SpeechApiResolver, created, resolve
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings, require
from speech_common.snapstart import register_hooks

register_hooks("tts")  # SnapStart (opt in): the upstream clients set up before the snapshot

# A bad configuration, or a resource of the template missing, fails the cold start naming its variable.
require("speech_bucket", "jobs_table", "jobs_queue_url")


def api_door() -> SpeechApiResolver:
    from speech_common.doors.api.answers import delivered, refuse_audio_too_large_to_return
    from speech_common.doors.api.models import (
        JobAccepted,
        TtsJobRequest,
        TtsRequest,
        TtsResponse,
        TtsUrlResponse,
    )
    from speech_common.doors.api.requests import refuse_text_longer_than_a_job_takes, synthesis_request
    from speech_common.doors.api.resolver import api_resolver

    app = api_resolver(JSON)

    @app.post("/api/tts")
    def text_to_speech(request: Annotated[TtsRequest, Body()]) -> Response[TtsResponse | TtsUrlResponse]:
        from speech_common.core import synthesize  # here: a refused request does not load the core

        refuse_audio_too_large_to_return(request)
        deadline = invocation_deadline(app.current_event, app.lambda_context)
        wanted, settings = synthesis_request(request, caller(app.current_event)), get_settings()
        # Reserved before the core sends anything upstream; a cache hit, or a failure before the upstream was paid,
        # gives it back.
        with budgets.spending(settings, wanted.owner, budgets.CHARACTERS, len(wanted.text)) as reservation:
            speech, route = synthesize(wanted, deadline)
        if speech.cache == "hit":
            budgets.give_back(settings, reservation)
        return delivered(speech, request.delivery, app.current_event, route)

    @app.post("/api/tts/jobs")
    def text_to_speech_job(request: Annotated[TtsJobRequest, Body()]) -> Response[JobAccepted]:
        from speech_common.jobs import create_tts_job  # here: a /api/tts/ request does not load the jobs code

        refuse_text_longer_than_a_job_takes(request)
        owner, settings = caller(app.current_event), get_settings()
        wanted = synthesis_request(request, owner)
        # Over budget: refused here, nothing queued. A job that is not queued gives it back.
        with budgets.spending(settings, owner, budgets.CHARACTERS, len(wanted.text)) as reservation:
            job = create_tts_job(settings, owner, wanted, budget=reservation, webhook_url=request.webhook_url)
        status_url = api_url(app.current_event, f"/api/jobs/{job.job_id}")
        return created(JobAccepted(job_id=job.job_id, status=job.status, status_url=status_url), 202)

    return app


DOORS = (Door("", api_door),)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(event, context, DOORS)
