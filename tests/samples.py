"""Real audio files in every upload format, made with PyAV (cached per process)."""

from __future__ import annotations

import io
import math
import struct
from functools import cache

import av

# format -> (container, codec, sample rate)
_RECIPES = {
    "mp3": ("mp3", "libmp3lame", 24000),
    "wav": ("wav", "pcm_s16le", 16000),
    "flac": ("flac", "flac", 16000),
    "ogg": ("ogg", "libopus", 48000),  # Ogg Opus (PyAV has no libvorbis encoder)
    "webm": ("webm", "libopus", 48000),
    "m4a": ("ipod", "aac", 24000),
}
UPLOAD_FORMATS = tuple(_RECIPES)


def sine_pcm(seconds: float, rate: int, hz: float = 440.0) -> bytes:
    """Mono s16le samples of a sine tone."""
    total = int(seconds * rate)
    return struct.pack(
        f"<{total}h", *(int(9000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(total))
    )


def encode(fmt: str, pcm: bytes, rate: int) -> bytes:
    """Mono s16le `pcm` at `rate`, as a file of upload format `fmt` (resampled to the codec's rate)."""
    container_name, codec, codec_rate = _RECIPES[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_name) as container:
        stream = container.add_stream(codec, rate=codec_rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=codec_rate)
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = rate
        frame.pts = 0
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@cache
def tone(fmt: str, seconds: float = 0.5, hz: float = 440.0) -> bytes:
    rate = _RECIPES[fmt][2]
    return encode(fmt, sine_pcm(seconds, rate, hz), rate)


def wav_declaring(
    declared_seconds: float, held_seconds: float, *, rate: int = 8000, channels: int = 1
) -> bytes:
    """An 8-bit PCM WAV whose header declares `declared_seconds` of audio and whose data holds `held_seconds`."""
    declared = int(declared_seconds * rate) * channels
    data = bytes([128]) * (int(held_seconds * rate) * channels)  # 8-bit PCM's silence is 128
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels, channels, 8)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + declared)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", declared)
        + data
    )


@cache
def silent_flac(seconds: float, *, rate: int = 8000) -> bytes:
    """A FLAC of `seconds` of silence: about 11 KB a minute (a small file that decodes to hours)."""
    buffer = io.BytesIO()
    step = rate * 60
    with av.open(buffer, mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        for start in range(0, int(seconds * rate), step):
            frame = av.AudioFrame(format="s16", layout="mono", samples=step)
            frame.planes[0].update(bytes(step * 2))
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()
