"""Decoding audio answers in tests: their PCM, codec and how long they play (PyAV)."""

from __future__ import annotations

import io

import av

from speech_common.transcode import iter_decoded_pcm


def decode_to_pcm(data: bytes, *, sample_rate: int = 16_000) -> bytes:
    """The first audio stream of `data` as mono s16le PCM (raises AudioDecodeError when undecodable)."""
    return b"".join(iter_decoded_pcm(data, sample_rate=sample_rate))


def duration_seconds(data: bytes) -> float:
    """How long the first audio stream of `data` plays, counted from its decoded samples.

    Decoding is exact where headers are not (ADTS has no duration; mp3 may lack a Xing header).
    """
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        return sum(frame.samples / frame.sample_rate for frame in container.decode(stream))


def codec_and_samples(data: bytes) -> tuple[str, int]:
    """The codec of the first audio stream of `data`, and how many samples it decodes to."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return str(stream.codec_context.name), sum(frame.samples for frame in container.decode(stream))
