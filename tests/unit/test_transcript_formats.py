"""srt, vtt and verbose_json's parts as OpenAI writes them; timed pieces of a long recording joined."""

from __future__ import annotations

from dataclasses import replace

import pytest

from speech_common.core import Transcript
from speech_common.engines.base import TimedSegment, TimedWord, TranscriptionResult
from speech_common.long_audio import Piece, join_timed
from speech_common.transcript_formats import (
    api_job_result,
    api_verbose_transcript,
    render_srt,
    render_vtt,
    segment_objects,
    timestamp,
)


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (1.5, "00:00:01,500", "00:00:01.500"),
        (59.9996, "00:01:00,000", "00:01:00.000"),  # rounded to the millisecond, carried over
        (3723.042, "01:02:03,042", "01:02:03.042"),
        (100 * 3600 + 1.001, "100:00:01,001", "100:00:01.001"),  # hours grow, never wrap
    ],
)
def test_timestamps_are_hours_minutes_seconds_and_milliseconds(seconds: float, srt: str, vtt: str) -> None:
    # Given a time in seconds / When it is written for srt and for vtt
    # Then HH:MM:SS with a comma (srt) or a dot (vtt) before the milliseconds
    assert (timestamp(seconds, ","), timestamp(seconds, ".")) == (srt, vtt)


SEGMENTS = (
    TimedSegment(0.0, 2.5, " Hello there."),
    TimedSegment(7322.25, 7324.0, " Two hours later."),
)


def test_srt_numbers_its_cues_from_one() -> None:
    # Given two segments, the second past two hours / When written as srt
    # Then numbered cues, each text stripped and followed by a blank line
    assert render_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n02:02:02,250 --> 02:02:04,000\nTwo hours later.\n\n"
    )


def test_vtt_has_its_header_and_unnumbered_cues() -> None:
    # Given the same segments / When written as vtt
    # Then the WEBVTT header, then a cue a segment with dots before the milliseconds
    assert render_vtt(SEGMENTS) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n02:02:02.250 --> 02:02:04.000\nTwo hours later.\n\n"
    )


def test_an_empty_transcript_is_an_empty_srt_and_a_bare_vtt() -> None:
    # Given no segments (silence) / When written / Then no cues: nothing for srt, the header alone for vtt
    assert (render_srt(()), render_vtt(())) == ("", "WEBVTT\n\n")
    assert segment_objects(()) == []


def test_verbose_segments_are_numbered_from_zero_with_whispers_fields() -> None:
    # Given two segments / When shaped for verbose_json
    objects = segment_objects(SEGMENTS)
    # Then ids 0 and 1, the text as heard, and every field OpenAI's segment has
    assert [(o["id"], o["start"], o["text"]) for o in objects] == [
        (0, 0.0, " Hello there."),
        (1, 7322.25, " Two hours later."),
    ]
    assert objects[0] == {
        "id": 0, "seek": 0, "start": 0.0, "end": 2.5, "text": " Hello there.", "tokens": [],
        "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0,
    }  # fmt: skip


def piece_result(*spans: tuple[float, float, str]) -> TranscriptionResult:
    return TranscriptionResult(
        text=" ".join(text for _, _, text in spans),
        language="en",
        segments=tuple(TimedSegment(start, end, text) for start, end, text in spans),
        words=tuple(TimedWord(start, end, text) for start, end, text in spans),
    )


def test_pieces_cut_in_silences_are_moved_by_their_start() -> None:
    # Given two pieces cut in a silence at 100 s, each heard on its own clock
    pieces = [Piece(0.0, 100.0), Piece(100.0, 180.0)]
    results = [piece_result((1.0, 2.0, "one"), (98.0, 99.0, "two")), piece_result((0.5, 1.5, "three"))]
    # When joined
    joined = join_timed(results, pieces, 180.0)
    # Then every segment and word is on the recording's clock, the text theirs, the duration the whole
    assert [(s.start, s.end, s.text) for s in joined.segments or ()] == [
        (1.0, 2.0, "one"),
        (98.0, 99.0, "two"),
        (100.5, 101.5, "three"),
    ]
    assert [(w.start, w.word) for w in joined.words or ()] == [(1.0, "one"), (98.0, "two"), (100.5, "three")]
    assert (joined.text, joined.duration, joined.language) == ("one two three", 180.0, "en")
    assert joined.segments is not None and joined.segments[2].seek == 10_000  # Whisper's 100 frames a second


def test_after_a_hard_cut_what_the_earlier_piece_heard_is_kept_once() -> None:
    # Given a hard cut at 100 s: the second piece starts 1.5 s earlier, at 98.5 s
    pieces = [Piece(0.0, 100.0), Piece(98.5, 180.0, overlaps_previous=True)]
    first = piece_result((97.0, 98.8, "seven"), (99.0, 100.0, "eight"))
    # and the second piece hears "eight" again at its start (99.0 s), then "nine" after the cut
    second = piece_result((0.5, 1.5, "eight"), (2.0, 3.0, "nine"))
    # When joined
    joined = join_timed([first, second], pieces, 180.0)
    # Then the repeated segment and word (starting inside the overlap) are dropped, the rest moved
    assert [(s.start, s.text) for s in joined.segments or ()] == [
        (97.0, "seven"),
        (99.0, "eight"),
        (100.5, "nine"),
    ]
    assert [w.word for w in joined.words or ()] == ["seven", "eight", "nine"]
    assert joined.text == "seven eight nine"


def test_words_stay_absent_when_no_piece_gave_them() -> None:
    # Given pieces heard with segment timings only / When joined / Then there are no words, not an empty list
    result = TranscriptionResult(text="one", segments=(TimedSegment(0.0, 1.0, "one"),))
    assert join_timed([result], [Piece(0.0, 60.0)], 60.0).words is None


def test_pieces_in_two_languages_are_named_by_the_one_heard_longest() -> None:
    # Given a short first piece heard in English, then two longer ones in French
    pieces = [Piece(0.0, 60.0), Piece(60.0, 300.0), Piece(300.0, 540.0)]
    results = [
        replace(piece_result((1.0, 2.0, "hello")), language="en"),
        replace(piece_result((1.0, 2.0, "bonjour")), language="fr"),
        replace(piece_result((1.0, 2.0, "merci")), language="fr"),
    ]
    # When joined
    joined = join_timed(results, pieces, 540.0)
    # Then the recording's language is the one most of it was heard in, not the first piece's
    assert joined.language == "fr"


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt", "verbose_json"])
def test_every_job_result_names_the_language_by_its_code(response_format: str) -> None:
    # Given a transcript heard in French
    transcript = Transcript(
        text="bonjour",
        model="whisper-1",
        language="fr",
        duration=1.0,
        segments=(TimedSegment(0, 1, "bonjour"),),
    )
    # When it is a job's result in any format / Then the result carries "fr"
    assert api_job_result(transcript, response_format)["language"] == "fr"


def test_a_transcript_whose_language_nobody_named_says_null_on_api() -> None:
    # Given a transcript from an engine that names no language, none asked for
    transcript = Transcript(text="hi", model="whisper-1", language=None, duration=1.0, segments=())
    # When /api's verbose_json and a job's json result are made / Then the language is null, not a made-up one
    assert api_verbose_transcript(transcript)["language"] is None
    assert api_job_result(transcript, "json")["language"] is None
