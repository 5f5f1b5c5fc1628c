"""Pure parts of the engines: text chunking and speed (voice maps: test_settings; verbatim: test_verbatim)."""

import pytest

from speech_common.engines.openai_realtime.engine import (
    LONGEST_CHUNK_CHARS,
    MAX_CHUNK_CHARS,
    MAX_UPSTREAM_SPEED,
    MIN_UPSTREAM_SPEED,
    chunk_limit,
)
from speech_common.engines.pcm import join_pcm, join_pcm_releasing, split_speed, whole_samples
from speech_common.engines.polly import polly_rate
from speech_common.text_chunks import split_text


def test_short_text_is_one_chunk() -> None:
    # Given two sentences well within the limit / When split / Then they stay one chunk
    assert split_text("Hello there. How are you?", 1000) == ["Hello there. How are you?"]


def test_long_text_is_cut_at_sentence_ends_within_the_limit() -> None:
    # Given sentences that together exceed the limit
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    # When split
    chunks = split_text(text, limit=100)
    # Then every chunk fits, ends a sentence, and nothing is lost or reordered
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert all(chunk.endswith(".") for chunk in chunks)
    assert " ".join(chunks) == text


def test_an_overlong_sentence_is_cut_between_words() -> None:
    # Given 300 characters of words with no sentence end
    text = "word " * 60
    # When split at 50 characters
    chunks = split_text(text, limit=50)
    # Then every chunk fits and the words come back whole, in order
    assert all(len(chunk) <= 50 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_a_single_overlong_word_is_still_cut() -> None:
    # Given one 250-character word / When split at 100 / Then it is cut into 100, 100 and 50
    chunks = split_text("x" * 250, 100)
    assert [len(c) for c in chunks] == [100, 100, 50]


@pytest.mark.parametrize(
    ("speed", "upstream"), [(1.0, 1.0), (0.25, 0.25), (1.5, 1.5), (3.0, 1.5), (4.0, 1.5)]
)
def test_speed_is_split_between_upstream_and_local(speed: float, upstream: float) -> None:
    # Given the realtime API's speed range / When a speed is split / Then the product is the speed
    applied, local = split_speed(speed, lowest=MIN_UPSTREAM_SPEED, highest=MAX_UPSTREAM_SPEED)
    assert applied == upstream
    assert applied * local == pytest.approx(speed)


def test_the_longest_text_is_read_in_one_parallel_round() -> None:
    # Given the longest text the API takes, with sentences of ordinary length
    text = ("A sentence of ordinary length, read by the realtime model. " * 80)[:4096]
    # When cut for 4 parallel responses / Then 4 chunks, all within the longest chunk size
    chunks = split_text(text, chunk_limit(len(text), parallel=4))
    assert len(chunks) == 4
    assert all(len(chunk) <= LONGEST_CHUNK_CHARS for chunk in chunks)
    # And short texts keep the usual chunk size
    assert chunk_limit(2500, parallel=4) == MAX_CHUNK_CHARS


@pytest.mark.parametrize(("speed", "percent"), [(1.0, 100), (0.1, 20), (1.234, 123), (3.0, 200)])
def test_polly_rate_is_whole_percent_and_the_rest_is_local(speed: float, percent: int) -> None:
    # Given Polly's 20-200% prosody range / When a speed is split / Then together they make the speed
    rate, local = polly_rate(speed)
    assert rate == percent
    assert rate / 100 * local == pytest.approx(speed)


def test_pcm_parts_join_on_whole_samples_with_a_gap() -> None:
    # Given parts of which one ends mid-sample
    parts = [b"\x01\x02\x03", b"\x04\x05"]
    # When joined with one sample of silence between them
    joined = join_pcm(parts, gap_samples=1)
    # Then the stray byte is dropped and the gap is silence
    assert joined == b"\x01\x02" + b"\x00\x00" + b"\x04\x05"
    assert whole_samples(b"\x01\x02\x03") == b"\x01\x02"


def test_a_long_texts_parts_are_released_as_they_are_joined() -> None:
    # Given a list of parts, one ending mid-sample
    parts = [b"\x01\x02\x03", b"\x04\x05", b"\x06\x07"]
    # When joined releasing them, with one sample of silence between them
    joined = join_pcm_releasing(parts, gap_samples=1)
    # Then the join is join_pcm's, and the list no longer holds the parts
    assert joined == join_pcm([b"\x01\x02\x03", b"\x04\x05", b"\x06\x07"], gap_samples=1)
    assert parts == []
