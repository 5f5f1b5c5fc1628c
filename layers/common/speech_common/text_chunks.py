"""Long text cut into chunks at sentence ends (else between words), for upstreams with a length limit."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

_SENTENCE_BREAK = re.compile(r"(?<=[.!?;:…。！？])\s+|\s*\n\s*")
# Where a sentence may pause: after a comma, a semicolon, a colon or a dash.
_CLAUSE_BREAK = re.compile(r"(?<=[,;:—–])\s+|(?<=[、，；：])\s*|\s+(?=[—–]\s)")
_WORD_BREAK = re.compile(r"\s+")


def split_text(text: str, limit: int, *, size: Callable[[str], int] = len) -> list[str]:
    """Chunks of at most `limit` (as `size` counts), cut at sentence ends, else between words.

    Text that fits is returned whole and unchanged; `size` must be additive over concatenation.
    """
    if size(text) <= limit:
        return [text] if text.strip() else []
    sentences = (sentence.strip() for sentence in _SENTENCE_BREAK.split(text.strip()))
    pieces = (piece for sentence in sentences for piece in _fit(sentence, limit, size))
    return _pack(filter(None, pieces), limit, size, " ")


def split_for_streaming(text: str, first_limit: int, rest_limit: int) -> list[str]:
    """A text cut for speech sent as it is made: a short first piece, so that its audio comes soon, then the rest
    cut at sentence ends into pieces within `rest_limit` (split_text).

    The first piece is the first sentence or two within `first_limit`; a longer first sentence is cut at its
    last pause (a comma, a dash) within the limit, else between words, else anywhere.
    """
    text = text.strip()
    if len(text) <= first_limit:
        return [text] if text else []
    cut = _first_cut(text, first_limit)
    return [text[:cut].strip(), *split_text(text[cut:].strip(), rest_limit)]


def _first_cut(text: str, limit: int) -> int:
    within = text[: limit + 1]
    for boundary, shortest in ((_SENTENCE_BREAK, 1), (_CLAUSE_BREAK, limit // 3), (_WORD_BREAK, 1)):
        # A cut that leaves a first piece too short to say anything reads worse than the next kind of cut.
        cuts = [match.start() for match in boundary.finditer(within) if shortest <= match.start() <= limit]
        if cuts:
            return cuts[-1]
    return limit


def one_round_chunk_chars(text_length: int, parallel: int, *, slack: float = 1.15) -> int:
    """A chunk size that lets a text of `text_length` be read in one round of `parallel` calls.

    The slack (15%) leaves room for cutting at sentence ends rather than mid-sentence.
    """
    return math.ceil(text_length / max(parallel, 1) * slack)


def _fit(sentence: str, limit: int, size: Callable[[str], int]) -> list[str]:
    """A sentence cut between words into parts within `limit` (an over-long word is cut anywhere)."""
    if size(sentence) <= limit:
        return [sentence]
    words = (part for word in sentence.split() for part in _pack(word, limit, size, ""))
    return _pack(words, limit, size, " ")


def _pack(pieces: Iterable[str], limit: int, size: Callable[[str], int], joiner: str) -> list[str]:
    """Consecutive pieces joined by `joiner` into as few parts within `limit` as go in order."""
    packed: list[str] = []
    current, current_size = "", 0
    gap = size(joiner)
    for piece in pieces:
        piece_size = size(piece)
        if current and current_size + gap + piece_size <= limit:
            current, current_size = current + joiner + piece, current_size + gap + piece_size
            continue
        if current:
            packed.append(current)
        current, current_size = piece, piece_size
    if current:
        packed.append(current)
    return packed
