"""The /v1 door's streamed answers through the streaming function's handler: speech as audio or server-sent events,
transcripts as events, and what a failure after the first byte does."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import av
import pytest

from speech_common.audio import AudioUpload
from speech_common.core import SpeechStream, TranscriptionJob, TranscriptStream, stream_transcription
from speech_common.deadline import Deadline
from speech_common.doors.openai.answers import speech_stream_answer, transcript_stream_answer
from speech_common.error_codes import ErrorCode
from speech_common.errors import OperationFailed, UpstreamFailure
from speech_common.http_kit.streaming import take_handed_over
from speech_common.model_routing import Route
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import header, multipart_body, streamed, stt_event, tts_event, with_api_key
from tests.integration.test_long_audio import long_mp3
from tests.samples import tone
from tests.tone_speech import hear

ROUTE = Route("openai", "tts-1")


def speech(body: dict[str, Any]) -> dict[str, Any]:
    return streamed("stream", tts_event(body, path="/v1/audio/speech"))


def events_of(body: bytes) -> list[dict[str, Any]]:
    """Server-sent events as the SDKs split them: blank-line separated, `data:` lines as JSON."""
    events = []
    for block in body.decode().split("\n\n"):
        if block.strip():
            lines = block.split("\n")
            assert all(line.startswith("data: ") for line in lines), block
            events.append(json.loads("\n".join(line.removeprefix("data: ") for line in lines)))
    return events


def body_of(response: dict[str, Any]) -> bytes:
    return base64.b64decode(response["body"])


def test_speech_as_server_sent_events_is_base64_audio_then_done(fake_openai: FakeOpenAI) -> None:
    # Given stream_format sse / When speech is asked for
    response = speech({"model": "tts-1", "input": "Hello there", "voice": "nova", "stream_format": "sse"})
    # Then 200 text/event-stream: speech.audio.delta events whose audio together is one mp3, then speech.audio.done
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "Content-Type") == "text/event-stream"
    events = events_of(body_of(response))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1) and len(events) >= 2
    assert events[-1]["type"] == "speech.audio.done"
    assert set(events[-1]["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    with av.open(io.BytesIO(audio)) as container:
        assert container.streams.audio[0].codec_context.name in ("mp3", "mp3float")
    # And it names what served it, as the audio answer does
    assert header(response, "X-Speech-Engine") == "openai:tts-1"


def test_speech_audio_is_streamed_with_its_format_and_no_6_mb_ceiling(fake_openai: FakeOpenAI) -> None:
    # Given 4,096 characters as wav (about 11 MB: over Lambda's buffered 6 MB) / When speech is asked for
    text = ("A sentence of moderate length for the test. " * 100)[:4096]
    fake_openai.max_speech_seconds = 600  # speech as long as the text, not the fake's short cap
    response = speech({"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"})
    # Then 200 audio/wav whose bytes are one wav, longer than 6 MB
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "Content-Type") == "audio/wav"
    audio = body_of(response)
    with av.open(io.BytesIO(audio)) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"
    assert len(audio) > 6 * 1024 * 1024


def test_a_v1_speech_request_never_hits_another_keys_cache_entry(
    fake_openai: FakeOpenAI, aws: dict[str, str]
) -> None:
    # Given a /v1 speech request of key-a, streamed and cached
    body = {"model": "tts-1", "input": "Your test results are ready.", "voice": "echo"}

    def as_key(key: str) -> dict[str, Any]:
        return streamed("stream", with_api_key(tts_event(body, path="/v1/audio/speech"), key))

    first = as_key("key-a")
    assert header(first, "X-Speech-Cache") == "miss"
    calls = fake_openai.calls("/v1/audio/speech")
    # When key-b sends the identical request
    other = as_key("key-b")
    # Then it is a miss for key-b, read by the upstream again, while key-a's own request is a hit
    assert other["statusCode"] == 200 and header(other, "X-Speech-Cache") == "miss"
    assert fake_openai.calls("/v1/audio/speech") == calls + 1
    again = as_key("key-a")
    assert header(again, "X-Speech-Cache") == "hit" and body_of(again) == body_of(first)


def failing_after_first(chunk: bytes) -> Iterator[bytes]:
    yield chunk
    raise OperationFailed("Speech synthesis failed", code=UpstreamFailure.TIMEOUT)


def test_a_failure_after_the_first_byte_ends_an_sse_stream_with_openais_error_event() -> None:
    # Given a stream whose second piece fails
    stream = SpeechStream(failing_after_first(b"\x01\x02"), "tts-1", "alloy", "mp3")
    # When the door answers it as server-sent events
    answer = speech_stream_answer(stream, ROUTE, "sse")
    events = events_of(b"".join(take_handed_over() or ()))
    # Then the status was 200, the audio sent first, and the stream ends with an error event the SDKs raise on
    assert answer.status_code == 200
    assert [e["type"] for e in events] == ["speech.audio.delta", "error"]
    assert events[1]["error"] == {
        "message": "Speech synthesis failed",
        "type": "server_error",
        "param": None,
        "code": ErrorCode.UPSTREAM_TIMEOUT,
    }


def test_a_failure_after_the_first_byte_cuts_an_audio_stream_short() -> None:
    # Given a stream whose second piece fails / When the door answers it as audio
    stream = SpeechStream(failing_after_first(b"\x01\x02"), "tts-1", "alloy", "mp3")
    speech_stream_answer(stream, ROUTE, "audio")
    chunks = take_handed_over()
    assert chunks is not None
    # Then the first bytes are sent, and the body raises rather than ending as if whole
    assert next(chunks) == b"\x01\x02"
    with pytest.raises(OperationFailed):
        next(chunks)


def transcription(fields: dict[str, str], audio: bytes) -> dict[str, Any]:
    body = multipart_body(fields, {"file": ("speech.mp3", audio, "audio/mpeg")})
    return streamed("stream", stt_event(body, path="/v1/audio/transcriptions"))


def test_a_streamed_transcript_is_delta_events_then_done(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that hears "turn left" / When a file is posted with stream=true
    fake_openai.transcript = "turn left"
    response = transcription({"model": "whisper-1", "stream": "true"}, tone("mp3"))
    # Then text/event-stream: the text as deltas, then transcript.text.done with the whole text
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "Content-Type") == "text/event-stream"
    events = events_of(body_of(response))
    assert events == [
        {"type": "transcript.text.delta", "delta": "turn left"},
        {"type": "transcript.text.done", "text": "turn left"},
    ]


@pytest.mark.parametrize("response_format", ["srt", "vtt", "verbose_json"])
def test_a_timed_format_cannot_be_streamed(fake_openai: FakeOpenAI, response_format: str) -> None:
    # Given stream=true with a timed format / When posted
    response = transcription(
        {"model": "whisper-1", "stream": "true", "response_format": response_format}, tone("mp3")
    )
    # Then 400 naming the parameter, and no upstream call
    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert (error["param"], error["code"]) == ("stream", "unsupported_parameter")
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_a_long_recording_streams_each_pieces_text_in_order(fake_openai: FakeOpenAI) -> None:
    # Given a twelve-minute recording (cut into pieces) and an upstream that hears its words
    fake_openai.transcriber = hear
    audio, words = long_mp3()
    # When it is streamed
    stream, route = stream_transcription(TranscriptionJob(AudioUpload(audio, "mp3")), Deadline(60))
    deltas = list(stream.deltas)
    # Then one delta a piece, in order, together every word once; the first was made before the call returned
    assert len(deltas) == fake_openai.calls("/v1/audio/transcriptions") >= 2
    assert "".join(deltas) == words
    assert str(route) == "openai:whisper-1"


def test_a_piece_that_fails_after_the_first_ends_the_transcript_with_an_error_event() -> None:
    # Given a transcript whose second piece fails for good
    def deltas() -> Iterator[str]:
        yield "turn left"
        raise OperationFailed("Transcription failed", code=UpstreamFailure.ERROR)

    # When the door answers it as events
    transcript_stream_answer(TranscriptStream(deltas(), "whisper-1"), Route("openai", "whisper-1"))
    events = events_of(b"".join(take_handed_over() or ()))
    # Then the first piece's text came, and the stream ends with an error event, not transcript.text.done
    assert events[0] == {"type": "transcript.text.delta", "delta": "turn left"}
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "upstream_error"
    assert len(events) == 2


class Pieces:
    """An iterator of audio chunks that records being closed, as the core's StreamedChunks stops its readers."""

    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Pieces:
        return self

    def __next__(self) -> bytes:
        return b"\x00\x01"

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_a_client_gone_closes_the_stream_so_the_pieces_stop(stream_format: str) -> None:
    # Given a streamed answer whose first chunk was sent
    pieces = Pieces()
    speech_stream_answer(SpeechStream(pieces, "tts-1", "alloy", "pcm"), ROUTE, stream_format)
    body = take_handed_over()
    assert isinstance(body, Iterator)
    next(body)
    # When the server closes the body (the client went away)
    body.close()  # type: ignore[attr-defined]
    # Then the core's chunks are closed too
    assert pieces.closed
