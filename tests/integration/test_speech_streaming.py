"""core.stream_speech against the fake upstreams: the first audio while the rest is made, in order, as one file.

Timing claims are checked by the order of events (the fake notes when it sent each answer's first and last
bytes, on the same monotonic clock), not by wall-clock thresholds.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from speech_common import core
from speech_common.core import PieceReader, SynthesisRequest, stream_speech, synthesize
from speech_common.deadline import Deadline
from speech_common.engines.openai_client import client_for
from speech_common.engines.openai_realtime.engine import CHUNK_GAP_SECONDS
from speech_common.engines.pcm import BYTES_PER_SAMPLE
from speech_common.error_codes import ErrorCode
from speech_common.errors import OperationFailed, UpstreamFailure
from speech_common.model_routing import Route
from speech_common.settings import get_settings
from speech_common.transcode import OUTPUT_FORMATS, OUTPUT_SAMPLE_RATE
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtimeServer

REALTIME_MODEL = "gpt-realtime-2.1-mini"
SENTENCE = "This sentence is part of a long text read aloud by the speech API. "
LONG_TEXT = (SENTENCE * 12).strip()  # ~800 characters: a short first piece and a few more


def pieces_of(text: str) -> list[str]:
    return core.stream_pieces(text, get_settings().tts_parallel_calls)


def paced(fake: FakeOpenAI, *, first: float = 0.05, per_char: float = 0.002) -> None:
    """Speech as OpenAI streams it, faster: its first bytes after `first` s, the rest over `per_char` s a character."""
    fake.first_audio_seconds = first
    fake.seconds_per_input_char = per_char
    fake.max_speech_seconds = 600.0  # audio of its real length (15 characters a second)


def whole(stream: core.SpeechStream) -> bytes:
    return b"".join(stream.chunks)


def piece_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("speech-piece")]


def wait_for_no_piece_threads(seconds: float = 3.0) -> list[threading.Thread]:
    until = time.monotonic() + seconds
    while piece_threads() and time.monotonic() < until:
        time.sleep(0.02)
    return piece_threads()


# -- the openai route ---------------------------------------------------------------------------------------------


def test_the_first_chunk_comes_before_any_upstream_answer_has_ended(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that streams speech at a pace, and a text of several pieces
    paced(fake_openai)
    # When the speech is streamed
    stream, route = stream_speech(SynthesisRequest(text=LONG_TEXT, response_format="mp3"), Deadline(30))
    first_chunk_made = time.monotonic()
    audio = whole(stream)
    # Then the first chunk was made after the upstream's first bytes, and before any answer (the first piece's
    # included) had ended: its audio is passed on as it comes
    assert route == Route("openai", "tts-1")
    assert min(fake_openai.first_audio_sent) < first_chunk_made < min(fake_openai.audio_finished)
    # And every piece was read, in parallel, each asked as PCM, and the whole decodes to all of them
    pieces = pieces_of(LONG_TEXT)
    asked = [request.json for request in fake_openai.requests]
    assert sorted(body["input"] for body in asked) == sorted(pieces)
    assert {body["response_format"] for body in asked} == {"pcm"}
    assert len(pieces) >= 3 and len(pieces[0]) <= core.FIRST_STREAM_PIECE_CHARS
    assert duration_seconds(audio) == pytest.approx(len("".join(pieces)) / 15, rel=0.05)


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_format_streams_as_one_valid_file(fake_openai: FakeOpenAI, fmt: str) -> None:
    # Given a paced upstream and a text of several pieces
    paced(fake_openai, first=0.0, per_char=0.0005)
    # When it is streamed in the format
    stream, _ = stream_speech(SynthesisRequest(text=LONG_TEXT, response_format=fmt), Deadline(30))
    chunks = list(stream.chunks)
    # Then it came in several chunks that together are the text's whole speech in that format
    assert len(chunks) > 1
    audio = b"".join(chunks)
    pcm_seconds = len(audio) / BYTES_PER_SAMPLE / OUTPUT_SAMPLE_RATE
    seconds = pcm_seconds if fmt == "pcm" else duration_seconds(audio)
    assert seconds == pytest.approx(len(LONG_TEXT) / 15, rel=0.05)
    assert stream.response_format == fmt


def test_a_short_text_is_one_call_streamed(fake_openai: FakeOpenAI) -> None:
    # Given a paced upstream / When a short text is streamed with a voice and speed
    paced(fake_openai)
    stream, _ = stream_speech(SynthesisRequest(text="Hello there.", voice="nova", speed=1.5), Deadline(10))
    audio = whole(stream)
    # Then there is speech from one upstream call, asked as pcm with the request's voice and speed
    assert duration_seconds(audio) > 0
    assert fake_openai.calls("/v1/audio/speech") == 1
    sent = fake_openai.last_request.json
    assert sent == {
        "model": "tts-1",
        "voice": "nova",
        "input": "Hello there.",
        "response_format": "pcm",
        "speed": 1.5,
    }


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "insufficient_quota", ErrorCode.UPSTREAM_RATE_LIMITED),
        (401, "invalid_api_key", ErrorCode.UPSTREAM_AUTH_FAILED),
    ],
)
def test_a_failure_before_the_first_chunk_is_raised_as_synthesize_raises_it(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, status: int, code: str, expected: ErrorCode
) -> None:
    # Given one attempt only, and an upstream that refuses the next call
    monkeypatch.setenv("UPSTREAM_MAX_ATTEMPTS", "1")
    request = SynthesisRequest(text="Hello there.")
    fake_openai.fail_next(status, code=code)
    with pytest.raises(OperationFailed) as buffered:
        synthesize(request, Deadline(10))
    fake_openai.fail_next(status, code=code)
    # When the same request is streamed against the same refusal
    with pytest.raises(OperationFailed) as streamed:
        stream_speech(request, Deadline(10))
    # Then stream_speech raises the same code and detail as synthesize did
    assert streamed.value.code == buffered.value.code == expected
    assert streamed.value.detail == buffered.value.detail


def test_an_entry_gone_before_the_first_chunk_passes_the_text_to_the_next(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chain whose first entry's model the upstream no longer serves
    monkeypatch.setenv("TTS_MODEL_ROUTES", "tts-1=openai:tts-1-hd,openai:tts-1;tts-1-hd=openai:tts-1-hd")
    del fake_openai.speech_models["tts-1-hd"]
    paced(fake_openai, first=0.0, per_char=0.0005)
    # When a text of several pieces is streamed
    stream, route = stream_speech(SynthesisRequest(text=LONG_TEXT), Deadline(30))
    audio = whole(stream)
    # Then the next entry served all of it
    assert route == Route("openai", "tts-1")
    assert duration_seconds(audio) == pytest.approx(len(LONG_TEXT) / 15, rel=0.05)
    # (the first entry's pieces asked before its refusal stopped them may be answered after the next began)
    served = [request.json["model"] for request in fake_openai.requests if request.json]
    assert served.count("tts-1") == len(pieces_of(LONG_TEXT))
    assert 1 <= served.count("tts-1-hd") <= len(pieces_of(LONG_TEXT))


def test_a_failure_after_the_first_chunk_ends_the_stream_with_operation_failed(
    fake_openai: FakeOpenAI,
) -> None:
    # Given an upstream that reads slower than the deadline allows (its first bytes at once)
    paced(fake_openai, first=0.0, per_char=0.02)
    stream, route = stream_speech(SynthesisRequest(text=LONG_TEXT), Deadline(1.6))
    received = [next(stream.chunks)]
    # When the rest is read / Then the stream ends with the timeout, not as if it were whole, and no other entry
    with pytest.raises(OperationFailed) as failed:
        received.extend(stream.chunks)
    assert failed.value.code == ErrorCode.UPSTREAM_TIMEOUT
    assert route == Route("openai", "tts-1")
    assert {request.json["model"] for request in fake_openai.requests} == {"tts-1"}
    assert wait_for_no_piece_threads() == []


def test_closing_the_chunks_stops_the_pieces_still_being_read(fake_openai: FakeOpenAI) -> None:
    # Given a stream whose pieces take seconds to read
    paced(fake_openai, first=0.0, per_char=0.01)
    text = (SENTENCE * 30).strip()
    stream, _ = stream_speech(SynthesisRequest(text=text), Deadline(30))
    next(stream.chunks)
    assert piece_threads()
    # When the consumer goes away
    stream.chunks.close()  # type: ignore[attr-defined]
    # Then the readers stop at their next chunk, long before their answers would end
    assert wait_for_no_piece_threads() == []
    assert len(fake_openai.audio_finished) == 0


def test_closing_before_the_first_next_stops_the_pieces_too(fake_openai: FakeOpenAI) -> None:
    # Given a stream whose pieces take seconds to read
    paced(fake_openai, first=0.0, per_char=0.01)
    stream, _ = stream_speech(SynthesisRequest(text=(SENTENCE * 30).strip()), Deadline(30))
    # When its chunks are closed before any was asked for
    stream.chunks.close()  # type: ignore[attr-defined]
    # Then the piece readers stop too
    assert wait_for_no_piece_threads() == []


def test_the_speech_cache_streams_a_hit_and_keeps_a_whole_miss(
    fake_openai: FakeOpenAI, aws: dict[str, str]
) -> None:
    # Given an opus request not yet cached / When it is streamed twice, then synthesized
    # Then the first is a miss kept once whole, and the others serve its bytes from the cache
    request = SynthesisRequest(text=LONG_TEXT, response_format="opus")
    # A miss is streamed from the upstream, and kept once whole
    stream, _ = stream_speech(request, Deadline(30))
    assert stream.cache == "miss"
    first = whole(stream)
    calls = fake_openai.calls("/v1/audio/speech")
    # The same request again: the same bytes, from the cache, no upstream call
    again, _ = stream_speech(request, Deadline(30))
    assert again.cache == "hit"
    assert whole(again) == first
    assert fake_openai.calls("/v1/audio/speech") == calls
    # And synthesize, under the same key, serves it too
    speech, _ = synthesize(request, Deadline(30))
    assert speech.cache == "hit" and speech.audio == first


def test_the_speech_cache_is_its_owners_for_synthesize_and_stream_speech(
    fake_openai: FakeOpenAI, aws: dict[str, str]
) -> None:
    # Given a text read once for owner a, streamed
    request = SynthesisRequest(text=LONG_TEXT, response_format="opus", owner="key-a")
    whole(stream_speech(request, Deadline(30))[0])
    calls = fake_openai.calls("/v1/audio/speech")
    # When owner b asks for the same text, voice and format, streamed and then whole
    other = dataclasses.replace(request, owner="key-b")
    stream, _ = stream_speech(other, Deadline(30))
    # Then b's stream is a miss, read by the upstream (not a's entry)
    assert stream.cache == "miss"
    whole(stream)
    assert fake_openai.calls("/v1/audio/speech") > calls
    # And synthesize for a third owner misses too, while a and b each hit their own entry
    assert synthesize(dataclasses.replace(request, owner="key-c"), Deadline(30))[0].cache == "miss"
    assert synthesize(request, Deadline(30))[0].cache == "hit"
    assert stream_speech(other, Deadline(30))[0].cache == "hit"


def test_a_stream_left_unfinished_is_not_kept(fake_openai: FakeOpenAI, aws: dict[str, str]) -> None:
    # Given a stream closed after its first chunk
    request = SynthesisRequest(text=LONG_TEXT)
    stream, _ = stream_speech(request, Deadline(30))
    next(stream.chunks)
    stream.chunks.close()  # type: ignore[attr-defined]
    # When the same request is streamed again
    again, _ = stream_speech(request, Deadline(30))
    # Then it is a miss: the unfinished audio was not cached
    assert again.cache == "miss"
    whole(again)


# -- the realtime route --------------------------------------------------------------------------------------------


@pytest.fixture
def realtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeServer]:
    client_for.cache_clear()
    server = FakeRealtimeServer(api_key="sk-test").start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.http_base_url)
    monkeypatch.setenv("OPENAI_REALTIME_BASE_URL", server.websocket_base_url)
    monkeypatch.setenv(
        "TTS_MODEL_ROUTES",
        f"tts-1=openai-realtime:{REALTIME_MODEL};tts-1-hd=openai-realtime:{REALTIME_MODEL}",
    )
    try:
        yield server
    finally:
        server.stop()
        client_for.cache_clear()
    assert server.protocol_errors == []


def expected_realtime_pcm(fake: FakeRealtimeServer, text: str) -> bytes:
    """The fake's speech of each piece, in the text's order, with the engine's gap between pieces."""
    gap = bytes(round(CHUNK_GAP_SECONDS * OUTPUT_SAMPLE_RATE) * BYTES_PER_SAMPLE)
    pieces = pieces_of(text)
    return gap.join(fake.pcm_for(piece) for piece in pieces)


def varied_text() -> str:
    """Sentences of different lengths and words: each piece's speech (the fake's tone) differs from the others."""
    return " ".join(f"Sentence number {n} says {'very ' * (n % 5)}little of note." for n in range(1, 16))


def test_realtime_pieces_are_sent_each_once_read_in_the_text_order(realtime: FakeRealtimeServer) -> None:
    # Given a text of several pieces, each spoken as a tone of its own
    text = varied_text()
    # When it is streamed as raw PCM
    stream, route = stream_speech(SynthesisRequest(text=text, response_format="pcm"), Deadline(30))
    audio = whole(stream)
    # Then the audio is every piece's speech in the text's order, joined with the engine's gap
    assert route == Route("openai-realtime", REALTIME_MODEL)
    assert audio == expected_realtime_pcm(realtime, text)
    assert len(realtime.spoken) == len(pieces_of(text)) > 2


def test_realtime_first_chunk_comes_once_the_first_piece_is_checked_not_after_the_whole(
    realtime: FakeRealtimeServer,
) -> None:
    # Given a realtime upstream at a pace: a piece's audio over 0.01 s a character
    realtime.seconds_per_input_char = 0.01
    text = (SENTENCE * 10).strip()
    stream, _ = stream_speech(SynthesisRequest(text=text, response_format="pcm"), Deadline(30))
    # When the first chunk is there / Then it is the first piece's whole speech, while later pieces are still read
    first = next(stream.chunks)
    pieces = pieces_of(text)
    assert first == realtime.pcm_for(pieces[0])
    assert len(realtime.spoken) < len(pieces) or piece_threads()
    assert b"".join([first, *stream.chunks]) == expected_realtime_pcm(realtime, text)


def test_a_reworded_realtime_piece_is_read_again_before_any_of_it_is_sent(
    realtime: FakeRealtimeServer,
) -> None:
    # Given a model that rewords its first answer
    realtime.reword_times = 1
    text = varied_text()
    # When the text is streamed
    stream, _ = stream_speech(SynthesisRequest(text=text, response_format="pcm"), Deadline(30))
    audio = whole(stream)
    # Then the reworded take was asked again, and nothing of it was sent: the audio is exactly the text's
    assert any(spoken.transcript != spoken.text for spoken in realtime.spoken)
    assert len(realtime.spoken) == len(pieces_of(text)) + 1
    assert audio == expected_realtime_pcm(realtime, text)


def test_a_realtime_piece_reworded_twice_fails_the_stream_before_its_audio(
    realtime: FakeRealtimeServer,
) -> None:
    # Given a realtime model that always rewords its answer
    realtime.reword = True
    # When a text is streamed
    with pytest.raises(OperationFailed) as failed:
        stream_speech(SynthesisRequest(text=varied_text()), Deadline(30))
    # Then stream_speech fails with a verbatim mismatch before giving any audio, and the readers stop
    assert failed.value.code == ErrorCode.VERBATIM_MISMATCH
    assert wait_for_no_piece_threads() == []


# -- the pieces' reader --------------------------------------------------------------------------------------------


def test_pieces_are_given_in_order_whatever_order_they_finish_in() -> None:
    # Given pieces whose reading takes longer the earlier they are
    finished: list[str] = []

    def read(piece: str) -> Iterator[bytes]:
        time.sleep(0.05 * (3 - int(piece)))
        finished.append(piece)
        yield piece.encode() * 2
        yield piece.encode()

    # When three are read in parallel and their chunks taken in turn
    reader = PieceReader(["0", "1", "2"], read, parallel=3, deadline=Deadline(10))
    given = [b"".join(chunks) for chunks in reader.pieces()]
    reader.stop()
    # Then they finished last first, and were given first first
    assert finished == ["2", "1", "0"]
    assert given == [b"000", b"111", b"222"]


def test_a_later_piece_failing_is_raised_when_the_consumer_waits() -> None:
    # Given a second piece that fails at once while the first is still being read
    release = threading.Event()

    def read(piece: str) -> Iterator[bytes]:
        if piece == "1":
            raise UpstreamFailure(UpstreamFailure.RATE_LIMITED, "slow down")
        yield b"a"
        release.wait(5)  # the first piece is still being read when the second fails
        yield b"b"

    # When the consumer takes the first piece's first chunk, then waits for its next
    reader = PieceReader(["0", "1"], read, parallel=2, deadline=Deadline(10))
    first = reader.pieces()
    chunks = next(first)
    assert next(chunks) == b"a"
    # Then the second piece's failure is raised there
    with pytest.raises(UpstreamFailure) as failed:
        next(chunks)
    release.set()
    reader.stop()
    assert failed.value.code == UpstreamFailure.RATE_LIMITED


def test_at_most_parallel_pieces_are_read_at_once() -> None:
    # Given a reader that notes how many pieces are being read at once
    lock = threading.Lock()
    running, most = 0, 0

    def read(piece: str) -> Iterator[bytes]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        yield piece.encode()

    # When eight pieces are read with parallel=3
    reader = PieceReader([str(n) for n in range(8)], read, parallel=3, deadline=Deadline(10))
    # Then all come out in order, and never more than three were read at once
    assert b"".join(b"".join(chunks) for chunks in reader.pieces()) == b"01234567"
    reader.stop()
    assert most == 3
