"""POST /v1/audio/speech: the same synthesis as POST /api/tts/, answered with the audio itself."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from speech_common.api.answers import fits_in_answer, refuse_audio_too_large_to_return, served
from speech_common.audio import SPEECH_CONTENT_TYPES
from speech_common.core import synthesize
from speech_common.deadline import Deadline
from speech_common.errors import InvalidRequest, PayloadTooLarge
from speech_common.models import TtsRequest
from speech_common.openai_api.models import SpeechBody

# Content-Type of each format, as OpenAI labels its answers: /api's, but for opus (OpenAI names the codec, /api the
# Ogg container) and raw pcm. The template's BinaryMediaTypes list application/octet-stream (what the SDKs send as
# Accept) and audio/*, so API Gateway returns bytes.
OPENAI_SPEECH_CONTENT_TYPES = {**SPEECH_CONTENT_TYPES, "opus": "audio/opus", "pcm": "audio/pcm"}
_WAY_OUT = 'ask for mp3 or opus, or use POST /api/tts/ with "delivery": "url" (a link to the audio)'


def tts_request(body: SpeechBody) -> TtsRequest:
    """The /api request this body asks for; 400 for what tts-1 and tts-1-hd cannot do."""
    if body.instructions and body.instructions.strip():
        raise InvalidRequest(
            "instructions: tts-1 and tts-1-hd do not take instructions; send none",
            code="unsupported_parameter",
            param="instructions",
        )
    return TtsRequest(
        text=body.input,
        model=body.model,
        voice=body.voice,
        response_format=body.response_format,
        speed=body.speed,
    )


def speak(body: SpeechBody, deadline: Deadline) -> Response[Any]:
    """The audio in the asked format, Content-Type per format, naming what served it."""
    request = tts_request(body)
    refuse_audio_too_large_to_return(request, _WAY_OUT)  # before paying the upstream
    speech, route = synthesize(request, deadline)
    if not fits_in_answer(speech.audio):
        raise PayloadTooLarge(
            f"{request.response_format} audio of this text ({len(speech.audio)} bytes) is larger than the API "
            f"can return (Lambda's 6 MB, base64-encoded); {_WAY_OUT}",
            code="response_too_large",
        )
    # bytes: Powertools answers base64 with isBase64Encoded, which API Gateway decodes
    content_type = OPENAI_SPEECH_CONTENT_TYPES[speech.response_format]
    return served(speech.audio, route, content_type=content_type, cache=speech.cache)
