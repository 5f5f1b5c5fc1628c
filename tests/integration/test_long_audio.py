"""Long recordings through the speech core: cut at silences, pieces in parallel, words joined in order."""

from __future__ import annotations

from functools import cache

import pytest

from speech_common.audio import AudioUpload
from speech_common.core import TranscriptionJob, transcribe
from speech_common.deadline import Deadline
from speech_common.errors import OperationFailed
from speech_common.long_audio import piece_seconds_for
from speech_common.settings import get_settings
from speech_common.transcode import encode_pcm
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import invoke, multipart_body, stt_event
from tests.tone_speech import RATE, WORDS, hear, hear_timed, recording

WORD_COUNT = 600  # twelve minutes: 0.6 s of sound and 0.6 s of silence a word


@cache
def long_mp3() -> tuple[bytes, str]:
    words = [WORDS[(i * 3) % len(WORDS)] for i in range(WORD_COUNT)]
    return encode_pcm(recording(words), sample_rate=RATE, fmt="mp3"), " ".join(words)


@cache
def long_ogg() -> bytes:
    """The same twelve minutes as Ogg Opus at 32 kbps: 2.9 MB, small enough to post inline."""
    words = long_mp3()[1].split()
    return encode_pcm(recording(words), sample_rate=RATE, fmt="opus")


@pytest.fixture
def hearing(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.transcriber = hear
    return fake_openai


def test_a_long_recording_is_cut_into_parallel_pieces_and_every_word_comes_back_in_order(
    hearing: FakeOpenAI,
) -> None:
    # Given a twelve-minute recording (longer than the 5 minutes sent whole)
    audio, words = long_mp3()
    # When it is transcribed
    transcript, route = transcribe(TranscriptionJob(AudioUpload(audio, "mp3"), language="en"), Deadline(60))
    # Then the upstream got several pieces, each under the piece size and together the whole recording
    pieces = [r for r in hearing.requests if r.path == "/v1/audio/transcriptions"]
    seconds = [duration_seconds(r.file_bytes or b"") for r in pieces]
    parallel = get_settings().stt_parallel_calls
    assert 2 <= len(pieces) <= parallel  # one round of parallel calls
    assert all(s <= piece_seconds_for(WORD_COUNT * 1.2, parallel) + 0.1 for s in seconds) and sum(
        seconds
    ) == pytest.approx(WORD_COUNT * 1.2, abs=3)
    # And each piece was FLAC with the request's language
    assert all(r.file_name == "audio.flac" and r.form.get("language") == "en" for r in pieces)
    # And the transcript holds every word once, in order
    assert transcript.text == words
    assert str(route) == "openai:whisper-1"


def test_timed_pieces_come_back_on_the_recordings_clock(hearing: FakeOpenAI) -> None:
    # Given the twelve-minute recording (word i sounds from i * 1.2 s for 0.6 s), an upstream whisper-1
    # that gives one segment a word, and a transcription asking for segment and word timings
    hearing.segmenter = hear_timed
    audio, words = long_mp3()
    job = TranscriptionJob(AudioUpload(audio, "mp3"), timings=True, words=True)
    # When it is transcribed (in several pieces)
    transcript, _ = transcribe(job, Deadline(60))
    assert hearing.calls("/v1/audio/transcriptions") >= 2
    # Then every word is a segment once, in order, starting where it sounds in the whole recording
    segments = transcript.segments or ()
    assert [s.text for s in segments] == words.split()
    assert all(s.start == pytest.approx(i * 1.2, abs=0.05) for i, s in enumerate(segments))
    assert all(s.end - s.start == pytest.approx(0.6, abs=0.05) for s in segments)
    # And so is every word timing; the text is the segments', the duration the whole recording
    assert [(w.word, round(w.start, 1)) for w in transcript.words or ()] == [
        (s.text, round(s.start, 1)) for s in segments
    ]
    assert transcript.text == words and transcript.duration == pytest.approx(WORD_COUNT * 1.2, abs=0.1)


def test_a_short_recording_is_sent_whole(hearing: FakeOpenAI) -> None:
    # Given a recording of a minute (under the 5 minutes that are cut)
    audio = encode_pcm(recording(["alpha", "bravo"] * 25), sample_rate=RATE, fmt="mp3")
    # When it is transcribed / Then one call carried it, as it was uploaded
    transcribe(TranscriptionJob(AudioUpload(audio, "mp3")), Deadline(30))
    (request,) = hearing.requests
    assert request.file_name == "audio.mp3" and request.file_bytes == audio


def test_an_upstream_500_on_one_piece_is_retried(hearing: FakeOpenAI) -> None:
    # Given an upstream whose first answer is a 500
    hearing.fail_next(500, times=1)
    # When the long recording is transcribed / Then that piece is asked again and the words are whole
    transcript, _ = transcribe(TranscriptionJob(AudioUpload(long_mp3()[0], "mp3")), Deadline(60))
    assert transcript.text == long_mp3()[1]
    pieces = hearing.calls("/v1/audio/transcriptions") - 1
    assert 2 <= pieces <= get_settings().stt_parallel_calls


def test_a_piece_that_keeps_failing_fails_the_whole_transcription(hearing: FakeOpenAI) -> None:
    # Given an upstream that refuses the key on every call
    hearing.api_key = "sk-another"
    # When the long recording is transcribed / Then it fails with the documented code
    with pytest.raises(OperationFailed) as failure:
        transcribe(TranscriptionJob(AudioUpload(long_mp3()[0], "mp3")), Deadline(60))
    assert failure.value.code == "upstream_auth_failed"


def test_the_offline_engine_serves_long_recordings_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the offline routes, and recordings over 20 s cut (short pieces: each a quick engine call)
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=local:local")
    monkeypatch.setenv("STT_SPLIT_ABOVE_SECONDS", "20")
    get_settings.cache_clear()
    audio = encode_pcm(recording(["alpha", "bravo"] * 30), sample_rate=RATE, fmt="mp3")  # 72 s
    # When it is transcribed / Then the local engine served it (tones are no speech: Whisper hears little)
    transcript, route = transcribe(TranscriptionJob(AudioUpload(audio, "mp3")), Deadline(60))
    assert str(route) == "local:local" and isinstance(transcript.text, str)


def test_a_recording_longer_than_the_synchronous_route_takes_is_refused_before_any_call(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a synchronous limit of 10 minutes and a twelve-minute recording sent to POST /api/stt/
    monkeypatch.setenv("SYNC_MAX_AUDIO_SECONDS", "600")
    get_settings.cache_clear()
    body = multipart_body({}, {"audio": ("meeting.ogg", long_ogg(), "audio/ogg")})
    # When it is posted / Then it is a 400 naming the limit (decoding stopped there: how much longer is not
    # known), and nothing was asked upstream
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 400 and response["json"]["code"] == "audio_too_long"
    assert "more than 10 min" in response["json"]["detail"]
    assert fake_openai.calls() == 0


def test_a_long_recording_within_the_limit_is_answered_in_one_request(hearing: FakeOpenAI) -> None:
    # Given the twelve-minute recording posted to POST /api/stt/ (within the default limit)
    body = multipart_body({}, {"audio": ("meeting.ogg", long_ogg(), "audio/ogg")})
    # When it is posted / Then the documented answer holds every word
    response = invoke("stt", stt_event(body))
    assert response["json"] == {"transcript": long_mp3()[1], "model": "whisper-1"}
