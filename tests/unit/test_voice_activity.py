"""Only speech goes upstream: where the detector finds speech, the stretches kept, and the clock back."""

from __future__ import annotations

import random
import struct
from functools import cache
from pathlib import Path

import pytest

from speech_common.engines.base import TimedSegment, TimedWord, TranscriptionResult
from speech_common.transcode import iter_decoded_pcm
from speech_common.voice_activity import (
    FRAME_SECONDS,
    PAD_SECONDS,
    SpeechClock,
    spans_of,
    speech_clock,
)
from tests.tone_speech import RATE, recording, silence

LIBRIVOX = Path(__file__).resolve().parents[2] / "bench" / "held_set" / "librivox"


@cache
def human(index: int) -> bytes:
    """A sentence read by a person (LibriVox, bench/held_set), as 16 kHz PCM."""
    wav = sorted(LIBRIVOX.glob("*.wav"))[index]
    return b"".join(iter_decoded_pcm(wav.read_bytes(), sample_rate=RATE))


def seconds_of(pcm: bytes) -> float:
    return len(pcm) / 2 / RATE


def white_noise(seconds: float, rms: float) -> bytes:
    rng = random.Random(7)
    count = int(seconds * RATE)
    return struct.pack(f"<{count}h", *(round(rng.gauss(0, rms)) for _ in range(count)))


def test_digital_silence_has_no_speech() -> None:
    # Given 30 s of digital silence (what Whisper hears as "the quick brown fox")
    pcm = silence(30)
    # When speech is looked for
    clock = speech_clock(pcm)
    # Then there is none: nothing would be sent
    assert clock.spans == ()
    assert clock.speech_seconds == 0
    assert clock.total_seconds == 30


@pytest.mark.parametrize("rms", [30, 300, 1000])  # about -60, -40 and -30 dBFS
def test_steady_noise_has_no_speech(rms: float) -> None:
    # Given 20 s of a hiss (white noise)
    pcm = white_noise(20, rms)
    # When speech is looked for / Then there is none
    assert speech_clock(pcm).spans == ()


def test_a_sentence_read_by_a_person_is_kept_whole() -> None:
    # Given each of the held set's human sentences alone
    for index in range(5):
        pcm = human(index)
        # When speech is looked for
        clock = speech_clock(pcm)
        # Then all of it is speech: the recording goes as it is
        assert clock.is_whole, index


def test_speech_between_long_silences_is_kept_and_the_silences_are_cut() -> None:
    # Given 20 s of silence, a sentence, 30 s of silence, another sentence, 10 s of silence
    first, second = human(0), human(1)
    pcm = silence(20) + first + silence(30) + second + silence(10)
    second_at = 20 + seconds_of(first) + 30
    # When speech is looked for
    clock = speech_clock(pcm)
    # Then two stretches are kept, each around its sentence (within the padding), and the silences are not
    (a_start, a_end), (b_start, b_end) = clock.spans
    assert (
        20 - PAD_SECONDS - 0.05 <= a_start <= 20.3
        and 20 + seconds_of(first) - 0.5 <= a_end <= 20 + seconds_of(first) + PAD_SECONDS + 0.05
    )
    assert second_at - PAD_SECONDS - 0.05 <= b_start <= second_at + 0.3
    assert b_end <= second_at + seconds_of(second) + PAD_SECONDS + 0.05
    assert clock.speech_seconds < seconds_of(first) + seconds_of(second) + 4 * PAD_SECONDS
    # And the audio kept is those stretches joined
    assert seconds_of(clock.kept_pcm(pcm)) == pytest.approx(clock.speech_seconds, abs=0.01)


def test_the_tests_voiced_tones_are_heard_as_speech_throughout() -> None:
    # Given the tests' stand-in for speech: a minute of voiced tones, 0.6 s each, 0.6 s apart
    pcm = recording(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"] * 6)
    # When speech is looked for / Then all of it is kept: the fake upstream still hears every word
    assert speech_clock(pcm).is_whole


def rounded(rows: object) -> list[tuple[float, ...]]:
    return [tuple(round(value, 3) for value in row) for row in rows]  # type: ignore[attr-defined]


def frames(*runs: tuple[bool, float]) -> list[bool]:
    return [speech for speech, seconds in runs for _ in range(round(seconds / FRAME_SECONDS))]


def test_speech_is_padded_and_short_pauses_stay_in() -> None:
    # Given 4.5 s of no speech, 0.9 s of speech, a pause of 0.6 s, 0.9 s of speech, then 9.9 s of no speech
    found = frames((False, 4.5), (True, 0.9), (False, 0.6), (True, 0.9), (False, 9.9))
    # When the stretches to keep are made
    spans = spans_of(found, 16.8)
    # Then one stretch holds both, padded on each side
    assert rounded(spans) == rounded([(4.5 - PAD_SECONDS, 6.9 + PAD_SECONDS)])


def test_a_click_is_not_speech_and_short_ends_are_kept() -> None:
    # Given a 0.06 s click after 3 s, then (0.5 s in from the start of speech) speech to 0.4 s before the end
    found = frames((False, 3), (True, 0.06), (False, 3), (True, 5), (False, 0.4))
    # When the stretches to keep are made
    spans = spans_of(found, 11.46)
    # Then the click is dropped, and the speech runs to the end (a cut there would save too little)
    assert rounded(spans) == rounded([(6.06 - PAD_SECONDS, 11.46)])


def test_timings_on_the_joined_speech_are_moved_back_to_the_recordings_clock() -> None:
    # Given speech kept from 10-14 s and from 40-42 s of a 60 s recording, and what was heard on the joined 6 s
    clock = SpeechClock(((10.0, 14.0), (40.0, 42.0)), 60.0)
    heard = TranscriptionResult(
        text="one two",
        duration=6.0,
        segments=(TimedSegment(0.5, 3.5, "one", seek=0), TimedSegment(4.2, 5.5, "two", seek=420)),
        words=(TimedWord(0.5, 3.5, "one"), TimedWord(4.2, 5.5, "two")),
    )
    # When it is put on the recording's clock
    result = clock.on_recording(heard)
    # Then each segment and word is where it was said, and the duration is the recording's
    assert rounded((s.start, s.end, s.seek) for s in result.segments or ()) == [
        (10.5, 13.5, 1000),
        (40.2, 41.5, 4020),
    ]
    assert rounded((w.start, w.end) for w in result.words or ()) == [(10.5, 13.5), (40.2, 41.5)]
    assert result.duration == 60.0 and result.text == "one two"


def test_a_time_past_the_joined_speech_stays_within_the_recording() -> None:
    # Given speech kept from 10-14 s of a 20 s recording
    clock = SpeechClock(((10.0, 14.0),), 20.0)
    # When times at, and past, the end of the joined speech are moved back
    # Then they land at the stretch's end, and never past the recording
    assert clock.original_time(4.0) == 14.0
    assert clock.original_time(99.0) == 20.0
    assert clock.original_time(0.0) == 10.0
