"""Speakers through the core: labels per segment, one label per voice across every piece of a long recording."""

from __future__ import annotations

import random
from functools import cache

import pytest

from speech_common.audio import AudioUpload
from speech_common.core import TranscriptionJob, transcribe
from speech_common.deadline import Deadline
from speech_common.diarization import MAX_DIARIZED_SECONDS, REFERENCE_NAME_PREFIX
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.long_audio import MAX_PIECE_SECONDS
from speech_common.settings import get_settings
from speech_common.transcode import encode_pcm
from tests.fakes.openai_server import FakeOpenAI
from tests.tone_speech import RATE, WORDS, conversation, diarize

TRANSCRIPTIONS = "/v1/audio/transcriptions"
WORD_SECONDS, GAP_SECONDS, TURN_GAP_SECONDS = 0.6, 0.6, 1.0
FORTY_MINUTES = 40 * 60


def script(seconds: float, voices: tuple[int, ...], seed: int = 22) -> list[tuple[int, list[str]]]:
    """Turns of 2-12 words, the voices taking turns in order, until the recording lasts `seconds`."""
    rng = random.Random(seed)
    turns: list[tuple[int, list[str]]] = []
    length = 0.0
    while length < seconds:
        count = rng.randint(2, 12)
        turns.append((voices[len(turns) % len(voices)], [rng.choice(WORDS) for _ in range(count)]))
        length += count * (WORD_SECONDS + GAP_SECONDS) + TURN_GAP_SECONDS - GAP_SECONDS
    return turns


def word_voices(turns: list[tuple[int, list[str]]]) -> list[tuple[float, int]]:
    """(start, voice) of every word, as `conversation` lays them out."""
    timeline, clock = [], 0.0
    for number, (voice, words) in enumerate(turns):
        if number:
            clock += TURN_GAP_SECONDS - GAP_SECONDS
        for _ in words:
            timeline.append((clock, voice))
            clock += WORD_SECONDS + GAP_SECONDS
    return timeline


@cache
def meeting(
    seconds: float, voices: tuple[int, ...], later: tuple[int, ...] = ()
) -> tuple[bytes, tuple[tuple[float, int], ...]]:
    """`seconds` of `voices` taking turns; with `later`, as long again of those voices taking turns after it."""
    turns = script(seconds, voices) + (script(seconds, later, seed=23) if later else [])
    flac = encode_pcm(conversation(turns), sample_rate=RATE, fmt="flac", output_rate=RATE)
    return flac, tuple(word_voices(turns))


def true_labels(timeline: tuple[tuple[float, int], ...]) -> dict[int, str]:
    """Each voice's label: A, B, ... in order of first appearance in the whole recording."""
    order = list(dict.fromkeys(voice for _, voice in timeline))
    return {voice: "ABCDEFGH"[index] for index, voice in enumerate(order)}


def voice_at(timeline: tuple[tuple[float, int], ...], start: float) -> int:
    """The voice of the word that starts nearest `start`."""
    return min(timeline, key=lambda word: abs(word[0] - start))[1]


@pytest.fixture
def diarizing(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.diarizer = diarize
    return fake_openai


def test_a_forty_minute_two_voice_recording_keeps_one_label_per_voice_across_every_piece(
    diarizing: FakeOpenAI,
) -> None:
    # Given a 40-minute meeting of two voices taking turns, the second voice speaking first
    audio, timeline = meeting(FORTY_MINUTES, (1, 0))
    # When it is transcribed with speakers
    job = TranscriptionJob(AudioUpload(audio, "flac"), model="gpt-4o-transcribe-diarize", diarize=True)
    transcript, route = transcribe(job, Deadline(300))
    # Then it was heard in several pieces, each within the diarizing model's limit, with chunking on
    pieces = [r for r in diarizing.requests if r.path == TRANSCRIPTIONS]
    assert len(pieces) >= 4 and str(route) == "openai:gpt-4o-transcribe-diarize"
    assert all(
        r.form["response_format"] == "diarized_json" and r.form["chunking_strategy"] == "auto" for r in pieces
    )
    # And every piece after the first named both voices the first one found, by reference clips
    assert "known_speaker_names[]" not in pieces[0].form
    names = [REFERENCE_NAME_PREFIX + "A", REFERENCE_NAME_PREFIX + "B"]
    assert all(r.form["known_speaker_names[]"] == names for r in pieces[1:])
    # And at least 95% of the segments carry the right voice's label (A: the voice heard first)
    labels = true_labels(timeline)
    segments = transcript.segments or ()
    right = sum(1 for s in segments if s.speaker == labels[voice_at(timeline, s.start)])
    assert len(segments) > 200
    assert right / len(segments) >= 0.95, f"{right} of {len(segments)} segments labelled right"
    # And only the two labels appear
    assert {s.speaker for s in segments} == {"A", "B"}


def test_a_voice_first_heard_late_keeps_one_label_too(diarizing: FakeOpenAI) -> None:
    # Given 20 minutes of two voices, then 20 minutes in which a third voice joins them
    audio, timeline = meeting(FORTY_MINUTES / 2, (1, 0), later=(2, 1, 0))
    # When it is transcribed with speakers
    job = TranscriptionJob(AudioUpload(audio, "flac"), model="gpt-4o-transcribe-diarize", diarize=True)
    transcript, _ = transcribe(job, Deadline(300))
    # Then the third voice is C throughout, and at least 95% of the segments carry the right label
    labels = true_labels(timeline)
    assert labels == {1: "A", 0: "B", 2: "C"}
    segments = transcript.segments or ()
    right = sum(1 for s in segments if s.speaker == labels[voice_at(timeline, s.start)])
    assert right / len(segments) >= 0.95, f"{right} of {len(segments)} segments labelled right"
    assert {s.speaker for s in segments} == {"A", "B", "C"}
    # And the pieces after the one that first heard it were heard again, naming it
    requests = [r for r in diarizing.requests if r.path == TRANSCRIPTIONS]
    named = [r for r in requests if REFERENCE_NAME_PREFIX + "C" in r.form.get("known_speaker_names[]", [])]
    assert named and len(requests) == len(named) + len({r.file_bytes for r in requests})


def test_without_references_some_piece_would_call_the_second_voice_a(diarizing: FakeOpenAI) -> None:
    # Given the 40-minute meeting transcribed with speakers (the guard above: what the references are for)
    audio, _ = meeting(FORTY_MINUTES, (1, 0))
    job = TranscriptionJob(AudioUpload(audio, "flac"), model="gpt-4o-transcribe-diarize", diarize=True)
    transcribe(job, Deadline(300))
    # When each later piece is labelled as the upstream labels a request that names no known speaker
    later = [r for r in diarizing.requests if r.path == TRANSCRIPTIONS][1:]
    plain = [diarize(r.file_bytes or b"", []) for r in later]
    # Then some piece opens with the voice that is B across the recording and calls it A
    opened_by_b = [
        segments[0][3] for segments, r in zip(plain, later, strict=True) if _opens_with_voice(r, 0)
    ]
    assert opened_by_b and set(opened_by_b) == {"A"}


def _opens_with_voice(request: object, voice: int) -> bool:
    from tests.tone_speech import hear_voices

    heard = hear_voices(getattr(request, "file_bytes", b"") or b"")
    return bool(heard) and heard[0][3] == voice


def test_a_diarized_piece_is_never_longer_than_the_model_hears() -> None:
    # Given the longest piece the cut makes and the longest a diarizing request may be
    # When they are compared / Then every piece fits in one diarizing request
    assert MAX_PIECE_SECONDS <= MAX_DIARIZED_SECONDS < 1400


def test_a_recording_longer_than_the_model_hears_is_cut_even_when_the_split_is_set_higher(
    diarizing: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment that sends recordings up to an hour whole, and a 25-minute meeting
    monkeypatch.setenv("STT_SPLIT_ABOVE_SECONDS", "3600")
    get_settings.cache_clear()
    audio, _ = meeting(25 * 60, (0, 1))
    # When it is transcribed with speakers
    job = TranscriptionJob(AudioUpload(audio, "flac"), model="gpt-4o-transcribe-diarize", diarize=True)
    transcript, _ = transcribe(job, Deadline(300))
    # Then it went up in pieces the model takes (the fake refuses a request over 1,400 s), labels kept
    assert diarizing.calls(TRANSCRIPTIONS) >= 2
    assert {s.speaker for s in transcript.segments or ()} == {"A", "B"}


def test_the_offline_engine_cannot_diarize_and_says_so_before_any_call(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the offline engine serving every transcription
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=local:local")
    get_settings.cache_clear()
    audio, _ = meeting(20, (0, 1))
    # When speakers are asked for
    job = TranscriptionJob(AudioUpload(audio, "flac"), model="gpt-4o-transcribe-diarize", diarize=True)
    with pytest.raises(InvalidRequest) as refused:
        transcribe(job, Deadline(30))
    # Then it is a 400 naming the engine that cannot, and nothing was sent anywhere
    assert refused.value.code == ErrorCode.UNSUPPORTED_DIARIZATION
    assert "local:local cannot tell speakers apart" in refused.value.detail
    assert fake_openai.calls() == 0
