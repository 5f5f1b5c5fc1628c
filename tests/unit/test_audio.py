"""Uploads are recognised by their bytes, never by their file name."""

import pytest

from speech_common.audio import AudioUpload, sniff_audio_format
from tests.samples import UPLOAD_FORMATS, tone


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_each_upload_format_is_recognised_from_its_content(fmt: str) -> None:
    # Given a real file of that format / When it is sniffed / Then its format is named
    assert sniff_audio_format(tone(fmt)) == fmt


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID3",
        b"hello, this is plain text and not audio at all",
        b"%PDF-1.7\n" + b"0" * 100,
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        b"RIFF\0\0\0\0AVI LIST" + b"\0" * 100,
        b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\0" * 200,  # a tag and nothing after it
    ],
)
def test_non_audio_is_not_recognised(data: bytes) -> None:
    # Given bytes that are empty, text, another file type or a bare ID3 tag
    # When they are sniffed / Then no audio format is named
    assert sniff_audio_format(data) is None


def test_mp3_without_id3_tag_is_recognised_by_its_frame_header() -> None:
    # Given an mp3 whose ID3 tag (10-byte header + syncsafe size) was stripped
    data = tone("mp3")
    tag_size = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    frames = data[tag_size:]
    assert frames[:1] == b"\xff"
    # When only the frames are sniffed / Then it is still mp3
    assert sniff_audio_format(frames) == "mp3"


def test_upload_file_name_and_type_match_the_content() -> None:
    # Given an m4a upload / When its file name and type are asked for / Then both say m4a
    upload = AudioUpload(data=tone("m4a"), format="m4a")
    assert upload.filename == "audio.m4a"
    assert upload.content_type == "audio/mp4"
