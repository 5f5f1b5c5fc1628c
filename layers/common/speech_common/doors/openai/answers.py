"""The /v1 door's answers: speech as the audio itself, transcripts as OpenAI shapes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from speech_common.audio import SPEECH_CONTENT_TYPES
from speech_common.doors.openai.models import Transcription, TranscriptionForm, TranscriptionVerbose
from speech_common.http_kit import answers
from speech_common.http_kit.resolver import served
from speech_common.transcript_formats import recording_seconds, rendered_text, segment_objects, word_objects

if TYPE_CHECKING:  # the core is loaded by the routes that call it: a 400 answer does not pay for it
    from speech_common.core import Speech, Transcript, TranscriptionJob
    from speech_common.model_routing import Route

# Content-Type of each format, as OpenAI labels its answers: /api's, but for opus (OpenAI names the codec, /api the
# Ogg container) and raw pcm. The template's BinaryMediaTypes list application/octet-stream (what the SDKs send as
# Accept) and audio/*, so API Gateway returns bytes.
OPENAI_SPEECH_CONTENT_TYPES = {**SPEECH_CONTENT_TYPES, "opus": "audio/opus", "pcm": "audio/pcm"}
_TOO_LARGE_WAY_OUT = 'ask for mp3 or opus, or use POST /api/tts/ with "delivery": "url" (a link to the audio)'
_TOO_LONG_WAY_OUT = "send it as a job: POST /api/stt/jobs/"


def refuse_audio_too_large_to_return(text: str, response_format: str, speed: float) -> None:
    answers.refuse_audio_too_large_to_return(text, response_format, speed, _TOO_LARGE_WAY_OUT)


def refuse_audio_too_long_to_answer(job: TranscriptionJob) -> None:
    answers.refuse_audio_too_long_to_answer(job, _TOO_LONG_WAY_OUT)


def speech_answer(speech: Speech, route: Route) -> Response[Any]:
    """The audio in the asked format, Content-Type per format, naming what served it."""
    answers.refuse_audio_too_large_to_answer(speech.audio, speech.response_format, _TOO_LARGE_WAY_OUT)
    # bytes: Powertools answers base64 with isBase64Encoded, which API Gateway decodes
    content_type = OPENAI_SPEECH_CONTENT_TYPES[speech.response_format]
    return served(speech.audio, route, content_type=content_type, cache=speech.cache)


def transcription_answer(transcript: Transcript, form: TranscriptionForm, route: Route) -> Response[Any]:
    """The transcript as OpenAI shapes it: json {"text"}, text/plain (a line), srt, vtt or verbose_json."""
    rendered = rendered_text(transcript, form.response_format)
    if rendered is not None:
        content_type, body = rendered
        return served(
            body + "\n" if form.response_format == "text" else body, route, content_type=content_type
        )
    if form.response_format == "verbose_json":
        segments = not form.timestamp_granularities or "segment" in form.timestamp_granularities
        # Written here, not by the resolver: a part not asked for is absent, as on OpenAI, not null.
        return served(verbose_transcription(transcript, segments).model_dump_json(exclude_none=True), route)
    return served(Transcription(text=transcript.text), route)


def verbose_transcription(transcript: Transcript, segments: bool) -> TranscriptionVerbose:
    """OpenAI's verbose_json: segments unless only words were asked for; words when they were."""
    timed = transcript.segments or ()
    return TranscriptionVerbose(
        language=transcript.language or "",
        duration=recording_seconds(transcript),
        text=transcript.text,
        segments=segment_objects(timed) if segments else None,  # pydantic makes the models of the dicts
        words=None if transcript.words is None else word_objects(transcript.words),
    )
