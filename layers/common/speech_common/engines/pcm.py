"""Raw PCM (mono s16le) as engines join it, and the share of a speed an upstream cannot apply."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

BYTES_PER_SAMPLE: Final = 2


def whole_samples(pcm: bytes) -> bytes:
    # A truncated stream could end mid-sample; a stray byte would shift every later sample by half.
    return pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE]


def join_pcm_releasing(parts: list[bytes], *, gap_samples: int = 0) -> bytes:
    """join_pcm of a list that is emptied as it is joined: a long text's parts and their join are
    never held whole at once."""
    joined = bytearray()
    gap = bytes(gap_samples * BYTES_PER_SAMPLE)
    for index in range(len(parts)):
        if index:
            joined += gap
        joined += whole_samples(parts[index])
        parts[index] = b""
    parts.clear()
    return bytes(joined)


def join_pcm(parts: Iterable[bytes], *, gap_samples: int = 0) -> bytes:
    """PCM parts in order, each cut to whole samples, with `gap_samples` of silence between them."""
    return bytes(gap_samples * BYTES_PER_SAMPLE).join(whole_samples(part) for part in parts)


def split_speed(speed: float, *, lowest: float, highest: float) -> tuple[float, float]:
    """(speed the upstream applies, factor still to apply locally); their product is `speed`."""
    upstream = min(max(speed, lowest), highest)
    return upstream, speed / upstream
