"""Decode uploaded audio to PCM and encode PCM to the speech formats, with PyAV (FFmpeg).

PCM here always means mono signed 16-bit little-endian samples. PyAV is imported inside the
functions: importing it costs time that a request answered with a 400 should not pay.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import time
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, cast

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream

# OpenAI's speech endpoint answers at 24 kHz in every format; so do we, whatever the source rate.
OUTPUT_SAMPLE_RATE: Final = 24_000
# PCM is handed to the encoder this many seconds at a time (a speech job's hours never copied whole).
ENCODE_FRAME_SECONDS: Final = 10
# FFmpeg's atempo filter accepts 0.5-100 per instance; slower tempos chain instances.
_ATEMPO_MIN: Final = 0.5


@dataclass(frozen=True)
class _Encoding:
    container: str
    codec: str
    bit_rate: int | None  # None: lossless, the codec decides


# How each response_format is packaged, matching /v1/audio/speech (opus in Ogg, aac as ADTS).
_ENCODINGS: Final[dict[str, _Encoding]] = {
    "mp3": _Encoding(container="mp3", codec="libmp3lame", bit_rate=64_000),
    "opus": _Encoding(container="ogg", codec="libopus", bit_rate=32_000),
    "aac": _Encoding(container="adts", codec="aac", bit_rate=64_000),
    "flac": _Encoding(container="flac", codec="flac", bit_rate=None),
    "wav": _Encoding(container="wav", codec="pcm_s16le", bit_rate=None),
}
OUTPUT_FORMATS: Final[tuple[str, ...]] = (*_ENCODINGS, "pcm")

_BYTES_PER_SAMPLE: Final = 2


# Streams past these are not speech, or are made to cost: refused before (and while) they are decoded. Decoding's
# work grows with rate x channels, so these also bound how long measuring a recording up to its cap can take.
MAX_SAMPLE_RATE: Final = 384_000
MAX_CHANNELS: Final = 8
# The demuxer's options for reading an upload: a WAV's data size is not believed (the audio is read to the file's
# end), so that a header declaring 10 s cannot hide 40 min from the count. Formats without the option ignore it.
_UPLOAD_OPTIONS: Final = {"ignore_length": "1"}


class AudioDecodeError(ValueError):
    """The bytes are not audio FFmpeg can decode, or hold no audio stream."""


class StreamOutOfBounds(AudioDecodeError):
    """A stream whose sample rate or channel count is past MAX_SAMPLE_RATE or MAX_CHANNELS."""


class OutOfTime(TimeoutError):  # a finding, not a failure
    """Counting went past its `give_up_at` before it finished: the length is not known."""


class LongerThan(ValueError):  # a finding, not a failure
    """Decoding passed `limit` seconds (and stopped there: how much longer the audio is, is not known)."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"longer than {limit:g} s")
        self.limit = limit


def _pcm_frame(pcm: bytes | memoryview, sample_rate: int, pts: int = 0) -> AudioFrame:
    import av

    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // _BYTES_PER_SAMPLE)
    frame.planes[0].update(pcm)  # type: ignore[arg-type]  # any buffer; the stub says bytes
    frame.sample_rate = sample_rate
    frame.time_base = Fraction(1, sample_rate)
    frame.pts = pts
    return frame


def _pcm_frames(pcm: bytes, sample_rate: int) -> Generator[AudioFrame]:
    """`pcm` as frames of ENCODE_FRAME_SECONDS, so that the encoder never holds a second copy of it whole."""
    step = ENCODE_FRAME_SECONDS * sample_rate * _BYTES_PER_SAMPLE
    view = memoryview(pcm)
    for start in range(0, len(pcm), step):
        yield _pcm_frame(view[start : start + step], sample_rate, pts=start // _BYTES_PER_SAMPLE)


def _frame_bytes(frame: AudioFrame) -> bytes:
    # A plane's buffer may be padded past the last sample.
    return bytes(frame.planes[0])[: frame.samples * _BYTES_PER_SAMPLE]


def _check_pcm(pcm: bytes, sample_rate: int) -> None:
    if len(pcm) % _BYTES_PER_SAMPLE:
        raise ValueError("PCM must hold whole 16-bit samples")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")


def resample_pcm(pcm: bytes, *, from_rate: int, to_rate: int) -> bytes:
    """The same mono s16le audio at another sample rate."""
    _check_pcm(pcm, from_rate)
    if from_rate == to_rate or not pcm:
        return pcm
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    frames = resampler.resample(_pcm_frame(pcm, from_rate)) + resampler.resample(None)
    return b"".join(_frame_bytes(frame) for frame in frames)


def change_tempo(pcm: bytes, *, sample_rate: int, factor: float) -> bytes:
    """Play mono s16le audio `factor` times faster (below 1: slower) without changing its pitch."""
    _check_pcm(pcm, sample_rate)
    if factor <= 0:
        raise ValueError("factor must be positive")
    if factor == 1.0 or not pcm:
        return pcm
    import av

    stages: list[float] = []
    remaining = factor
    while remaining < _ATEMPO_MIN:
        stages.append(_ATEMPO_MIN)
        remaining /= _ATEMPO_MIN
    stages.append(remaining)

    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(sample_rate=sample_rate, format="s16", layout="mono")]
    nodes += [graph.add("atempo", f"{stage:.6f}") for stage in stages]
    nodes.append(graph.add("abuffersink"))
    graph.link_nodes(*nodes).configure()

    graph.push(_pcm_frame(pcm, sample_rate))
    graph.push(None)
    chunks: list[bytes] = []
    while True:
        try:
            frame = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        chunks.append(_frame_bytes(frame))  # type: ignore[arg-type]  # an audio graph yields audio frames
    return b"".join(chunks)


def encode_pcm(pcm: bytes, *, sample_rate: int, fmt: str, output_rate: int = OUTPUT_SAMPLE_RATE) -> bytes:
    """Encode mono s16le PCM as `fmt` (mp3 opus aac flac wav pcm), at 24 kHz like OpenAI's answers
    (or `output_rate`: 16 kHz is enough for a recogniser).

    "pcm" is raw s16le mono with no header.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    resampled = resample_pcm(pcm, from_rate=sample_rate, to_rate=output_rate)
    if fmt == "pcm":
        return resampled
    import av

    encoding = _ENCODINGS[fmt]
    output = io.BytesIO()
    with av.open(output, mode="w", format=encoding.container) as container:
        stream = cast("AudioStream", container.add_stream(encoding.codec, rate=output_rate, layout="mono"))
        if encoding.bit_rate is not None:
            stream.bit_rate = encoding.bit_rate
        for frame in _pcm_frames(resampled, output_rate):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flushes the encoder
    return output.getvalue()


def _decoded_frames(data: bytes) -> Generator[AudioFrame]:
    """The frames of the first audio stream of `data`, as decoded (any rate, layout, format)."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio stream")
            yield from container.decode(container.streams.audio[0])
    except av.FFmpegError as error:
        raise AudioDecodeError(f"undecodable audio ({type(error).__name__})") from error


def _check_bounds(sample_rate: int, channels: int) -> None:
    if sample_rate > MAX_SAMPLE_RATE:
        raise StreamOutOfBounds(
            f"a sample rate of {sample_rate:,} Hz (at most {MAX_SAMPLE_RATE:,} are taken)"
        )
    if channels > MAX_CHANNELS:
        raise StreamOutOfBounds(f"{channels} channels (at most {MAX_CHANNELS} are taken)")


def decoded_seconds(data: bytes | str, *, limit: float, give_up_at: float | None = None) -> float:
    """How long the first audio stream of `data` (bytes, or a file's path: a large upload is not held in memory)
    plays, counted from its decoded samples (no header is believed: not the container's duration, not a WAV's data
    size), without resampling. Past `give_up_at` (time.monotonic()) before the end: OutOfTime.

    Decoding stops as soon as the count passes `limit` (LongerThan), so neither memory nor time grows with what a
    small file claims or expands to. Raises StreamOutOfBounds for a sample rate or channel count past the limits
    (checked on the stream, then on every frame: they may change mid-stream), AudioDecodeError for bytes that are
    not audio or decode to no sample.
    """
    import av

    seconds = 0.0
    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        with av.open(source, mode="r", options=dict(_UPLOAD_OPTIONS)) as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio stream")
            stream = container.streams.audio[0]
            _check_bounds(stream.codec_context.sample_rate or 0, stream.codec_context.channels or 0)
            for frame in container.decode(stream):
                _check_bounds(frame.sample_rate, len(frame.layout.channels))
                seconds += frame.samples / frame.sample_rate
                if seconds > limit:
                    raise LongerThan(limit)
                if give_up_at is not None and time.monotonic() > give_up_at:
                    raise OutOfTime("counting the audio took too long")
    except av.FFmpegError as error:
        raise AudioDecodeError(f"undecodable audio ({type(error).__name__})") from error
    if seconds <= 0:
        raise AudioDecodeError("no audio decoded")
    return seconds


def iter_decoded_pcm(
    data: bytes, *, sample_rate: int = 16_000, max_seconds: float | None = None
) -> Generator[bytes]:
    """Decode the first audio stream of `data` chunk by chunk as mono s16le at `sample_rate`.

    Lets a caller stop early (a deadline) without holding a whole long recording in memory;
    close() the generator when stopping early. Raises AudioDecodeError for undecodable bytes; with
    `max_seconds`, LongerThan as soon as more than that was decoded (what was measured is checked again).
    """
    import av

    most = None if max_seconds is None else int(max_seconds * sample_rate) * _BYTES_PER_SAMPLE
    given = 0
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    with closing(_decoded_frames(data)) as frames:
        for frame in itertools.chain(frames, [None]):  # None: what the resampler still holds
            for resampled in resampler.resample(frame):
                pcm = _frame_bytes(resampled)
                given += len(pcm)
                if most is not None and given > most:
                    raise LongerThan(cast("float", max_seconds))
                yield pcm


# A streamed wav's sizes are unknown when its header is sent: the largest value, as OpenAI's streamed wav
# says it (decoders then read the data to its end).
UNKNOWN_WAV_SIZE: Final = 0xFFFFFFFF
# Ogg pages of at most this long (µs): FFmpeg's default (1 s) would hold the first audio back that long.
_OGG_PAGE_MICROSECONDS: Final = 100_000


def streamed_wav_header(sample_rate: int = OUTPUT_SAMPLE_RATE) -> bytes:
    """A mono s16le WAVE header whose RIFF and data sizes are unknown (0xFFFFFFFF)."""
    byte_rate = sample_rate * _BYTES_PER_SAMPLE
    return (
        b"RIFF"
        + UNKNOWN_WAV_SIZE.to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + sample_rate.to_bytes(4, "little")
        + byte_rate.to_bytes(4, "little")
        + _BYTES_PER_SAMPLE.to_bytes(2, "little")  # block align
        + (8 * _BYTES_PER_SAMPLE).to_bytes(2, "little")  # bits per sample
        + b"data"
        + UNKNOWN_WAV_SIZE.to_bytes(4, "little")
    )


class _Drain:
    """Where the muxer writes: not seekable (so nothing written is rewritten later), emptied as it is read."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class StreamingEncoder:
    """Mono s16le PCM (24 kHz) encoded as it comes: `feed(pcm)` returns the bytes of `fmt` ready so far (maybe
    none yet), `close()` the rest. All of them, in order, are one valid file of `fmt` (mp3 opus aac flac wav pcm).

    The file cannot say its length in its header (it is sent before the audio is known): wav says 0xFFFFFFFF,
    as OpenAI's streamed wav does, and flac's STREAMINFO leaves its sample count unknown (0), as FLAC allows.
    Pieces of any length may be fed; a byte left over from an odd-length piece waits for the next.
    """

    def __init__(self, fmt: str, *, sample_rate: int = OUTPUT_SAMPLE_RATE) -> None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(
                f"unsupported output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}"
            )
        self.fmt = fmt
        self._sample_rate = sample_rate
        self._carry = b""
        self._samples = 0  # fed so far: the next frame's pts
        self._started = False
        self._closed = False
        self._drain = _Drain()
        self._container: Any = None
        self._stream: Any = None

    def feed(self, pcm: bytes) -> bytes:
        if self._closed:
            raise ValueError("the encoder is closed")
        pcm = self._carry + pcm
        whole = len(pcm) - len(pcm) % _BYTES_PER_SAMPLE
        pcm, self._carry = pcm[:whole], pcm[whole:]
        head = self._start()
        if not pcm:
            return head
        if self.fmt in ("pcm", "wav"):
            return head + pcm
        frame = _pcm_frame(pcm, self._sample_rate, pts=self._samples)
        self._samples += frame.samples
        self._container.mux(self._stream.encode(frame))
        return head + self._drain.take()

    def close(self) -> bytes:
        """The end of the file (the encoder's last frames); the file's start too, if nothing was fed."""
        if self._closed:
            return b""
        head = self._start()
        self._closed = True
        if self._container is None:
            return head
        try:
            self._container.mux(self._stream.encode(None))  # flushes the encoder
        finally:
            self._container.close()
        return head + self._drain.take()

    def abort(self) -> None:
        """Stop without ending the file (the stream failed or was dropped): frees the encoder."""
        self._closed = True
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()

    def _start(self) -> bytes:
        """The file's header the first time (the codec's own, for the PyAV formats), else nothing."""
        if self._started:
            return b""
        self._started = True
        if self.fmt == "pcm":
            return b""
        if self.fmt == "wav":
            return streamed_wav_header(self._sample_rate)
        import av

        encoding = _ENCODINGS[self.fmt]
        options = {"page_duration": str(_OGG_PAGE_MICROSECONDS)} if encoding.container == "ogg" else {}
        self._container = av.open(self._drain, mode="w", format=encoding.container, options=options)
        self._stream = self._container.add_stream(encoding.codec, rate=self._sample_rate, layout="mono")
        if encoding.bit_rate is not None:
            self._stream.bit_rate = encoding.bit_rate
        return b""  # the container writes its header with the first frame
