"""Only speech goes upstream, on every transcription path: a recording with no speech is heard as nothing with no
upstream call, and one with long pauses sends its speech only, its timings still the recording's.

The fake upstream hears words where there are none, as Whisper does on silence (`hallucination`): a phrase for a
silent file, and the phrase again for each long silence in a file. Where the pass works, the phrase never appears.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import pytest

from speech_common.audio import AudioUpload
from speech_common.core import TranscriptionJob, stream_transcription, transcribe
from speech_common.deadline import Deadline
from speech_common.transcode import encode_pcm
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    FakeLambdaContext,
    invoke,
    job_status,
    load_handler,
    multipart_body,
    run_worker,
    streamed,
    stt_event,
    with_api_key,
)
from tests.tone_speech import RATE, hear, hear_timed, recording, silence

PHANTOM = "the quick brown fox jumps over the lazy dog"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
SILENT_SECONDS = 30.0


@cache
def silent_wav() -> bytes:
    return encode_pcm(silence(SILENT_SECONDS), sample_rate=RATE, fmt="wav", output_rate=RATE)


# A meeting: three turns of words (0.6 s each, 0.6 s apart), with 40 s and then 60 s of silence between them.
TURNS = (("alpha", "bravo", "charlie"), ("delta", "echo", "foxtrot", "golf"), ("hotel", "alpha"))
PAUSES = (40.0, 60.0, 0.0)


@cache
def meeting(rounds: int = 1) -> tuple[bytes, list[tuple[float, str]]]:
    """The meeting (each turn's words said `rounds` times over) as 16 kHz PCM, and when each word starts."""
    pcm, said, at = b"", [], 0.0
    for words, pause in zip(TURNS, PAUSES, strict=True):
        turn_words = list(words) * rounds
        turn = recording(turn_words)
        said += [(at + 1.2 * index, word) for index, word in enumerate(turn_words)]
        pcm += turn + silence(pause)
        at += len(turn) / 2 / RATE + pause
    return pcm, said


def meeting_file(fmt: str = "mp3", rounds: int = 1) -> bytes:
    return encode_pcm(meeting(rounds)[0], sample_rate=RATE, fmt=fmt, output_rate=RATE)


def meeting_seconds(rounds: int = 1) -> float:
    return len(meeting(rounds)[0]) / 2 / RATE


def spoken(rounds: int = 1) -> str:
    return " ".join(word for _, word in meeting(rounds)[1])


# Long enough a meeting to be cut into pieces (at least 30 s each) once its speech is past a minute: 108 s of words.
LONG = 12


@pytest.fixture
def whisper_like(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """An upstream that hears the tones' words, their times, and a phrase in every long silence."""
    fake_openai.transcriber = hear
    fake_openai.segmenter = hear_timed
    fake_openai.hallucination = PHANTOM
    return fake_openai


def sent_seconds(fake: FakeOpenAI) -> float:
    return sum(duration_seconds(r.file_bytes or b"") for r in fake.requests if r.path == TRANSCRIPTIONS)


def api_stt(fields: dict[str, str], audio: bytes, path: str = "/api/stt/") -> dict[str, Any]:
    body = multipart_body(fields, {"audio": ("meeting.wav", audio, "audio/wav")})
    return invoke("stt", with_api_key(stt_event(body, path=path), "key-a"))


def api_subtitles(response_format: str, audio: bytes) -> dict[str, Any]:
    body = multipart_body({"response_format": response_format}, {"audio": ("a.wav", audio, "audio/wav")})
    event = with_api_key(stt_event(body), "key-a")
    return load_handler("stt").lambda_handler(event, FakeLambdaContext())  # type: ignore[no-any-return]


def v1(path: str, fields: dict[str, str], audio: bytes) -> dict[str, Any]:
    body = multipart_body({"model": "whisper-1", **fields}, {"file": ("meeting.wav", audio, "audio/wav")})
    response = streamed("stream", stt_event(body, path=path))
    response["text"] = (
        base64.b64decode(response["body"]).decode() if response.get("isBase64Encoded") else response["body"]
    )
    return response


# --- no speech: no call, no text -----------------------------------------------------------------------------


def test_the_fake_upstream_hears_a_phrase_in_silence_as_whisper_does(whisper_like: FakeOpenAI) -> None:
    # Given the upstream, asked directly (as the API did before the pass) with 30 s of digital silence
    import httpx2

    files = {"file": ("silence.wav", silent_wav(), "audio/wav")}
    # When it transcribes it
    answer = httpx2.post(
        f"{whisper_like.base_url}/audio/transcriptions",
        headers={"Authorization": f"Bearer {whisper_like.api_key}"},
        data={"model": "whisper-1"},
        files=files,
        timeout=30,
    )
    # Then it makes words up: what every test below proves is never sent or seen
    assert answer.json()["text"] == PHANTOM


def test_turned_off_silence_is_sent_and_heard_as_words(
    whisper_like: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the pass turned off (STT_VOICE_ACTIVITY=false: every recording sent whole, as before it)
    monkeypatch.setenv("STT_VOICE_ACTIVITY", "false")
    # When 30 s of silence is posted to /api/stt/
    response = api_stt({}, silent_wav())
    # Then it was sent upstream and came back as the made-up phrase
    assert response["json"]["transcript"] == PHANTOM
    assert whisper_like.calls(TRANSCRIPTIONS) == 1


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ("json", {"transcript": "", "model": "whisper-1"}),
        (
            "verbose_json",
            {"transcript": "", "model": "whisper-1", "segments": [], "duration": SILENT_SECONDS},
        ),
    ],
)
def test_silence_on_the_api_door_is_an_empty_transcript_with_no_upstream_call(
    whisper_like: FakeOpenAI, response_format: str, expected: dict[str, Any]
) -> None:
    # Given 30 s of digital silence / When it is posted to /api/stt/
    response = api_stt({"response_format": response_format}, silent_wav())
    # Then 200 with an empty transcript (and no segments, the file's duration), and nothing was sent upstream
    assert response["statusCode"] == 200, response["json"]
    assert {key: response["json"].get(key) for key in expected} == expected
    assert whisper_like.calls(TRANSCRIPTIONS) == 0


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_silence_as_subtitles_has_no_cue(whisper_like: FakeOpenAI, response_format: str) -> None:
    # Given 30 s of silence / When subtitles are asked for on /api/stt/
    response = api_subtitles(response_format, silent_wav())
    # Then the subtitles hold no cue (no "-->"), and nothing was sent upstream
    assert response["statusCode"] == 200, response["body"]
    assert "-->" not in response["body"] and PHANTOM not in response["body"]
    assert whisper_like.calls(TRANSCRIPTIONS) == 0


def test_silence_on_the_v1_door_is_empty_text_with_no_upstream_call(whisper_like: FakeOpenAI) -> None:
    # Given 30 s of silence / When it is posted to /v1 as json, verbose_json and text
    plain = v1(TRANSCRIPTIONS, {}, silent_wav())
    verbose = v1(TRANSCRIPTIONS, {"response_format": "verbose_json"}, silent_wav())
    text = v1(TRANSCRIPTIONS, {"response_format": "text"}, silent_wav())
    # Then each answers in its shape with no text (verbose_json: no segment, the file's duration)
    assert plain["statusCode"] == 200, plain["text"]
    assert json.loads(plain["text"])["text"] == ""
    payload = json.loads(verbose["text"])
    assert payload["text"] == "" and payload["segments"] == [] and payload["duration"] == SILENT_SECONDS
    assert text["text"].strip() == ""
    # And nothing was sent upstream
    assert whisper_like.calls(TRANSCRIPTIONS) == 0


def test_silence_streamed_is_done_with_no_text_and_no_upstream_call(whisper_like: FakeOpenAI) -> None:
    # Given 30 s of silence / When it is posted with stream=true
    response = v1(TRANSCRIPTIONS, {"stream": "true"}, silent_wav())
    # Then the events end with transcript.text.done and an empty text, and nothing was sent upstream
    assert response["statusCode"] == 200, response["text"]
    events = [json.loads(line.removeprefix("data: ")) for line in response["text"].split("\n") if line]
    assert events[-1]["type"] == "transcript.text.done" and events[-1]["text"] == ""
    assert all(event.get("delta", "") == "" for event in events[:-1])
    assert whisper_like.calls(TRANSCRIPTIONS) == 0


def test_a_silent_job_succeeds_with_an_empty_transcript_and_no_upstream_call(
    aws: dict[str, str], whisper_like: FakeOpenAI
) -> None:
    # Given a transcription job of 30 s of silence
    accepted = api_stt({}, silent_wav(), path="/api/stt/jobs/")
    assert accepted["statusCode"] == 202, accepted["json"]
    # When the worker runs it
    run_worker(aws)
    # Then it succeeded with no text, and nothing was sent upstream
    status = job_status(accepted["json"]["job_id"])["json"]
    assert status["status"] == "succeeded", status
    assert status["result"]["transcript"] == ""
    assert whisper_like.calls(TRANSCRIPTIONS) == 0


# --- long pauses: only the speech is sent, timings stay true --------------------------------------------------


def test_a_meeting_with_long_pauses_sends_its_speech_only_and_keeps_its_timings(
    whisper_like: FakeOpenAI,
) -> None:
    # Given a meeting of 2 min 25 s of which 11 s are words, the rest two long silences
    said = meeting()[1]
    # When it is posted to /api/stt/ for verbose_json
    response = api_stt({"response_format": "verbose_json"}, meeting_file("wav"))
    # Then one call was sent only the speech (the words and their padding: far less than the 100 s of pauses)
    assert response["statusCode"] == 200, response["json"]
    assert whisper_like.calls(TRANSCRIPTIONS) == 1
    assert sent_seconds(whisper_like) < meeting_seconds() - 90
    # And every word came back once, in order, with nothing heard in the silences
    assert response["json"]["transcript"] == spoken()
    # And each segment starts when its word was said on the recording's clock, which is the answer's duration
    segments = response["json"]["segments"]
    assert [segment["text"] for segment in segments] == [word for _, word in said]
    assert all(
        abs(segment["start"] - start) < 0.1 for segment, (start, _) in zip(segments, said, strict=True)
    ), segments
    assert response["json"]["duration"] == pytest.approx(meeting_seconds(), abs=0.1)


def test_a_meeting_cut_into_pieces_sends_only_speech_with_its_timings(
    whisper_like: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a longer meeting (108 s of words, 100 s of pauses), and recordings with more than a minute of speech
    # cut into pieces (as past 5 min they are)
    monkeypatch.setenv("STT_SPLIT_ABOVE_SECONDS", "60")
    said = meeting(LONG)[1]
    job = TranscriptionJob(AudioUpload(meeting_file(rounds=LONG), "mp3"), timings=True, words=True)
    # When it is transcribed with timings
    transcript, _ = transcribe(job, Deadline(60))
    # Then the pieces sent hold only the speech, and every word came back, timed on the recording's clock
    assert whisper_like.calls(TRANSCRIPTIONS) >= 2
    assert sent_seconds(whisper_like) < meeting_seconds(LONG) - 90
    assert transcript.text == spoken(LONG)
    starts = [(segment.start, segment.text) for segment in transcript.segments or ()]
    assert [word for _, word in starts] == [word for _, word in said]
    assert all(abs(start - true) < 0.1 for (start, _), (true, _) in zip(starts, said, strict=True)), starts
    assert transcript.duration == pytest.approx(meeting_seconds(LONG), abs=0.1)


def test_a_meeting_streamed_in_pieces_sends_only_speech(
    whisper_like: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the longer meeting, cut into pieces past a minute of speech
    monkeypatch.setenv("STT_SPLIT_ABOVE_SECONDS", "60")
    # When it is streamed
    stream, _ = stream_transcription(
        TranscriptionJob(AudioUpload(meeting_file(rounds=LONG), "mp3")), Deadline(60)
    )
    # Then its deltas are every word once, none made up, from pieces that held only speech
    assert "".join(stream.deltas) == spoken(LONG)
    assert whisper_like.calls(TRANSCRIPTIONS) >= 2
    assert sent_seconds(whisper_like) < meeting_seconds(LONG) - 90


def test_a_meeting_job_sends_its_speech_only(aws: dict[str, str], whisper_like: FakeOpenAI) -> None:
    # Given a transcription job of the meeting
    accepted = api_stt({}, meeting_file("wav"), path="/api/stt/jobs/")
    # When the worker runs it
    run_worker(aws)
    # Then its transcript is every word, none made up, and only the speech was sent
    status = job_status(accepted["json"]["job_id"])["json"]
    assert status["result"]["transcript"] == spoken(), status
    assert sent_seconds(whisper_like) < meeting_seconds() - 90
