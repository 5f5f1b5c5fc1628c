"""PCM is encoded in every speech format, and every upload format decodes back to PCM."""

from __future__ import annotations

import io
import itertools
import struct
import time
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from speech_common import transcode
from speech_common.audio import sniff_audio_format
from speech_common.transcode import (
    ENCODE_FRAME_SECONDS,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    OUTPUT_FORMATS,
    OUTPUT_SAMPLE_RATE,
    AudioDecodeError,
    LongerThan,
    OutOfTime,
    StreamOutOfBounds,
    change_tempo,
    decoded_seconds,
    encode_pcm,
    iter_decoded_pcm,
)
from tests.audio_helpers import decode_to_pcm, duration_seconds
from tests.samples import UPLOAD_FORMATS, silent_flac, sine_pcm, tone, wav_declaring

# response_format -> (container FFmpeg reports, decoders that may read it)
CONTAINERS = {
    "mp3": ("mp3", {"mp3", "mp3float"}),
    "opus": ("ogg", {"opus", "libopus"}),
    "aac": ("aac", {"aac"}),  # FFmpeg names the ADTS demuxer "aac"
    "flac": ("flac", {"flac"}),
    "wav": ("wav", {"pcm_s16le"}),
}
# What a listener sees first: the bytes that name each container.
MAGIC = {"opus": b"OggS", "flac": b"fLaC", "wav": b"RIFF"}


def tone_hz(pcm: bytes, sample_rate: int) -> float:
    """The frequency of a loud pure tone, from its sign changes (two per period) while it sounds.

    Quiet samples are left out, so that codec noise around silence (AAC's priming) does not count.
    """
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    loud = [(index, sample > 0) for index, sample in enumerate(samples) if abs(sample) > 1000]
    changes = sum(1 for (_, a), (_, b) in itertools.pairwise(loud) if a != b)
    sounding_seconds = (loud[-1][0] - loud[0][0]) / sample_rate
    return changes / 2 / sounding_seconds


def stream_facts(data: bytes) -> tuple[str, str, int]:
    """(container, decoder, channels) of the first audio stream, as FFmpeg reads them."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return container.format.name, stream.codec_context.name, stream.codec_context.channels


@pytest.mark.parametrize("input_rate", [16_000, 22_050, 24_000])
@pytest.mark.parametrize("fmt", [f for f in OUTPUT_FORMATS if f != "pcm"])
def test_each_output_format_decodes_with_its_codec_and_duration(fmt: str, input_rate: int) -> None:
    # Given one second of a 440 Hz tone at an engine's sample rate
    pcm = sine_pcm(1.0, input_rate)

    # When it is encoded in a response format
    data = encode_pcm(pcm, sample_rate=input_rate, fmt=fmt)

    # Then FFmpeg reads it back as that container and codec, mono, one second long, same pitch
    container, decoders = CONTAINERS[fmt]
    found_container, found_decoder, channels = stream_facts(data)
    assert found_container == container
    assert found_decoder in decoders
    assert channels == 1
    assert data.startswith(MAGIC.get(fmt, b""))
    # ADTS cannot tell a decoder to trim AAC's priming samples (1024) and last-frame padding.
    assert duration_seconds(data) == pytest.approx(1.0, abs=0.1 if fmt == "aac" else 0.02)
    assert tone_hz(decode_to_pcm(data, sample_rate=16_000), 16_000) == pytest.approx(440, rel=0.03)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "wav"])
def test_pcm_longer_than_one_encoder_frame_is_encoded_whole(fmt: str) -> None:
    # Given 25 s of tone: three of the frames the encoder is handed, the last one short
    pcm = sine_pcm(2.5 * ENCODE_FRAME_SECONDS, 24_000)
    # When it is encoded
    data = encode_pcm(pcm, sample_rate=24_000, fmt=fmt)
    # Then all of it is there, in order and without a seam (the pitch holds over the whole)
    assert duration_seconds(data) == pytest.approx(2.5 * ENCODE_FRAME_SECONDS, abs=0.05)
    assert tone_hz(decode_to_pcm(data, sample_rate=16_000), 16_000) == pytest.approx(440, rel=0.03)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "wav"])
def test_encoded_output_is_24khz_like_openai(fmt: str) -> None:
    # Given audio at espeak-ng's 22.05 kHz / When encoded / Then the stream is 24 kHz
    data = encode_pcm(sine_pcm(0.3, 22_050), sample_rate=22_050, fmt=fmt)
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio[0].sample_rate == OUTPUT_SAMPLE_RATE


def test_mp3_and_ogg_outputs_are_recognised_as_uploads() -> None:
    # Given speech output / When a client sends it back for transcription / Then it is accepted
    pcm = sine_pcm(0.3, 24_000)
    assert sniff_audio_format(encode_pcm(pcm, sample_rate=24_000, fmt="mp3")) == "mp3"
    assert sniff_audio_format(encode_pcm(pcm, sample_rate=24_000, fmt="opus")) == "ogg"


def test_aac_output_is_adts_framed() -> None:
    # Given PCM / When encoded as aac / Then every frame starts with an ADTS sync word (0xFFF)
    data = encode_pcm(sine_pcm(0.5, 24_000), sample_rate=24_000, fmt="aac")
    assert data[0] == 0xFF and data[1] & 0xF0 == 0xF0
    frame_length = ((data[3] & 0x03) << 11) | (data[4] << 3) | (data[5] >> 5)
    assert data[frame_length] == 0xFF and data[frame_length + 1] & 0xF0 == 0xF0


@pytest.mark.parametrize("input_rate", [16_000, 22_050, 24_000])
def test_pcm_output_is_raw_s16le_mono_at_24khz(input_rate: int) -> None:
    # Given one second of a tone at any rate
    pcm = sine_pcm(1.0, input_rate)

    # When "encoded" as pcm
    data = encode_pcm(pcm, sample_rate=input_rate, fmt="pcm")

    # Then it is one second of headerless 16-bit samples at 24 kHz, the tone unchanged
    assert len(data) / 2 / OUTPUT_SAMPLE_RATE == pytest.approx(1.0, abs=0.01)
    assert tone_hz(data, OUTPUT_SAMPLE_RATE) == pytest.approx(440, rel=0.02)


def test_unknown_output_format_and_odd_pcm_are_refused() -> None:
    # Given a format the encoder does not know / When encoding / Then it is refused by name
    with pytest.raises(ValueError, match="unsupported output format"):
        encode_pcm(sine_pcm(0.1, 16_000), sample_rate=16_000, fmt="ogg_vorbis")
    # And PCM of an odd number of bytes is refused as not 16-bit
    with pytest.raises(ValueError, match="16-bit"):
        encode_pcm(b"\x00\x01\x02", sample_rate=16_000, fmt="wav")


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_each_upload_format_decodes_to_16khz_mono_pcm(fmt: str) -> None:
    # Given half a second of a 440 Hz tone in an upload format (mp3 m4a ogg webm wav flac)
    data = tone(fmt)

    # When decoded for a recogniser
    pcm = decode_to_pcm(data, sample_rate=16_000)

    # Then it is half a second of 16 kHz samples carrying the same tone
    assert len(pcm) / 2 / 16_000 == pytest.approx(0.5, abs=0.06)
    assert tone_hz(pcm, 16_000) == pytest.approx(440, rel=0.03)


def test_stereo_ogg_vorbis_is_mixed_down_to_mono() -> None:
    # Given a stereo Ogg Vorbis file at 44.1 kHz (FFmpeg's own encoder, marked experimental)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("vorbis", rate=44_100, layout="stereo")
        stream.codec_context.options = {"strict": "experimental"}
        frame = av.AudioFrame(format="s16", layout="mono", samples=44_100)
        frame.planes[0].update(sine_pcm(1.0, 44_100))
        frame.sample_rate = 44_100
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert stream_facts(buffer.getvalue())[1:] == ("vorbis", 2)

    # When decoded at 8 kHz
    pcm = decode_to_pcm(buffer.getvalue(), sample_rate=8_000)

    # Then one channel of one second comes out, with the tone
    assert len(pcm) / 2 / 8_000 == pytest.approx(1.0, abs=0.02)
    assert tone_hz(pcm, 8_000) == pytest.approx(440, rel=0.03)


def test_decoding_in_chunks_gives_the_same_pcm() -> None:
    # Given an mp3 tone / When decoded chunk by chunk
    chunks = list(iter_decoded_pcm(tone("mp3"), sample_rate=16_000))
    # Then there is more than one chunk, and together they are the whole decoded PCM
    assert len(chunks) > 1
    assert b"".join(chunks) == decode_to_pcm(tone("mp3"), sample_rate=16_000)


def _video_only_mp4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10, width=32, height=32)
        for index in range(3):
            frame = av.VideoFrame(32, 32, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is plain text, not audio" * 50,
        bytes(range(256)) * 40,
        b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64,  # a WAV header promising nothing sane
        b"OggS" + b"\x00" * 500,
        b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\x00" * 200,  # an ID3 tag and no frames
    ],
    ids=["empty", "text", "noise", "bad-wav-header", "bad-ogg", "id3-only"],
)
def test_undecodable_bytes_raise_audio_decode_error(data: bytes) -> None:
    # Given bytes that are not audio / When decoded / Then a ValueError subclass names the problem
    with pytest.raises(AudioDecodeError):
        decode_to_pcm(data)


def test_a_file_without_audio_stream_raises_audio_decode_error() -> None:
    # Given a real MP4 that only holds video
    data = _video_only_mp4()
    # When decoded / Then there is no audio to return
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode_to_pcm(data)
    assert issubclass(AudioDecodeError, ValueError)


@pytest.mark.parametrize("factor", [0.3, 0.6, 2.0])
def test_change_tempo_scales_duration_and_keeps_pitch(factor: float) -> None:
    # Given one second of a tone / When played `factor` times as fast
    pcm = change_tempo(sine_pcm(1.0, 22_050), sample_rate=22_050, factor=factor)
    # Then it lasts 1/factor seconds at the same pitch
    assert len(pcm) / 2 / 22_050 == pytest.approx(1 / factor, rel=0.05)
    assert tone_hz(pcm, 22_050) == pytest.approx(440, rel=0.03)


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_each_upload_format_is_measured_by_decoding(fmt: str) -> None:
    # Given half a second of tone in an upload format / When it is measured / Then its decoded length
    assert decoded_seconds(tone(fmt), limit=60) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_each_upload_format_is_measured_from_a_files_path(fmt: str, tmp_path: Path) -> None:
    # Given half a second of tone in an upload format, in a file (a large upload is not held in memory)
    path = tmp_path / f"upload.{fmt}"
    path.write_bytes(tone(fmt))
    # When it is measured from its path / Then its decoded length
    assert decoded_seconds(str(path), limit=60) == pytest.approx(0.5, abs=0.05)


def test_counting_that_runs_past_its_time_stops_with_out_of_time() -> None:
    # Given an hour of silence and a time to give up that has passed
    data = silent_flac(3600)
    # When it is measured / Then it stops with OutOfTime, not a length
    with pytest.raises(OutOfTime):
        decoded_seconds(data, limit=7200, give_up_at=time.monotonic() - 1)
    # And with time enough it is counted
    assert decoded_seconds(data, limit=7200, give_up_at=time.monotonic() + 60) == pytest.approx(3600)


def test_a_wav_that_declares_10_s_and_holds_2_min_is_counted_to_its_end() -> None:
    # Given a WAV whose header says 10 s and whose data holds 2 minutes (FFmpeg alone would stop at 10 s)
    data = wav_declaring(10, 120)
    # When it is measured / Then the data is counted, not the header
    assert decoded_seconds(data, limit=3600) == pytest.approx(120)


class _CountingBytes(io.BytesIO):
    """A file that remembers how far it was read."""

    furthest = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        _CountingBytes.furthest = max(_CountingBytes.furthest, self.tell())
        return data


def test_decoding_stops_as_soon_as_the_limit_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a small file that decodes to an hour, and the reads of it counted
    data = silent_flac(3600)
    monkeypatch.setattr(transcode, "io", SimpleNamespace(BytesIO=_CountingBytes))
    _CountingBytes.furthest = 0
    # When it is measured against a one-minute limit / Then it is longer, found before a tenth of it was read
    with pytest.raises(LongerThan):
        decoded_seconds(data, limit=60)
    assert 0 < _CountingBytes.furthest < len(data) / 10


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (wav_declaring(1, 1, channels=MAX_CHANNELS + 1), f"{MAX_CHANNELS + 1} channels"),
        (wav_declaring(1, 0.01, rate=MAX_SAMPLE_RATE + 1), "sample rate"),
    ],
)
def test_absurd_sample_rates_and_channel_counts_are_refused(data: bytes, named: str) -> None:
    # Given a stream past the channel or sample-rate limit / When it is measured / Then it is refused, named
    with pytest.raises(StreamOutOfBounds, match=named):
        decoded_seconds(data, limit=60)


def test_the_limits_themselves_are_taken() -> None:
    # Given streams at exactly the limits / When they are measured / Then they are counted
    assert decoded_seconds(wav_declaring(1, 1, channels=MAX_CHANNELS), limit=60) == pytest.approx(1)
    assert decoded_seconds(wav_declaring(1, 0.01, rate=MAX_SAMPLE_RATE), limit=60) == pytest.approx(0.01)


@pytest.mark.parametrize("data", [b"RIFF\x24\x00\x00\x00WAVE" + b"junk" * 100, wav_declaring(0, 0)])
def test_audio_of_unknown_length_is_an_error(data: bytes) -> None:
    # Given bytes that look like a WAV but do not decode, or decode to no sample
    # When they are measured / Then there is no length to trust
    with pytest.raises(AudioDecodeError):
        decoded_seconds(data, limit=60)


def test_a_decode_for_pieces_stops_past_what_was_measured() -> None:
    # Given a minute of silence decoded for pieces with at most 10 s allowed
    # When it is decoded / Then it stops there rather than holding the rest
    with pytest.raises(LongerThan):
        b"".join(iter_decoded_pcm(silent_flac(60), max_seconds=10))
