"""The size rules every door applies before and after paying the upstream (framework-neutral)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from speech_common.error_codes import ErrorCode
from speech_common.errors import PayloadTooLarge
from speech_common.settings import get_settings

if TYPE_CHECKING:
    from speech_common.core import TranscriptionJob

# Lossless audio is large: bytes a second of speech (24 kHz 16-bit mono; flac about halves it), and a
# fast speaking pace, so that the estimate errs small and refuses only what surely cannot fit.
_LOSSLESS_BYTES_PER_SECOND = {"wav": 48_000, "pcm": 48_000, "flac": 24_000}
_FAST_CHARS_PER_SECOND = 18.0


def fits_in_answer(audio: bytes) -> bool:
    """Whether Lambda can return the audio (base64-encoded, as API Gateway carries it): it refuses over 6 MB."""
    return 4 * ((len(audio) + 2) // 3) <= get_settings().max_response_body_bytes


def refuse_audio_too_long_to_answer(job: TranscriptionJob, way_out: str) -> TranscriptionJob:
    """`job` with its recording measured (decoded, up to the cap); refused, before any upstream call, when it is longer
    than one request can transcribe in time, or cannot be decoded."""
    from speech_common.core import measured  # the core comes with the route that calls it

    audio = measured(
        job.audio, get_settings().sync_max_audio_seconds, f"one request can transcribe in time; {way_out}"
    )
    return replace(job, audio=audio)


def refuse_audio_too_large_to_return(text: str, response_format: str, speed: float, way_out: str) -> None:
    """Refuse, before paying the upstream, lossless audio that cannot fit in Lambda's answer."""
    bytes_per_second = _LOSSLESS_BYTES_PER_SECOND.get(response_format)
    if bytes_per_second is None:
        return
    seconds = len(text) / _FAST_CHARS_PER_SECOND / speed
    encoded_bytes = seconds * bytes_per_second * 4 / 3
    if encoded_bytes > get_settings().max_response_body_bytes:
        raise PayloadTooLarge(
            f"{response_format} audio of this text (about {seconds:.0f} s) would be larger than "
            f"the API can return; {way_out}",
            code=ErrorCode.RESPONSE_TOO_LARGE,
        )


def refuse_audio_too_large_to_answer(audio: bytes, response_format: str, way_out: str) -> None:
    """413 when the audio made cannot be returned (Lambda's 6 MB, base64-encoded), rather than the gateway's 502."""
    if not fits_in_answer(audio):
        raise PayloadTooLarge(
            f"{response_format} audio of this text ({len(audio)} bytes) is larger than the API can return "
            f"(Lambda's 6 MB, base64-encoded); {way_out}",
            code=ErrorCode.RESPONSE_TOO_LARGE,
        )
