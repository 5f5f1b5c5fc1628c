"""POST /v1/audio/speech: the same synthesis as POST /api/tts/, answered with the audio itself."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from speech_common.api.answers import CACHE_HEADER, SERVED_BY_HEADER, refuse_audio_too_large_to_return
from speech_common.core import synthesize
from speech_common.deadline import Deadline
from speech_common.errors import InvalidRequest, PayloadTooLarge
from speech_common.models import TtsRequest
from speech_common.openai_api.models import SpeechBody
from speech_common.settings import get_settings

# Content-Type of each format, as OpenAI labels its answers. The template's BinaryMediaTypes list
# application/octet-stream (what the SDKs send as Accept) and audio/*, so API Gateway returns bytes.
SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
_TOO_LARGE = (
    "{fmt} audio of this text would be larger than the API can return (Lambda's 6 MB, base64-encoded); "
    'ask for mp3 or opus, or use POST /api/tts/ with "delivery": "url" (a link to the audio)'
)


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
        speed=float(body.speed),
    )


def speak(body: SpeechBody, deadline: Deadline) -> Response[Any]:
    """The audio in the asked format, Content-Type per format, naming what served it."""
    request = tts_request(body)
    try:
        refuse_audio_too_large_to_return(request)  # before paying the upstream
    except PayloadTooLarge:
        raise PayloadTooLarge(
            _TOO_LARGE.format(fmt=request.response_format), code="response_too_large"
        ) from None
    speech, route = synthesize(request, deadline)
    if 4 * ((len(speech.audio) + 2) // 3) > get_settings().max_response_body_bytes:
        raise PayloadTooLarge(_TOO_LARGE.format(fmt=request.response_format), code="response_too_large")
    headers = {SERVED_BY_HEADER: str(route)}
    if speech.cache is not None:
        headers[CACHE_HEADER] = speech.cache
    return Response(
        status_code=200,
        content_type=SPEECH_CONTENT_TYPES[speech.response_format],
        body=speech.audio,  # bytes: Powertools answers base64 with isBase64Encoded, which API Gateway decodes
        headers=headers,
    )
