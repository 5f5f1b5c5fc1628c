"""The /api door's answers: speech inline (audio_base64) or as a link, transcripts in the format asked."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from speech_common.audio import SPEECH_CONTENT_TYPES
from speech_common.doors.api.models import (
    SttResponse,
    SttVerboseResponse,
    TtsRequest,
    TtsResponse,
    TtsUrlResponse,
)
from speech_common.http_kit import answers
from speech_common.http_kit.event import caller
from speech_common.http_kit.resolver import served
from speech_common.settings import get_settings
from speech_common.transcript_formats import api_verbose_transcript, rendered_text

if TYPE_CHECKING:  # the core is loaded by the routes that call it: a 400 answer does not pay for it
    from speech_common.core import Speech, Transcript, TranscriptionJob
    from speech_common.model_routing import Route

_TOO_LARGE_WAY_OUT = 'ask for "delivery": "url" (a link to the audio), or mp3 or opus'
# Once made: mp3 was already too large, so the way out is a link or opus.
_MADE_TOO_LARGE_WAY_OUT = 'ask for "delivery": "url" (a link to the audio), or response_format opus'
_TOO_LONG_WAY_OUT = "send it as a job: POST /api/stt/jobs/"


def refuse_audio_too_large_to_return(request: TtsRequest) -> None:
    """413 before paying the upstream for lossless audio that cannot fit in the answer (a link always fits)."""
    if request.delivery != "url":
        answers.refuse_audio_too_large_to_return(
            request.text, request.response_format, request.speed, _TOO_LARGE_WAY_OUT
        )


def refuse_audio_too_long_to_answer(job: TranscriptionJob) -> TranscriptionJob:
    """`job`, its recording measured; 400 when it is too long to answer now (or cannot be decoded)."""
    return answers.refuse_audio_too_long_to_answer(job, _TOO_LONG_WAY_OUT)


def delivered(speech: Speech, delivery: str, event: APIGatewayProxyEvent, route: Route) -> Response[Any]:
    """The documented answer (audio_base64), or with "delivery": "url" a link to the audio in the bucket."""
    if delivery == "url":
        from speech_common.storage import store_result

        settings = get_settings()
        url = store_result(
            settings,
            caller(event),
            speech.audio,
            speech.response_format,
            SPEECH_CONTENT_TYPES[speech.response_format],
        )
        body: BaseModel = TtsUrlResponse(
            audio_url=url,
            expires_in=settings.result_url_expires_seconds,
            model=speech.model,
            voice=speech.voice,
        )
    else:
        body = TtsResponse(audio_base64=inline_base64(speech), model=speech.model, voice=speech.voice)
    return served(body, route, cache=speech.cache)


def inline_base64(speech: Speech) -> str:
    """The audio as base64 for a JSON answer, or 413 when Lambda could not return it (not the gateway's 502)."""
    answers.refuse_audio_too_large_to_answer(speech.audio, speech.response_format, _MADE_TOO_LARGE_WAY_OUT)
    return base64.b64encode(speech.audio).decode("ascii")


def transcript_answer(transcript: Transcript, response_format: str, route: Route) -> Response[Any]:
    """{"transcript", "model"} (documented), verbose_json's fields, or text, srt and vtt as themselves."""
    rendered = rendered_text(transcript, response_format)
    if rendered is not None:
        content_type, body = rendered
        return served(body, route, content_type=content_type)
    if response_format == "verbose_json":
        # Written here: a segment's speaker is absent, not null, when speakers were not asked for.
        verbose = SttVerboseResponse(**api_verbose_transcript(transcript))
        return served(verbose.model_dump_json(exclude_none=True), route)
    return served(SttResponse(transcript=transcript.text, model=transcript.model), route)
