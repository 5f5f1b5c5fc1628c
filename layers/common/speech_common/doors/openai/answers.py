"""The /v1 door's answers: speech as the audio itself, transcripts as OpenAI shapes them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from speech_common.audio import SPEECH_CONTENT_TYPES
from speech_common.errors import SpeechError
from speech_common.http_kit import answers
from speech_common.http_kit.resolver import served
from speech_common.http_kit.streaming import SSE_CONTENT_TYPE, hand_over, sse_event
from speech_common.observability import logger

if TYPE_CHECKING:  # the core is loaded by the routes that call it: a 400 answer does not pay for it
    from speech_common.core import SpeechStream, Transcript, TranscriptionJob, TranscriptStream
    from speech_common.doors.openai.transcription_models import (
        TranscriptionDiarized,
        TranscriptionForm,
        TranscriptionVerbose,
    )
    from speech_common.model_routing import Route

# Content-Type of each format, as OpenAI labels its answers: /api's, but for opus (OpenAI names the codec, /api the
# Ogg container) and raw pcm. The template's BinaryMediaTypes list application/octet-stream (what the SDKs send as
# Accept) and audio/*, so API Gateway returns bytes.
OPENAI_SPEECH_CONTENT_TYPES = {**SPEECH_CONTENT_TYPES, "opus": "audio/opus", "pcm": "audio/pcm"}
_TOO_LONG_WAY_OUT = "send it as a job: POST /api/stt/jobs/"


def refuse_audio_too_long_to_answer(job: TranscriptionJob) -> TranscriptionJob:
    """`job`, its recording measured; 400 when it is too long to answer now (or cannot be decoded)."""
    return answers.refuse_audio_too_long_to_answer(job, _TOO_LONG_WAY_OUT)


def speech_stream_answer(stream: SpeechStream, route: Route, stream_format: str) -> Response[Any]:
    """The audio as it is made: its bytes (stream_format audio), or speech.audio.delta events then
    speech.audio.done (sse). After the first chunk the status is sent: a failure then ends an sse stream with an
    error event and cuts an audio stream short (no proper end), so that no client takes it for the whole."""
    if stream_format == "sse":
        hand_over(_speech_events(stream.chunks))
        return served(b"", route, content_type=SSE_CONTENT_TYPE, cache=stream.cache)
    hand_over(_logged_failure(stream.chunks))
    content_type = OPENAI_SPEECH_CONTENT_TYPES[stream.response_format]
    return served(b"", route, content_type=content_type, cache=stream.cache)


def _logged_failure(chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    except Exception as error:
        logger.warning("speech stream failed after its first byte", extra={"code": _code_of(error)})
        raise


def _speech_events(chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            yield sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()})
    except Exception as error:
        logger.warning("speech stream failed after its first byte", extra={"code": _code_of(error)})
        yield stream_error_event(error)
        return
    finally:
        _close(chunks)  # a client gone: the pieces still being read stop
    # tts-1 and tts-1-hd are billed by the character, not in tokens: there are none to count.
    usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    yield sse_event({"type": "speech.audio.done", "usage": usage})


def transcript_stream_answer(stream: TranscriptStream, route: Route) -> Response[Any]:
    """transcript.text.delta events as the text is heard, then transcript.text.done with the whole text, as the
    SDKs parse them (TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent). A failure after the first event
    ends the stream with an error event."""
    hand_over(_transcript_events(stream.deltas))
    return served(b"", route, content_type=SSE_CONTENT_TYPE)


def _transcript_events(deltas: Iterator[str]) -> Iterator[bytes]:
    heard: list[str] = []
    try:
        for delta in deltas:
            heard.append(delta)
            yield sse_event({"type": "transcript.text.delta", "delta": delta})
    except Exception as error:
        logger.warning("transcript stream failed after its first event", extra={"code": _code_of(error)})
        yield stream_error_event(error)
        return
    finally:
        _close(deltas)
    yield sse_event({"type": "transcript.text.done", "text": "".join(heard)})


def diarized_stream_answer(transcript: Transcript, route: Route) -> Response[Any]:
    """diarized_json with stream=true, as OpenAI streams gpt-4o-transcribe-diarize: for each segment a
    transcript.text.delta (its text, with segment_id) and a transcript.text.segment (its speaker and times), then
    transcript.text.done. Sent once the whole recording is heard (its labels are settled across pieces then)."""
    segments = diarized_transcription(transcript).segments

    def events() -> Iterator[bytes]:
        for segment in segments:
            yield sse_event(
                {"type": "transcript.text.delta", "delta": segment.text, "segment_id": segment.id}
            )
            yield sse_event(segment.model_dump())
        yield sse_event({"type": "transcript.text.done", "text": transcript.text})

    hand_over(events())
    return served(b"", route, content_type=SSE_CONTENT_TYPE)


def stream_error_event(error: Exception) -> bytes:
    """OpenAI's error object as a server-sent event: the SDKs raise APIError on an event with an `error` key."""
    if isinstance(error, SpeechError):
        message, code, param = error.detail, str(error.code), error.param
    else:  # a bug: nothing of it is shown
        message, code, param = "The stream failed", None, None
    body = {"message": message, "type": "server_error", "param": param, "code": code}
    return sse_event({"type": "error", "error": body})


def _close(iterator: Iterator[object]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _code_of(error: Exception) -> str:
    return str(error.code) if isinstance(error, SpeechError) else type(error).__name__


def transcription_answer(transcript: Transcript, form: TranscriptionForm, route: Route) -> Response[Any]:
    """The transcript as OpenAI shapes it: json {"text"}, text/plain (a line), srt, vtt or verbose_json."""
    # Here, as in the routes: the speech route's cold start does not build the transcription models.
    from speech_common.doors.openai.transcription_models import Transcription
    from speech_common.transcript_formats import rendered_text

    rendered = rendered_text(transcript, form.response_format)
    if rendered is not None:
        content_type, body = rendered
        return served(
            body + "\n" if form.response_format == "text" else body, route, content_type=content_type
        )
    if form.response_format == "diarized_json":
        return served(diarized_transcription(transcript), route)
    if form.response_format == "verbose_json":
        segments = not form.timestamp_granularities or "segment" in form.timestamp_granularities
        # Written here, not by the resolver: a part not asked for is absent, as on OpenAI, not null.
        return served(verbose_transcription(transcript, segments).model_dump_json(exclude_none=True), route)
    return served(Transcription(text=transcript.text), route)


def diarized_transcription(transcript: Transcript) -> TranscriptionDiarized:
    """OpenAI's diarized_json: the text, and each segment with its speaker (ids seg_0, seg_1, ... in order)."""
    from speech_common.doors.openai.transcription_models import (
        TranscriptionDiarized,
        TranscriptionDiarizedSegment,
    )
    from speech_common.transcript_formats import recording_seconds

    return TranscriptionDiarized(
        duration=recording_seconds(transcript),
        text=transcript.text,
        segments=[
            TranscriptionDiarizedSegment(
                id=f"seg_{number}", start=s.start, end=s.end, text=s.text, speaker=s.speaker or ""
            )
            for number, s in enumerate(transcript.segments or ())
        ],
    )


def verbose_transcription(transcript: Transcript, segments: bool) -> TranscriptionVerbose:
    """OpenAI's verbose_json: segments unless only words were asked for; words when they were."""
    from speech_common.doors.openai.transcription_models import TranscriptionVerbose
    from speech_common.languages import openai_name
    from speech_common.transcript_formats import recording_seconds, segment_objects, word_objects

    timed = transcript.segments or ()
    return TranscriptionVerbose(
        language=openai_name(transcript.language) or "",  # OpenAI's way: "english"
        duration=recording_seconds(transcript),
        text=transcript.text,
        segments=segment_objects(timed) if segments else None,  # pydantic makes the models of the dicts
        words=None if transcript.words is None else word_objects(transcript.words),
    )
