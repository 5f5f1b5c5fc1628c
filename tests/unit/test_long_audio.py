"""Long recordings: where they are cut, and how the pieces' transcripts are joined."""

from __future__ import annotations

import itertools

import pytest

from speech_common.long_audio import (
    OVERLAP_SECONDS,
    Piece,
    join_transcripts,
    piece_seconds_for,
    plan_pieces,
    silences,
)
from tests.tone_speech import RATE, WORDS, recording, silence, tone


def test_silences_are_found_where_they_are() -> None:
    # Given 2 s of sound, 1 s of silence, 3 s of sound, 0.5 s of silence, 1 s of sound
    pcm = tone(2, 440) + silence(1) + tone(3, 440) + silence(0.5) + tone(1, 440)
    # When the silences are looked for / Then both are found, at their times
    found = silences(pcm, RATE)
    assert [(round(a, 2), round(b, 2)) for a, b in found] == [(2.0, 3.0), (6.0, 6.5)]


def test_a_pause_shorter_than_300_ms_is_not_a_silence() -> None:
    # Given a 0.2 s pause between two sounds / When silences are looked for / Then there is none
    assert silences(tone(1, 440) + silence(0.2) + tone(1, 440), RATE) == []


def test_cuts_fall_in_silences_never_inside_a_word() -> None:
    # Given ten minutes of words whose timings are known (0.6 s of sound, then 0.6 s of silence)
    words = [WORDS[i % len(WORDS)] for i in range(500)]
    word_spans = [(i * 1.2, i * 1.2 + 0.6) for i in range(len(words))]
    quiet = silences(recording(words), RATE)
    # When cut into pieces of about 90 s
    pieces = plan_pieces(600.0, quiet, 90.0)
    # Then every cut is in a silence, none inside a word, none a hard cut, and the pieces tile the whole
    cuts = [piece.end for piece in pieces[:-1]]
    assert len(pieces) >= 6
    assert all(not (start < cut < end) for cut in cuts for start, end in word_spans)
    assert not any(piece.overlaps_previous for piece in pieces)
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    assert pieces[0].start == 0 and pieces[-1].end == 600.0


def test_without_a_silence_within_reach_the_cut_is_hard_and_overlaps() -> None:
    # Given 200 s of sound without any silence / When cut into pieces of 60 s
    pieces = plan_pieces(200.0, [], 60.0)
    # Then each later piece starts OVERLAP_SECONDS before the previous one ended
    assert [p.overlaps_previous for p in pieces] == [False, True, True, True]
    assert all(b.start == pytest.approx(a.end - OVERLAP_SECONDS) for a, b in itertools.pairwise(pieces))


def test_the_words_two_overlapping_pieces_both_heard_are_kept_once() -> None:
    # Given two transcripts of a hard cut, the second repeating the last words of the first
    pieces = [Piece(0, 60), Piece(58.5, 120, overlaps_previous=True)]
    texts = ["the cat sat on the mat", "On the mat, it slept all day"]
    # When joined / Then the repeated words appear once
    assert join_transcripts(texts, pieces) == "the cat sat on the mat it slept all day"


def test_pieces_cut_at_silences_are_joined_whole() -> None:
    # Given pieces cut at a silence (no overlap) whose transcripts share a word by chance
    pieces = [Piece(0, 60), Piece(60, 120)]
    # When joined / Then nothing is dropped
    assert join_transcripts(["one two", "two three"], pieces) == "one two two three"


@pytest.mark.parametrize(
    ("total", "parallel", "expected"), [(3600, 8, 495), (600, 8, 82.5), (60, 8, 30), (7200, 4, 600)]
)
def test_pieces_are_sized_for_one_round_of_parallel_calls(
    total: float, parallel: int, expected: float
) -> None:
    # Given a recording and a number of parallel calls / When a piece size is chosen
    # Then it is one round's share (and 10%), within 30 s and 600 s
    assert piece_seconds_for(total, parallel) == pytest.approx(expected)
