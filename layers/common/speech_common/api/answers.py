"""What a route returns: this invocation's deadline, a served answer, audio that fits in it."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from speech_common.audio import SPEECH_CONTENT_TYPES as CONTENT_TYPES
from speech_common.core import Speech, TranscriptionJob, refuse_longer_than
from speech_common.deadline import Deadline
from speech_common.errors import InvalidRequest, PayloadTooLarge
from speech_common.model_routing import Route
from speech_common.models import TtsRequest, TtsResponse, TtsUrlResponse
from speech_common.settings import get_settings
from speech_common.storage import store_result

SERVED_BY_HEADER = "X-Speech-Engine"
CACHE_HEADER = "X-Speech-Cache"

# Lossless audio is large: bytes a second of speech (24 kHz 16-bit mono; flac about halves it), and a
# fast speaking pace, so that the estimate errs small and refuses only what surely cannot fit.
_LOSSLESS_BYTES_PER_SECOND = {"wav": 48_000, "pcm": 48_000, "flac": 24_000}
_FAST_CHARS_PER_SECOND = 18.0


def invocation_deadline(event: APIGatewayProxyEvent, context: Any) -> Deadline:
    """The upstream deadline of this invocation, counted from when API Gateway received the request."""
    received_at = event.request_context.raw_event.get("requestTimeEpoch")
    return Deadline.for_invocation(
        context, get_settings(), request_time_epoch_ms=received_at if isinstance(received_at, int) else None
    )


def caller(event: APIGatewayProxyEvent) -> str:
    """Who is asking: the API key's id on AWS (uploads and jobs belong to it), "local" under make serve."""
    identity = event.request_context.raw_event.get("identity") or {}
    key_id = identity.get("apiKeyId") if isinstance(identity, dict) else None
    if not key_id:  # the authorizer names the key it handed to the usage plan
        authorizer = event.request_context.raw_event.get("authorizer") or {}
        key_id = authorizer.get("apiKeyId") if isinstance(authorizer, dict) else None
    return str(key_id) if key_id else "local"


def api_url(event: APIGatewayProxyEvent, path: str) -> str:
    """An absolute URL of this API for `path` ("/api/jobs/x"), as the caller reached it."""
    host = event.headers.get("host") or "localhost"
    scheme = event.headers.get("x-forwarded-proto") or ("https" if host.endswith("amazonaws.com") else "http")
    context = event.request_context.raw_event
    stage = context.get("stage") if isinstance(context.get("stage"), str) else ""
    prefix = f"/{stage}" if stage and str(context.get("path", "")).startswith(f"/{stage}/") else ""
    return f"{scheme}://{host}{prefix}{path}"


def created(body: BaseModel, status_code: int = 201) -> Response[Any]:
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body)


def served(
    body: Any, route: Route, *, content_type: str = content_types.APPLICATION_JSON, cache: str | None = None
) -> Response[Any]:
    """200 with the body, naming what served it (and, for speech, whether the speech cache had it)."""
    headers = {SERVED_BY_HEADER: str(route)}
    if cache is not None:
        headers[CACHE_HEADER] = cache
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)


def fits_in_answer(audio: bytes) -> bool:
    """Whether Lambda can return the audio (base64-encoded, as API Gateway carries it): it refuses over 6 MB."""
    return 4 * ((len(audio) + 2) // 3) <= get_settings().max_response_body_bytes


def refuse_audio_too_long_to_answer(job: TranscriptionJob) -> None:
    """Refuse, before any upstream call, a recording longer than one request can transcribe in time."""
    what = "one request can transcribe in time; send it as a job: POST /api/stt/jobs/"
    refuse_longer_than(job.audio, get_settings().sync_max_audio_seconds, what)


def refuse_audio_too_large_to_return(
    request: TtsRequest, way_out: str = 'ask for "delivery": "url" (a link to the audio), or mp3 or opus'
) -> None:
    """Refuse, before paying the upstream, lossless audio that cannot fit in Lambda's answer."""
    if request.delivery == "url":
        return  # the answer carries a link, not the audio
    bytes_per_second = _LOSSLESS_BYTES_PER_SECOND.get(request.response_format)
    if bytes_per_second is None:
        return
    seconds = len(request.text) / _FAST_CHARS_PER_SECOND / request.speed
    encoded_bytes = seconds * bytes_per_second * 4 / 3
    if encoded_bytes > get_settings().max_response_body_bytes:
        raise PayloadTooLarge(
            f"{request.response_format} audio of this text (about {seconds:.0f} s) would be larger than "
            f"the API can return; {way_out}",
            code="response_too_large",
        )


def refuse_text_longer_than_a_job_takes(request: TtsRequest) -> None:
    limit = get_settings().tts_job_max_chars
    if len(request.text) > limit:
        raise InvalidRequest(
            f"text: {len(request.text):,} characters, more than a speech job takes ({limit:,})",
            code="text_too_long",
        )


def delivered(speech: Speech, event: APIGatewayProxyEvent, route: Route) -> Response[Any]:
    """The documented answer (audio_base64), or with "delivery": "url" a link to the audio in the bucket."""
    if speech.delivery == "url":
        settings = get_settings()
        url = store_result(
            settings,
            caller(event),
            speech.audio,
            speech.response_format,
            CONTENT_TYPES[speech.response_format],
        )
        body: BaseModel = TtsUrlResponse(
            audio_url=url,
            expires_in=settings.result_url_expires_seconds,
            model=speech.model,
            voice=speech.voice,
        )
    else:
        body = TtsResponse(audio_base64=inline_base64(speech.audio), model=speech.model, voice=speech.voice)
    return served(body, route, cache=speech.cache)


def inline_base64(audio: bytes) -> str:
    """The audio as base64 for a JSON answer, or 413 when Lambda could not return it."""
    # Lambda refuses responses over 6 MB: say so clearly instead of letting the gateway answer 502.
    if not fits_in_answer(audio):
        raise PayloadTooLarge(
            f"The synthesized audio ({len(audio)} bytes) is larger than the API can return; "
            'ask for "delivery": "url" (a link to the audio), or response_format opus',
            code="response_too_large",
        )
    return base64.b64encode(audio).decode("ascii")
