"""Only speech goes upstream: where a recording has speech (WebRTC's voice activity detector), and the clock
that maps the speech kept, joined, back to the recording's.

Whisper-like recognisers hear words in silence and noise ("Thank you for watching"), and every upstream bills
the seconds it is sent. So the stretches without speech are cut out before any upstream call: the speech found
is joined (each stretch with PAD_SECONDS of its surroundings, so no word's edge is lost) and sent, and the
timings heard on the joined audio are moved back to the recording's clock (`SpeechClock`).

The detector is WebRTC's (`webrtcvad-wheels`: 0.26 MB, about 0.3 s of CPU an hour of audio), in its most
aggressive mode; docs/api.md gives what was measured against Silero VAD and why this one was chosen.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Final

from speech_common.engines.base import TimedSegment, TimedWord, TranscriptionResult

SAMPLE_RATE: Final = 16_000  # long_audio.PIECE_SAMPLE_RATE: one of the rates the detector takes
BYTES_PER_SAMPLE: Final = 2
FRAME_SECONDS: Final = 0.03  # the detector takes frames of 10, 20 or 30 ms
AGGRESSIVENESS: Final = 3  # 0-3: 3 lets the least noise through (measured: docs/api.md)
# A run of speech frames shorter than this is a click or a bump, not a word.
MIN_SPEECH_SECONDS: Final = 0.15
# Kept on each side of the speech found: the soft start and end of a word the detector misses.
PAD_SECONDS: Final = 0.3
# Pauses shorter than this stay in (with the padding, about 1.6 s): cutting them saves little and may part words.
MIN_GAP_SECONDS: Final = 1.0


@dataclass(frozen=True)
class SpeechClock:
    """Where the speech kept lies on the recording's clock: `spans` (start, end) in seconds, in order, joined
    back to back in the audio sent."""

    spans: tuple[tuple[float, float], ...]
    total_seconds: float  # the recording's

    @property
    def speech_seconds(self) -> float:
        return sum(end - start for start, end in self.spans)

    @property
    def is_whole(self) -> bool:
        """Nothing was cut: the recording can be sent as it is."""
        return len(self.spans) == 1 and self.spans[0][0] <= 0.0 and self.spans[0][1] >= self.total_seconds

    def original_time(self, seconds: float) -> float:
        """A time on the joined speech's clock, on the recording's."""
        if not self.spans:
            return seconds
        starts = self._joined_starts()
        index = max(bisect.bisect_right(starts, seconds) - 1, 0)
        start, end = self.spans[index]
        return min(
            start + seconds - starts[index], end if index < len(self.spans) - 1 else self.total_seconds
        )

    def _joined_starts(self) -> list[float]:
        starts, at = [], 0.0
        for start, end in self.spans:
            starts.append(at)
            at += end - start
        return starts

    def kept_pcm(self, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
        """The spans of mono s16le `pcm`, joined."""
        return b"".join(
            pcm[_offset(start, sample_rate) : _offset(end, sample_rate)] for start, end in self.spans
        )

    def on_recording(self, result: TranscriptionResult) -> TranscriptionResult:
        """`result`, heard on the joined speech, with its timings on the recording's clock and its duration."""
        return replace(
            result,
            duration=self.total_seconds,
            segments=None
            if result.segments is None
            else tuple(self._segment(segment) for segment in result.segments),
            words=None
            if result.words is None
            else tuple(
                TimedWord(self.original_time(w.start), self.original_time(w.end), w.word)
                for w in result.words
            ),
        )

    def _segment(self, segment: TimedSegment) -> TimedSegment:
        start = self.original_time(segment.start)
        return replace(
            segment,
            start=start,
            end=max(self.original_time(segment.end), start),
            seek=round(self.original_time(segment.seek / 100) * 100),
        )


def _offset(seconds: float, sample_rate: int) -> int:
    return int(seconds * sample_rate) * BYTES_PER_SAMPLE


def speech_frames(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> list[bool]:
    """Whether each FRAME_SECONDS frame of mono s16le `pcm` holds speech (a last partial frame is left out)."""
    import webrtcvad

    detector = webrtcvad.Vad(AGGRESSIVENESS)
    size = int(sample_rate * FRAME_SECONDS) * BYTES_PER_SAMPLE
    view = memoryview(pcm)
    return [
        detector.is_speech(bytes(view[offset : offset + size]), sample_rate)
        for offset in range(0, len(pcm) - size + 1, size)
    ]


def spans_of(frames: list[bool], total_seconds: float) -> tuple[tuple[float, float], ...]:
    """The stretches to keep, from per-frame findings: runs of speech of at least MIN_SPEECH_SECONDS, padded by
    PAD_SECONDS, those less than MIN_GAP_SECONDS apart merged, within the recording."""
    runs: list[tuple[float, float]] = []
    start: int | None = None
    for index, speech in enumerate([*frames, False]):
        if speech and start is None:
            start = index
        elif not speech and start is not None:
            if (index - start) * FRAME_SECONDS >= MIN_SPEECH_SECONDS:
                runs.append((start * FRAME_SECONDS, index * FRAME_SECONDS))
            start = None
    spans: list[tuple[float, float]] = []
    for run_start, run_end in runs:
        padded = (max(run_start - PAD_SECONDS, 0.0), min(run_end + PAD_SECONDS, total_seconds))
        if spans and padded[0] - spans[-1][1] < MIN_GAP_SECONDS:
            spans[-1] = (spans[-1][0], padded[1])
        else:
            spans.append(padded)
    if spans and spans[0][0] < MIN_GAP_SECONDS:  # a short lead-in is kept: no cut to save little
        spans[0] = (0.0, spans[0][1])
    if spans and total_seconds - spans[-1][1] < MIN_GAP_SECONDS:
        spans[-1] = (spans[-1][0], total_seconds)
    return tuple(spans)


def speech_clock(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> SpeechClock:
    """Where mono s16le `pcm` (at 8, 16, 32 or 48 kHz) has speech."""
    total = len(pcm) / BYTES_PER_SAMPLE / sample_rate
    return SpeechClock(spans_of(speech_frames(pcm, sample_rate), total), total)


def whole(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> SpeechClock:
    """All of mono s16le `pcm`, as if it were speech throughout (the pass turned off)."""
    total = len(pcm) / BYTES_PER_SAMPLE / sample_rate
    return SpeechClock(((0.0, total),), total)
