"""The /v1 door's audio routes, served by the streaming function: speech as it is made, transcriptions (as
server-sent events when `stream` is true), and translations refused."""

# No `from __future__ import annotations`: each door imports what its routes need when it is built, and Powertools
# reads a route's annotations then (a string annotation would be resolved in this module's globals).
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from speech_common import budgets
from speech_common.doors.openai.answers import OPENAI_SPEECH_CONTENT_TYPES, speech_stream_answer
from speech_common.doors.openai.models import SpeechBody
from speech_common.doors.openai.requests import synthesis_request
from speech_common.doors.openai.resolver import openai_resolver
from speech_common.error_codes import ErrorCode
from speech_common.errors import NotFound
from speech_common.http_kit.envelope import JSON, MULTIPART
from speech_common.http_kit.event import caller, invocation_deadline
from speech_common.http_kit.resolver import SpeechApiResolver
from speech_common.http_kit.streaming import SSE_CONTENT_TYPE, SSE_EVENT_SCHEMA
from speech_common.settings import get_settings

SPEECH_PATH = "/v1/audio/speech"


def openai_speech_door() -> SpeechApiResolver:
    """POST /v1/audio/speech (a JSON body)."""
    v1 = openai_resolver(JSON)

    @v1.post(
        SPEECH_PATH,
        responses={
            200: {
                "description": "The audio, sent as it is made (or server-sent events with stream_format sse)",
                "content": {
                    **{
                        ct: {"schema": {"type": "string", "format": "binary"}}
                        for ct in OPENAI_SPEECH_CONTENT_TYPES.values()
                    },
                    SSE_CONTENT_TYPE: {"schema": dict(SSE_EVENT_SCHEMA)},
                },
            }
        },
    )
    def openai_speech(body: Annotated[SpeechBody, Body()]):
        # No return annotation: Powertools would validate and JSON-encode the audio bytes against it.
        from speech_common.core import stream_speech  # here: a refused request does not load the core

        request, settings = synthesis_request(body, caller(v1.current_event)), get_settings()
        # Reserved before anything is sent upstream; a cache hit, or a failure before the first chunk that left the
        # upstream unpaid, gives it back (a failure after it was paid for).
        with budgets.spending(settings, request.owner, budgets.CHARACTERS, len(request.text)) as reservation:
            stream, route = stream_speech(request, invocation_deadline(v1.current_event, v1.lambda_context))
        if stream.cache == "hit":
            budgets.give_back(settings, reservation)
        return speech_stream_answer(stream, route, body.stream_format)

    return v1


def openai_transcription_door() -> SpeechApiResolver:
    """POST /v1/audio/transcriptions and /v1/audio/translations (multipart forms), and any other /v1 path."""
    # Here, not at the top: the speech door's cold start does not build the transcription models.
    from speech_common.doors.openai.answers import (
        diarized_stream_answer,
        refuse_audio_too_long_to_answer,
        transcript_stream_answer,
        transcription_answer,
    )
    from speech_common.doors.openai.requests import read_transcription_form
    from speech_common.doors.openai.transcription_models import (
        Transcription,
        TranscriptionDiarized,
        TranscriptionVerbose,
    )

    v1 = openai_resolver(MULTIPART)

    @v1.post("/v1/audio/transcriptions")
    def openai_transcription() -> Response[
        Transcription | TranscriptionVerbose | TranscriptionDiarized | str
    ]:
        from speech_common.core import stream_transcription, transcribe  # here: a 400 does not load the core

        job, form = read_transcription_form(v1.current_event)
        job = refuse_audio_too_long_to_answer(job)
        deadline = invocation_deadline(v1.current_event, v1.lambda_context)
        # Measured: its seconds reserved before anything is sent upstream.
        settings = get_settings()
        spend = (settings, caller(v1.current_event), budgets.AUDIO_SECONDS)
        seconds = budgets.amount_of_seconds(job.audio.seconds)
        if form.stream and form.response_format == "diarized_json":
            with budgets.spending(*spend, seconds) as reservation:
                transcript, route = transcribe(job, deadline)
            budgets.pay_for_speech(settings, reservation, transcript.speech_seconds)  # silence costs nothing
            return diarized_stream_answer(transcript, route)
        if form.stream:
            with budgets.spending(*spend, seconds) as reservation:
                stream, route = stream_transcription(job, deadline)
            budgets.pay_for_speech(settings, reservation, stream.speech_seconds)
            return transcript_stream_answer(stream, route)
        with budgets.spending(*spend, seconds) as reservation:
            transcript, route = transcribe(job, deadline)
        budgets.pay_for_speech(settings, reservation, transcript.speech_seconds)
        return transcription_answer(transcript, form, route)

    @v1.post("/v1/audio/translations")
    def openai_translation() -> Response[Any]:
        # whisper-1 is OpenAI's only translation model and is shut down on 2027-02-26; its replacement
        # (gpt-transcribe) does not translate, and no engine here does. Refused rather than pretended.
        raise NotFound(
            "Translations are not served: whisper-1, OpenAI's only translation model, shuts down on 2027-02-26 "
            "and nothing replaces it. Transcribe with POST /v1/audio/transcriptions and translate the text",
            code=ErrorCode.UNSUPPORTED_ENDPOINT,
        )

    return v1
