"""Speech encoded as it is made (transcode.StreamingEncoder), and a text cut so that its first piece is short."""

from __future__ import annotations

import io

import av
import pytest

from speech_common.text_chunks import split_for_streaming
from speech_common.transcode import OUTPUT_FORMATS, OUTPUT_SAMPLE_RATE, StreamingEncoder
from tests.samples import sine_pcm

SECONDS = 3.0
PCM = sine_pcm(SECONDS, OUTPUT_SAMPLE_RATE)
# What a listener sees first: the bytes that name each container.
MAGIC = {
    "mp3": (b"ID3", b"\xff"),
    "opus": (b"OggS",),
    "aac": (b"\xff",),
    "flac": (b"fLaC",),
    "wav": (b"RIFF",),
}


def streamed(fmt: str, pcm: bytes = PCM, piece_bytes: int = 4097) -> list[bytes]:
    """What the encoder gives for `pcm` fed in pieces of `piece_bytes` (odd: samples cut in two), then close()."""
    encoder = StreamingEncoder(fmt)
    out = [encoder.feed(pcm[start : start + piece_bytes]) for start in range(0, len(pcm), piece_bytes)]
    return [*out, encoder.close()]


def decoded(data: bytes) -> tuple[str, float, bytes]:
    """Codec name, seconds and mono s16le at 24 kHz of a whole file."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=OUTPUT_SAMPLE_RATE)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [out for frame in container.decode(stream) for out in resampler.resample(frame)]
        codec = stream.codec_context.name
    pcm = b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in frames)
    return codec, len(pcm) / 2 / OUTPUT_SAMPLE_RATE, pcm


@pytest.mark.parametrize("fmt", [fmt for fmt in OUTPUT_FORMATS if fmt != "pcm"])
def test_the_chunks_together_are_one_file_of_the_format(fmt: str) -> None:
    # Given three seconds of a tone fed in odd-sized pieces
    # When the chunks given for each piece and at close() are joined
    data = b"".join(streamed(fmt))
    # Then the chunks together start as the format does and decode to the whole tone
    assert data.startswith(MAGIC[fmt])
    codec, seconds, _ = decoded(data)
    assert codec in {"mp3", "mp3float", "opus", "libopus", "aac", "flac", "pcm_s16le"}
    assert seconds == pytest.approx(SECONDS, abs=0.1)  # an encoder's priming and padding, at most


@pytest.mark.parametrize("fmt", [fmt for fmt in OUTPUT_FORMATS if fmt != "pcm"])
def test_most_of_the_file_comes_before_the_end(fmt: str) -> None:
    # Given three seconds fed in pieces of 0.1 s
    # When the encoder's output is taken after each piece and at close()
    chunks = streamed(fmt, piece_bytes=4800)
    # Then bytes came out while it was fed, from the first pieces on, not all at close()
    first_out = next(index for index, chunk in enumerate(chunks) if chunk)
    assert first_out <= 2
    assert len(chunks[-1]) < 0.25 * len(b"".join(chunks))


def test_wav_says_its_sizes_are_unknown_and_holds_the_samples_as_fed() -> None:
    # Given a tone fed with a sample cut in two between pieces
    # When it is encoded as wav and the chunks joined
    data = b"".join(streamed("wav", piece_bytes=1001))
    # Then the header is OpenAI's streamed one: RIFF and data sizes 0xFFFFFFFF, 24 kHz mono 16-bit
    assert data[:4] == b"RIFF" and data[4:8] == b"\xff\xff\xff\xff"
    assert data[8:16] == b"WAVEfmt "
    assert int.from_bytes(data[24:28], "little") == OUTPUT_SAMPLE_RATE
    assert data[36:40] == b"data" and data[40:44] == b"\xff\xff\xff\xff"
    # And the samples follow as they were fed, none lost or shifted
    assert data[44:] == PCM


def test_pcm_is_passed_on_raw_even_in_odd_pieces() -> None:
    # Given a tone / When it is fed as pcm in odd pieces of 333 bytes
    chunks = streamed("pcm", piece_bytes=333)
    # Then the chunks are the samples unchanged, each a whole number of samples
    assert b"".join(chunks) == PCM
    assert all(len(chunk) % 2 == 0 for chunk in chunks)


def test_a_lossless_stream_keeps_every_sample() -> None:
    # Given a tone / When it is streamed as flac in pieces of 777 bytes and decoded / Then every sample is back
    _, _, pcm = decoded(b"".join(streamed("flac", piece_bytes=777)))
    assert pcm == PCM


def test_an_unknown_format_is_refused() -> None:
    # Given a format not in OUTPUT_FORMATS / When an encoder is made for it / Then it is refused
    with pytest.raises(ValueError, match="unsupported output format"):
        StreamingEncoder("ogg")


def test_nothing_is_fed_after_close() -> None:
    # Given an mp3 encoder fed once and closed
    encoder = StreamingEncoder("mp3")
    encoder.feed(PCM[:4800])
    encoder.close()
    # When it is fed again / Then it refuses, and closing again gives nothing
    with pytest.raises(ValueError, match="closed"):
        encoder.feed(PCM[:4800])
    assert encoder.close() == b""


# -- the text's pieces -----------------------------------------------------------------------------------------

LONG = (
    "Your order has shipped. It will arrive on Thursday, between nine and noon. "
    + "This sentence is part of a long text read aloud by the speech API, in parts. " * 30
)


def words(pieces: list[str]) -> list[str]:
    return " ".join(pieces).split()


def test_the_first_piece_is_a_sentence_or_two_within_its_limit() -> None:
    # Given a long text of sentences / When it is split with a first piece of at most 80 characters
    pieces = split_for_streaming(LONG, 80, 400)
    # Then the first piece is the first two sentences, the rest within 400 characters, no word lost
    # Two whole sentences fit in 80 characters; a third would not
    assert pieces[0] == "Your order has shipped. It will arrive on Thursday, between nine and noon."
    assert all(len(piece) <= 400 for piece in pieces[1:])
    assert all(piece.endswith(".") for piece in pieces)  # cut at sentence ends
    assert words(pieces) == LONG.split()


def test_a_long_first_sentence_is_cut_at_a_pause_within_the_limit() -> None:
    text = "When the parcel reaches the depot late in the evening, it is sorted overnight, and it leaves at dawn. Next."
    # Given a first sentence longer than 80 characters, with commas / When it is split
    pieces = split_for_streaming(text, 80, 400)
    # Then the first piece ends at the last comma within 80 characters, and no word is lost
    assert pieces[0] == "When the parcel reaches the depot late in the evening, it is sorted overnight,"
    assert words(pieces) == text.split()


def test_a_first_sentence_without_pauses_is_cut_between_words() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    # Given a first sentence of words with no punctuation / When it is split with a 40-character first piece
    pieces = split_for_streaming(text, 40, 400)
    # Then the first piece is within 40 characters and ends on a whole word, and no word is lost
    assert len(pieces[0]) <= 40 and not pieces[0].endswith(" ")
    assert words(pieces) == text.split()


def test_a_number_with_a_comma_is_not_a_pause() -> None:
    text = (
        "The total of the invoice sent to the customer last week came to 1,250 dollars and forty cents only."
    )
    # Given a long sentence whose only comma is inside 1,250 / When it is split with a 70-character first piece
    pieces = split_for_streaming(text, 70, 400)
    # Then 1,250 is kept whole in one piece
    assert "1,250" in " ".join(pieces).split()


def test_a_short_text_is_one_piece_and_an_empty_one_none() -> None:
    # Given a short padded text, and a blank one / When each is split
    # Then the first is one stripped piece, the second no piece at all
    assert split_for_streaming("  Hello there.  ", 80, 400) == ["Hello there."]
    assert split_for_streaming("   ", 80, 400) == []
