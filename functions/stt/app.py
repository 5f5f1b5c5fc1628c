"""POST /api/stt/: transcribe an audio file (or an upload) now; POST /api/stt/jobs/: queue the work.

(/v1/audio/transcriptions is the streaming function's: functions/stream.)
"""

from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from speech_common import budgets
from speech_common.http_kit.envelope import MULTIPART, URLENCODED
from speech_common.http_kit.event import api_url, caller, invocation_deadline
from speech_common.http_kit.resolver import Door, SpeechApiResolver, created, resolve
from speech_common.observability import logger, metrics
from speech_common.settings import get_settings, require
from speech_common.snapstart import register_hooks

if TYPE_CHECKING:
    from speech_common.jobs import Job

register_hooks("stt")  # SnapStart (opt in): the upstream clients set up before the snapshot

# A bad configuration, or a resource of the template missing, fails the cold start naming its variable.
require("speech_bucket", "jobs_table", "jobs_queue_url")


def api_door() -> SpeechApiResolver:
    from speech_common.doors.api.answers import refuse_audio_too_long_to_answer, transcript_answer
    from speech_common.doors.api.models import JobAccepted, SttJobForm, SttResponse, SttVerboseResponse
    from speech_common.doors.api.requests import read_stt_form
    from speech_common.doors.api.resolver import api_resolver

    # urlencoded: a form with fields only (an upload id), as requests, httpx and fetch send it when there is no file
    app = api_resolver(MULTIPART, URLENCODED)

    @app.post("/api/stt")
    def speech_to_text() -> Response[SttResponse | SttVerboseResponse | str]:
        from speech_common.core import transcribe  # here: a refused request does not load the core

        form, owner = read_stt_form(app.current_event), caller(app.current_event)
        job = refuse_audio_too_long_to_answer(form.job(owner))
        # Measured: its seconds reserved before anything is sent upstream.
        seconds, settings = budgets.amount_of_seconds(job.audio.seconds), get_settings()
        with budgets.spending(settings, owner, budgets.AUDIO_SECONDS, seconds) as reservation:
            transcript, route = transcribe(job, invocation_deadline(app.current_event, app.lambda_context))
        budgets.pay_for_speech(settings, reservation, transcript.speech_seconds)  # silence costs nothing
        return transcript_answer(transcript, form.form.response_format, route)

    @app.post("/api/stt/jobs")
    def speech_to_text_job() -> Response[JobAccepted]:
        from speech_common.core import measured, refuse_speakerless, refuse_untimed
        from speech_common.jobs import (  # here: a /api/stt/ request does not load the jobs code
            JOB_TAKES,
            create_stt_job,
            create_stt_job_from_url,
            measure_upload,
        )
        from speech_common.storage import store_upload
        from speech_common.transcript_formats import needs_timings

        form = read_stt_form(app.current_event, SttJobForm)
        owner, settings = caller(app.current_event), get_settings()
        fields = form.form
        if fields.diarize:
            refuse_speakerless(form.model)
        if needs_timings(fields.response_format):
            refuse_untimed(form.model)
        assert isinstance(fields, SttJobForm)
        if (
            fields.audio_url is not None
        ):  # fetched and measured by the worker, which reserves its seconds then
            job = create_stt_job_from_url(
                settings,
                owner,
                fields.audio_url,
                form.model,
                fields.language,
                prompt=fields.prompt,
                response_format=fields.response_format,
                webhook_url=fields.webhook_url,
                diarize=fields.diarize,
            )
            return accepted(job)
        # Measured now, up to the job cap: one too long is refused, not queued.
        audio, length = None, None
        if fields.upload_id is None:
            audio = measured(form.job(owner).audio, settings.job_max_audio_seconds, JOB_TAKES)
            length = audio.seconds
        else:  # None when it could not be counted in time: the worker measures it, and reserves its seconds then
            deadline = invocation_deadline(app.current_event, app.lambda_context)
            length = measure_upload(settings, owner, fields.upload_id, deadline)
        # Over budget: refused here, nothing queued. A job that is not queued gives it back.
        seconds = budgets.amount_of_seconds(length)
        with budgets.spending(settings, owner, budgets.AUDIO_SECONDS, seconds) as reservation:
            if fields.upload_id is None:
                assert audio is not None
                upload_id = store_upload(settings, owner, audio)
            else:
                upload_id = fields.upload_id
            job = create_stt_job(
                settings,
                owner,
                upload_id,
                form.model,
                fields.language,
                prompt=fields.prompt,
                response_format=fields.response_format,
                budget=reservation,
                webhook_url=fields.webhook_url,
                diarize=fields.diarize,
            )
        return accepted(job)

    def accepted(job: "Job") -> Response[JobAccepted]:
        status_url = api_url(app.current_event, f"/api/jobs/{job.job_id}")
        return created(JobAccepted(job_id=job.job_id, status=job.status, status_url=status_url), 202)

    return app


DOORS = (Door("", api_door),)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(event, context, DOORS)
