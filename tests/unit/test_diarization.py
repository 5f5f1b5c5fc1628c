"""diarization.py's pieces: labels, the known speakers' room, reference clips."""

from __future__ import annotations

import itertools

from speech_common.diarization import (
    MAX_KNOWN_SPEAKERS,
    REFERENCE_NAME_PREFIX,
    SpeakerBook,
    letters,
    reference_clip,
)
from speech_common.engines.base import KnownSpeaker, TimedSegment, TranscriptionResult

SECOND = b"\1\0" * 16_000  # one second of 16 kHz s16le


def heard(*speakers: str) -> TranscriptionResult:
    return TranscriptionResult(
        text="", segments=tuple(TimedSegment(i, i + 1, "w", speaker=s) for i, s in enumerate(speakers))
    )


def test_labels_run_past_z() -> None:
    # Given the labels in order / When 28 are taken / Then A..Z, then AA, AB
    taken = list(itertools.islice(letters(), 28))
    assert taken[:3] == ["A", "B", "C"] and taken[25:] == ["Z", "AA", "AB"]


def test_a_voice_sent_as_known_gets_its_label_back_and_an_unknown_one_a_new_label() -> None:
    # Given a book that learnt voice A's clip
    book = SpeakerBook(())
    _first, found = book.relabelled(heard("A", "B"))
    assert found == {"A": "A", "B": "B"}
    book.learn("A", SECOND * 2)
    # When a later piece names it, and also hears a voice it cannot name (which it calls A)
    later, new = book.relabelled(heard(REFERENCE_NAME_PREFIX + "A", "A"))
    # Then the known voice is A again and the unknown one gets the next label, not A
    assert [s.speaker for s in later.segments or ()] == ["A", "C"] and new == {"A": "C"}


def test_at_most_four_voices_are_sent_and_the_callers_come_first() -> None:
    # Given a caller who named one voice
    given = KnownSpeaker("host", "data:audio/wav;base64,AA==")
    book = SpeakerBook((given,))
    # When five more voices are learnt
    learned = [book.learn(label, SECOND * 2) for label in "ABCDE"]
    # Then only three had room, after the caller's, and the caller's name is kept as its label
    assert learned == [True, True, True, False, False]
    assert len(book.known) == MAX_KNOWN_SPEAKERS and book.known[0] == given
    assert [s.speaker for s in book.relabelled(heard("host"))[0].segments or ()] == ["host"]


def test_a_reference_clip_is_2_to_10_seconds_of_the_longest_segments() -> None:
    # Given 12 s of audio: segments of 1.5 s alone, and of 6 s and 5 s
    pcm = SECOND * 12
    short = [TimedSegment(0, 1.5, "a")]
    long = [TimedSegment(0, 6, "a"), TimedSegment(6, 11, "b")]
    # When clips are cut / Then too little voice gives none, more is capped at 10 s
    assert reference_clip(pcm, short) is None
    clip = reference_clip(pcm, long)
    assert clip is not None and len(clip) == len(SECOND) * 10
