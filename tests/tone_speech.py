"""Speech a machine can hear exactly: each word a voiced tone of its own pitch, words apart by silences.

For long-audio tests: `recording(words)` makes the PCM, and `hear(file)` is a transcriber for the
fake OpenAI server that decodes an uploaded file and names each tone it finds, so a transcript
shows which words every piece held, in order; `hear_timed(file)` also says when (verbose_json's segments).
"""

from __future__ import annotations

import itertools
import math
import struct
from functools import cache

from speech_common.long_audio import silences
from speech_common.transcode import iter_decoded_pcm

RATE = 16_000
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
BASE_HZ = 300.0
STEP_HZ = 150.0


def hz_of(word: str) -> float:
    return BASE_HZ + STEP_HZ * WORDS.index(word)


@cache
def tone(seconds: float, hz: float) -> bytes:
    """A voiced sound at `hz`: weak 2nd and 3rd harmonics, a 5 Hz vibrato of 2% and a 4 Hz swell, so that a voice
    activity detector hears it as speech (a pure tone is not: it is heard as noise after a moment). Its
    zero crossings still count `hz`, also through Opus: the harmonics are too weak to add any, the vibrato too
    shallow to move the count to a neighbour's pitch."""
    count = int(seconds * RATE)
    samples, phase = [], 0.0
    for i in range(count):
        t = i / RATE
        phase += 2 * math.pi * hz * (1 + 0.02 * math.sin(2 * math.pi * 5 * t)) / RATE
        swell = 1 - 0.5 * (0.5 + 0.5 * math.cos(2 * math.pi * 4 * t))
        voiced = math.sin(phase) + 0.25 * math.sin(2 * phase) + 0.1 * math.sin(3 * phase)
        samples.append(int(12_000 / 1.35 * swell * voiced))
    return struct.pack(f"<{count}h", *samples)


@cache
def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def recording(words: list[str], *, word_seconds: float = 0.6, gap_seconds: float = 0.6) -> bytes:
    """Mono s16le 16 kHz PCM: each word a tone, followed by a gap of silence."""
    return b"".join(tone(word_seconds, hz_of(word)) + silence(gap_seconds) for word in words)


def hear(data: bytes) -> str:
    """The words in an audio file: one per sound between silences of 0.1 s or more, named by pitch."""
    return " ".join(word for _, _, word in hear_timed(data))


def hear_timed(data: bytes) -> list[tuple[float, float, str]]:
    """(start, end, word) in seconds of each word in an audio file: a segmenter for the fake OpenAI server."""
    pcm = b"".join(iter_decoded_pcm(data, sample_rate=RATE))
    seconds = len(pcm) / 2 / RATE
    quiet = silences(pcm, RATE, min_seconds=0.1)
    bounds = [0.0] + [edge for run in quiet for edge in run] + [seconds]
    words = []
    for start, end in zip(bounds[0::2], bounds[1::2], strict=False):
        if end - start < 0.15:
            continue  # a click at a cut, not a word
        middle = (start + end) / 2
        first = int((middle - 0.05) * RATE) * 2
        samples = struct.unpack(f"<{len(pcm[first : first + 3200]) // 2}h", pcm[first : first + 3200])
        crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
        hz = crossings / 2 / (len(samples) / RATE)
        index = round((hz - BASE_HZ) / STEP_HZ)
        if 0 <= index < len(WORDS):
            words.append((start, end, WORDS[index]))
    return words
