"""Long recordings cut into pieces at silences, transcribed one piece a call, joined in order.

A cut falls in the middle of a silence of at least MIN_SILENCE_SECONDS (found by FFmpeg's
silencedetect) near the piece's target end, so no word is cut; where no silence is within reach, a
hard cut is made with OVERLAP_SECONDS of audio repeated at the start of the next piece, and the
words both pieces heard are kept once when their transcripts are joined.
PyAV (FFmpeg) is imported inside the functions: answering a short file must not pay for it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Final

from speech_common.engines.base import TimedSegment, TimedWord, TranscriptionResult
from speech_common.languages import most_heard

PIECE_SAMPLE_RATE: Final = 16_000  # what speech recognisers use; half the bytes of 24 kHz
BYTES_PER_SAMPLE: Final = 2
MIN_SILENCE_SECONDS: Final = 0.3
SILENCE_NOISE_DB: Final = -35
OVERLAP_SECONDS: Final = 1.5
MIN_PIECE_SECONDS: Final = 30.0
MAX_PIECE_SECONDS: Final = 600.0  # well under gpt-4o-transcribe's 1,500 s and 25 MB
_MAX_OVERLAP_WORDS: Final = 12
FRAME_SECONDS: Final = 0.05


@dataclass(frozen=True)
class Piece:
    start: float  # seconds
    end: float
    overlaps_previous: bool = False  # a hard cut: its first OVERLAP_SECONDS repeat the previous piece's end


def duration_seconds(data: bytes) -> float | None:
    """How long the audio plays, from the container's headers (None when they do not say)."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration:
                return float(container.duration) / 1_000_000
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except av.FFmpegError:
        return None
    return None


def silences(
    pcm: bytes, sample_rate: int = PIECE_SAMPLE_RATE, *, min_seconds: float = MIN_SILENCE_SECONDS
) -> list[tuple[float, float]]:
    """(start, end) in seconds of every quiet run of at least `min_seconds` in mono s16le PCM."""
    import av

    graph = av.filter.Graph()
    source = graph.add_abuffer(
        sample_rate=sample_rate, format="s16", layout="mono", time_base=Fraction(1, sample_rate)
    )
    detector = graph.add("silencedetect", f"noise={SILENCE_NOISE_DB}dB:d={min_seconds}")
    graph.link_nodes(source, detector, graph.add("abuffersink")).configure()
    found: list[tuple[float, float]] = []
    started: float | None = None

    def drain() -> None:
        nonlocal started
        while True:
            try:
                frame = graph.pull()
            except (av.error.EOFError, av.error.BlockingIOError):
                return
            metadata = dict(frame.metadata)
            if "lavfi.silence_end" in metadata and started is not None:
                found.append((max(started, 0.0), float(metadata["lavfi.silence_end"])))
                started = None
            if "lavfi.silence_start" in metadata:
                started = float(metadata["lavfi.silence_start"])

    # Short frames: silencedetect writes its findings on the frame where they happen, one of each a frame.
    step = int(sample_rate * FRAME_SECONDS) * BYTES_PER_SAMPLE
    for offset in range(0, len(pcm), step):
        chunk = pcm[offset : offset + step]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // BYTES_PER_SAMPLE)
        frame.planes[0].update(chunk)
        frame.sample_rate = sample_rate
        frame.time_base = Fraction(1, sample_rate)
        frame.pts = offset // BYTES_PER_SAMPLE
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    total = len(pcm) / BYTES_PER_SAMPLE / sample_rate
    if started is not None and total - started >= min_seconds:
        found.append((started, total))  # a recording that ends quiet
    return found


def piece_seconds_for(total_seconds: float, parallel: int) -> float:
    """Pieces for one round of `parallel` calls, within what one call should take.

    10% more than an even share: cuts fall in a silence before the target, so pieces come out shorter.
    """
    return min(max(total_seconds / max(parallel, 1) * 1.1, MIN_PIECE_SECONDS), MAX_PIECE_SECONDS)


def plan_pieces(total_seconds: float, quiet: list[tuple[float, float]], piece_seconds: float) -> list[Piece]:
    """Pieces of about `piece_seconds`, each cut in the silence nearest before its target end.

    A silence counts when its middle lies in the last quarter of the piece (at most 30 s back);
    without one, the cut is hard and the next piece starts OVERLAP_SECONDS earlier.
    """
    window = min(piece_seconds / 4, 30.0)
    pieces: list[Piece] = []
    start, overlapped = 0.0, False
    while total_seconds - start > piece_seconds:
        target = start + piece_seconds
        middles = [(a + b) / 2 for a, b in quiet if target - window <= (a + b) / 2 <= target]
        if middles:
            cut = max(middles)
            pieces.append(Piece(start, cut, overlapped))
            start, overlapped = cut, False
        else:
            pieces.append(Piece(start, target, overlapped))
            start, overlapped = target - OVERLAP_SECONDS, True
    pieces.append(Piece(start, total_seconds, overlapped))
    return pieces


def piece_pcm(pcm: bytes, piece: Piece, sample_rate: int = PIECE_SAMPLE_RATE) -> bytes:
    first = int(piece.start * sample_rate) * BYTES_PER_SAMPLE
    last = int(piece.end * sample_rate) * BYTES_PER_SAMPLE
    return pcm[first:last]


_WORD = re.compile(r"[\w']+")


def _key(word: str) -> str:
    return "".join(_WORD.findall(word.lower()))


def join_transcripts(texts: Iterable[str], pieces: Iterable[Piece]) -> str:
    """The pieces' transcripts in order; after a hard cut, the words both pieces heard are kept once."""
    return "".join(transcript_deltas(texts, pieces))


def transcript_deltas(texts: Iterable[str], pieces: Iterable[Piece]) -> Iterator[str]:
    """What each piece's transcript adds, in order (join_transcripts' words, given as they come):
    together they are the joined transcript. A piece that adds nothing gives ""."""
    joined: list[str] = []
    for text, piece in zip(texts, pieces, strict=True):
        words = text.split()
        if piece.overlaps_previous and joined:
            words = words[_repeated_words(joined, words) :]
        yield (" " if joined and words else "") + " ".join(words)
        joined += words


def _repeated_words(before: list[str], after: list[str]) -> int:
    """How many words at the start of `after` repeat the end of `before` (the longest match)."""
    tail = [_key(word) for word in before[-_MAX_OVERLAP_WORDS:]]
    head = [_key(word) for word in after[:_MAX_OVERLAP_WORDS]]
    for size in range(min(len(tail), len(head)), 0, -1):
        if tail[-size:] == head[:size]:
            return size
    return 0


def most_heard_language(results: Iterable[TranscriptionResult], pieces: Iterable[Piece]) -> str | None:
    """The language of the pieces heard longest in it (a recording that changes language is named by the one most
    of it is in)."""
    return most_heard(
        (result.language, piece.end - piece.start) for result, piece in zip(results, pieces, strict=True)
    )


def join_timed(
    results: Sequence[TranscriptionResult], pieces: Sequence[Piece], total_seconds: float
) -> TranscriptionResult:
    """The pieces' timed transcripts on the recording's clock: each piece's segments and words moved by
    the piece's start. After a hard cut, the later piece's segments (and words) that start before the
    previous piece's end are dropped: that audio was already heard, whole, by the previous piece. (A
    segment that straddles the cut is kept: a word may then be heard twice, never lost.) The text is
    the kept segments' texts, so that it matches them."""
    segments: list[TimedSegment] = []
    words: list[TimedWord] = []
    heard_until = 0.0  # where the previous piece ended
    for result, piece in zip(results, pieces, strict=True):
        keep_from = heard_until if piece.overlaps_previous else 0.0
        segments += (
            replace(
                s,
                start=s.start + piece.start,
                end=s.end + piece.start,
                seek=s.seek + round(piece.start * 100),
            )
            for s in result.segments or ()
            if s.start + piece.start >= keep_from
        )
        words += (
            TimedWord(w.start + piece.start, w.end + piece.start, w.word)
            for w in result.words or ()
            if w.start + piece.start >= keep_from
        )
        heard_until = piece.end
    return TranscriptionResult(
        text=" ".join(s.text.strip() for s in segments if s.text.strip()),
        language=most_heard_language(results, pieces),
        duration=total_seconds,
        segments=tuple(segments),
        words=tuple(words) if any(r.words is not None for r in results) else None,
    )
