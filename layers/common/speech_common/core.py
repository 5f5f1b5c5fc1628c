"""The speech core: typed requests and a deadline in, typed results out. It knows nothing of HTTP.

Each door (the /api handlers today; a job worker or another API shape later) builds the request
and the deadline, calls `transcribe` or `synthesize`, and shapes its own answer. The core picks
the public model's route chain, runs it through the engines, and turns an upstream failure into
OperationFailed with a documented code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from speech_common.audio import AudioUpload
from speech_common.deadline import Deadline
from speech_common.engines import stt_engine, tts_engine
from speech_common.engines.base import SpeechRequest, TranscriptionRequest
from speech_common.errors import OperationFailed, UpstreamFailure
from speech_common.model_routing import Route, RoutePolicy, RouteTable, run_chain
from speech_common.models import TtsRequest
from speech_common.observability import logger, metrics, upstream_subsegment
from speech_common.settings import get_settings

STT_FAILED = "Transcription failed"
TTS_FAILED = "Speech synthesis failed"


@dataclass(frozen=True)
class TranscriptionJob:
    audio: AudioUpload
    model: str = "whisper-1"
    language: str | None = None


@dataclass(frozen=True)
class Transcript:
    text: str
    model: str  # the public model asked for; the Route says what served it


@dataclass(frozen=True)
class Speech:
    audio: bytes
    model: str
    voice: str
    response_format: str


def transcribe(job: TranscriptionJob, deadline: Deadline) -> tuple[Transcript, Route]:
    settings = get_settings()
    request = TranscriptionRequest(audio=job.audio, language=job.language)
    text, route = _serve(
        _chain(settings.stt_model_routes, job.model, STT_FAILED),
        settings.route_policy,
        lambda route: stt_engine(route.engine, settings).transcribe(
            request, upstream_model=route.upstream_model, deadline=deadline
        ),
        failure_detail=STT_FAILED,
    )
    metrics.add_metric(name="AudioBytesTranscribed", unit=MetricUnit.Bytes, value=len(job.audio.data))
    return Transcript(text=text.strip(), model=job.model), route


def synthesize(request: TtsRequest, deadline: Deadline) -> tuple[Speech, Route]:
    settings = get_settings()
    speech = SpeechRequest(
        text=request.text, voice=request.voice, response_format=request.response_format, speed=request.speed
    )
    audio, route = _serve(
        _chain(settings.tts_model_routes, request.model, TTS_FAILED),
        settings.route_policy,
        lambda route: tts_engine(route.engine, settings).synthesize(
            speech, upstream_model=route.upstream_model, deadline=deadline
        ),
        failure_detail=TTS_FAILED,
    )
    metrics.add_metric(name="CharactersSynthesized", unit=MetricUnit.Count, value=len(request.text))
    return Speech(audio, request.model, request.voice, request.response_format), route


def _chain(table: RouteTable, public_model: str, failure_detail: str) -> tuple[Route, ...]:
    chain = table.get(public_model)
    if not chain:  # settings refuse a table without every documented model; kept for hand-built ones
        raise OperationFailed(failure_detail, code=UpstreamFailure.NOT_CONFIGURED)
    return chain


def _serve[T](
    chain: tuple[Route, ...], policy: RoutePolicy, call: Callable[[Route], T], *, failure_detail: str
) -> tuple[T, Route]:
    """Run the route chain; an upstream failure becomes OperationFailed (`failure_detail` as its detail)."""

    def traced(route: Route) -> T:
        with upstream_subsegment(route.engine, route.upstream_model):
            return call(route)

    try:
        result, route = run_chain(chain, traced, policy)
    except UpstreamFailure as failure:
        logger.warning("upstream failure", extra={"code": failure.code, "reason": failure.message})
        metrics.add_metric(name="UpstreamFailures", unit=MetricUnit.Count, value=1)
        detail = f"{failure_detail}: {failure.client_hint}" if failure.client_hint else failure_detail
        raise OperationFailed(detail, code=failure.code) from None
    logger.append_keys(served_by=str(route))
    if route != chain[0]:
        metrics.add_metric(name="FallbackRouteUsed", unit=MetricUnit.Count, value=1)
    return result, route
