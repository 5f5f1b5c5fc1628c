"""What the routes call: pick the route chain for the public model, run it, shape the answer."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from speech_common.deadline import Deadline
from speech_common.engines import stt_engine, tts_engine, tts_input_limit
from speech_common.engines.base import SpeechRequest, TranscriptionRequest
from speech_common.errors import InvalidRequest, OperationFailed, PayloadTooLarge, UpstreamFailure
from speech_common.models import SttResponse, TtsRequest, TtsResponse
from speech_common.observability import logger, metrics
from speech_common.request_parsing import parse_stt_form
from speech_common.routes import Route, RouteConfigError, live_routes, parse_routes, run_chain
from speech_common.settings import Settings, get_settings

SERVED_BY_HEADER = "X-Speech-Engine"
STT_FAILED = "Transcription failed"
TTS_FAILED = "Speech synthesis failed"


@dataclass(frozen=True)
class Served:
    body: BaseModel
    route: Route

    def response(self) -> Response:
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=self.body,
            headers={SERVED_BY_HEADER: str(self.route)},
        )


@lru_cache(maxsize=8)
def _routes(spec: str) -> dict[str, tuple[Route, ...]]:
    return parse_routes(spec)


def _chain(spec: str, public_model: str, failed: str) -> tuple[Route, ...]:
    try:
        chain = _routes(spec).get(public_model)
    except RouteConfigError as exc:
        logger.error("bad route configuration", extra={"error": str(exc)})
        chain = None
    if not chain:
        raise OperationFailed(failed, code=UpstreamFailure.NOT_CONFIGURED)
    return chain


def _serve[T](chain: tuple[Route, ...], call: Callable[[Route], T], *, failed: str) -> tuple[T, Route]:
    """Run the route chain; an upstream failure becomes the documented 500 (`failed` as detail)."""
    try:
        result, route = run_chain(chain, call)
    except UpstreamFailure as failure:
        logger.warning("upstream failure", extra={"code": failure.code, "reason": failure.message})
        metrics.add_metric(name="UpstreamFailures", unit=MetricUnit.Count, value=1)
        raise OperationFailed(failed, code=failure.code) from None
    logger.append_keys(served_by=str(route))
    if route != chain[0]:
        metrics.add_metric(name="FallbackRouteUsed", unit=MetricUnit.Count, value=1)
    return result, route


def transcribe(event: APIGatewayProxyEvent, context: Any) -> Response:
    """POST /api/stt/: multipart form in, {"transcript", "model"} out."""
    settings = get_settings()
    audio, form = parse_stt_form(event, settings)
    chain = _chain(settings.stt_model_routes, form.model, STT_FAILED)
    request = TranscriptionRequest(audio=audio, language=form.language)
    deadline = Deadline.for_invocation(context, settings, request_time_epoch_ms=_received_at(event))
    transcript, route = _serve(
        chain,
        lambda route: stt_engine(route.engine, settings).transcribe(
            request, upstream_model=route.upstream_model, deadline=deadline
        ),
        failed=STT_FAILED,
    )
    metrics.add_metric(name="AudioBytesTranscribed", unit=MetricUnit.Bytes, value=len(audio.data))
    return Served(SttResponse(transcript=transcript.strip(), model=form.model), route).response()


def synthesize(request: TtsRequest, event: APIGatewayProxyEvent, context: Any) -> Response:
    """POST /api/tts/: validated JSON in, {"audio_base64", "model", "voice"} out."""
    settings = get_settings()
    chain = _chain(settings.tts_model_routes, request.model, TTS_FAILED)
    _check_text_length(request.text, chain)
    _check_audio_can_fit(request, settings)
    speech = SpeechRequest(
        text=request.text, voice=request.voice, response_format=request.response_format, speed=request.speed
    )
    deadline = Deadline.for_invocation(context, settings, request_time_epoch_ms=_received_at(event))
    audio, route = _serve(
        chain,
        lambda route: tts_engine(route.engine, settings).synthesize(
            speech, upstream_model=route.upstream_model, deadline=deadline
        ),
        failed=TTS_FAILED,
    )
    metrics.add_metric(name="CharactersSynthesized", unit=MetricUnit.Count, value=len(request.text))
    encoded = _base64_within_limit(audio, settings)
    response = TtsResponse(audio_base64=encoded, model=request.model, voice=request.voice)
    return Served(response, route).response()


def _received_at(event: APIGatewayProxyEvent) -> int | None:
    """When API Gateway received the request (ms since the epoch), if the event says."""
    value = event.request_context.raw_event.get("requestTimeEpoch")
    return value if isinstance(value, int) else None


def _check_text_length(text: str, chain: tuple[Route, ...]) -> None:
    live = live_routes(chain) or chain
    try:
        limit = tts_input_limit(live[0].engine)
    except UpstreamFailure:
        return  # the engine itself will fail with a documented code
    if len(text) > limit:
        raise InvalidRequest(f"text: at most {limit} characters (got {len(text)})", code="text_too_long")


# Lossless audio is large: bytes a second of speech (24 kHz 16-bit mono; flac about halves it), and a
# fast speaking pace, so that the estimate errs small and refuses only what surely cannot fit.
_LOSSLESS_BYTES_PER_SECOND = {"wav": 48_000, "pcm": 48_000, "flac": 24_000}
_FAST_CHARS_PER_SECOND = 18.0


def _check_audio_can_fit(request: TtsRequest, settings: Settings) -> None:
    """Refuse, before paying the upstream, lossless audio that cannot fit in Lambda's answer."""
    bytes_per_second = _LOSSLESS_BYTES_PER_SECOND.get(request.response_format)
    if bytes_per_second is None:
        return
    seconds = len(request.text) / _FAST_CHARS_PER_SECOND / request.speed
    encoded_bytes = seconds * bytes_per_second * 4 / 3
    if encoded_bytes > settings.max_response_body_bytes:
        raise PayloadTooLarge(
            f"{request.response_format} audio of this text (about {seconds:.0f} s) would be larger than "
            "the API can return; send shorter text or ask for mp3 or opus",
            code="response_too_large",
        )


def _base64_within_limit(audio: bytes, settings: Settings) -> str:
    # Lambda refuses responses over 6 MB: say so clearly instead of letting the gateway answer 502.
    encoded_size = 4 * ((len(audio) + 2) // 3)
    if encoded_size > settings.max_response_body_bytes:
        raise PayloadTooLarge(
            f"The synthesized audio ({len(audio)} bytes) is larger than the API can return; "
            "send shorter text or ask for response_format opus",
            code="response_too_large",
        )
    return base64.b64encode(audio).decode("ascii")
