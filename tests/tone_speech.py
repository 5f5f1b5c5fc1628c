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


# -- voices: who speaks, for diarization ---------------------------------------------------------------------------
# Each voice hums a low tone of its own under its words (below every word's pitch), as a timbre tells people apart.
VOICE_HZ = (90.0, 140.0, 190.0, 240.0, 65.0)
VOICE_AMPLITUDE = 3_000
_WINDOW_SECONDS = 0.3  # of a word's middle, to tell its pitch and its voice (10/3 Hz apart is enough)


@cache
def voiced(seconds: float, hz: float, voice: int) -> bytes:
    """A word's tone (`tone`, however it sounds) with the voice's hum added under it."""
    import numpy as np

    word = np.frombuffer(tone(seconds, hz), dtype="<i2").astype(np.int32)
    t = np.arange(len(word)) / RATE
    hum = (VOICE_AMPLITUDE * np.sin(2 * np.pi * VOICE_HZ[voice] * t)).astype(np.int32)
    return np.clip(word + hum, -32768, 32767).astype("<i2").tobytes()


def conversation(
    turns: list[tuple[int, list[str]]],
    *,
    word_seconds: float = 0.6,
    gap_seconds: float = 0.6,
    turn_gap_seconds: float = 1.0,
) -> bytes:
    """Mono s16le 16 kHz PCM of (voice, words) turns: each word its tone over the voice's hum, then a gap; a longer
    pause between turns."""
    parts = []
    for number, (voice, words) in enumerate(turns):
        if number:
            parts.append(silence(turn_gap_seconds - gap_seconds))
        parts += [voiced(word_seconds, hz_of(word), voice) + silence(gap_seconds) for word in words]
    return b"".join(parts)


def hear_voices(data: bytes) -> list[tuple[float, float, str, int]]:
    """(start, end, word, voice) of each word in an audio file: its pitch and its hum, by their spectrum."""
    import numpy as np

    pcm = b"".join(iter_decoded_pcm(data, sample_rate=RATE))
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    seconds = len(samples) / RATE
    quiet = silences(pcm, RATE, min_seconds=0.1)
    bounds = [0.0] + [edge for run in quiet for edge in run] + [seconds]
    size = int(_WINDOW_SECONDS * RATE)
    window = np.hanning(size)
    t = np.arange(size) / RATE
    word_waves = [np.exp(-2j * np.pi * hz_of(word) * t) for word in WORDS]
    voice_waves = [np.exp(-2j * np.pi * hz * t) for hz in VOICE_HZ]
    heard = []
    for start, end in zip(bounds[0::2], bounds[1::2], strict=False):
        if end - start < 0.15:
            continue  # a click at a cut, not a word
        first = max(0, int((start + end) / 2 * RATE) - size // 2)
        chunk = samples[first : first + size]
        if len(chunk) < size:
            continue
        chunk = chunk * window
        word = int(np.argmax([abs(chunk @ wave) for wave in word_waves]))
        voice = int(np.argmax([abs(chunk @ wave) for wave in voice_waves]))
        heard.append((start, end, WORDS[word], voice))
    return heard


def voice_of(data: bytes) -> int | None:
    """The voice heard most in an audio file (a known speaker's reference clip)."""
    voices = [voice for *_, voice in hear_voices(data)]
    return max(set(voices), key=voices.count) if voices else None


def diarize(data: bytes, known: list[tuple[str, bytes]]) -> list[tuple[float, float, str, str]]:
    """A diarizer for the fake OpenAI server, as gpt-4o-transcribe-diarize labels: (start, end, text, speaker)
    segments, one a turn (a voice's run of words, at most 8 words), each known voice under its given name (`known`:
    name and reference clip), the others A, B, ... in order of appearance in this file."""
    names = {voice_of(clip): name for name, clip in known}
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    labels: dict[int, str] = {}
    segments: list[tuple[float, float, str, str]] = []
    run: list[tuple[float, float, str, int]] = []
    for word in [*hear_voices(data), None]:
        if run and (word is None or word[3] != run[0][3] or len(run) == 8):
            voice = run[0][3]
            if voice not in names and voice not in labels:
                labels[voice] = next(letters)
            speaker = names.get(voice) or labels[voice]
            segments.append((run[0][0], run[-1][1], " ".join(w[2] for w in run), speaker))
            run = []
        if word is not None:
            run.append(word)
    return segments
