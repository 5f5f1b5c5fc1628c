"""Recognise an uploaded audio file by its content (never by its name)."""

from __future__ import annotations

from dataclasses import dataclass

# Upstream transcription formats: flac mp3 mp4 mpeg mpga m4a ogg wav webm.
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
}

# What each speech response_format is served as.
SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/L16;rate=24000;channels=1",
}

_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


@dataclass(frozen=True)
class AudioUpload:
    """An uploaded audio file whose format was recognised from its bytes."""

    data: bytes
    format: str
    # How long it plays, counted by decoding (core.measured); None until it is measured.
    seconds: float | None = None

    @property
    def filename(self) -> str:
        # The upstream decides by extension, so it must match the content.
        return f"audio.{self.format}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def _is_mp3_frame(header: bytes) -> bool:
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return False
    version = (header[1] >> 3) & 0x03
    layer = (header[1] >> 1) & 0x03
    bitrate = header[2] >> 4
    sample_rate = (header[2] >> 2) & 0x03
    return version != 1 and layer != 0 and bitrate not in (0, 15) and sample_rate != 3


def _skip_id3(data: bytes) -> int:
    """Offset after an ID3v2 tag (0 when there is none)."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = 0
    for byte in data[6:10]:
        if byte & 0x80:
            return 0
        size = (size << 7) | byte
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def sniff_audio_format(data: bytes) -> str | None:
    """The format of `data` ("mp3", "wav", ...) or None when it is not audio we accept."""
    if len(data) < 12:
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        # Matroska; WebM declares its DocType in the EBML header.
        return "webm" if b"webm" in data[:64] else None
    if data[4:8] == b"ftyp":
        return "m4a" if data[8:12] in _MP4_AUDIO_BRANDS else "mp4"
    start = _skip_id3(data)
    if start == 0:
        return "mp3" if _is_mp3_frame(data[:4]) else None
    # An ID3 tag may be followed by padding before the first frame: look a little further.
    window = data[start : start + 4096]
    index = window.find(b"\xff")
    while index != -1 and index + 4 <= len(window):
        if _is_mp3_frame(window[index : index + 4]):
            return "mp3"
        index = window.find(b"\xff", index + 1)
    return None


def _is_adts(data: bytes) -> bool:
    # ADTS frame header: 12-bit sync, layer 00 (what OpenAI's aac and our encoder write).
    return len(data) >= 7 and data[0] == 0xFF and (data[1] & 0xF6) == 0xF0


def _looks_like_text(data: bytes) -> bool:
    """An HTML page, a JSON error or a plain message where audio was expected."""
    head = data[:256]
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return decoded.strip()[:1] in ("<", "{", "[") or all(ch.isprintable() or ch.isspace() for ch in decoded)


def is_audio_of(fmt: str, data: bytes) -> bool:
    """Whether `data` is audio in the speech format `fmt` (mp3 opus aac flac wav pcm), from its bytes.

    Raw pcm has no header: it is accepted when it is whole 16-bit samples and does not read as text.
    """
    if not data:
        return False
    if fmt == "pcm":
        return len(data) % 2 == 0 and not _looks_like_text(data)
    if fmt == "opus":
        return data[:4] == b"OggS" and b"OpusHead" in data[:128]
    if fmt == "aac":
        return _is_adts(data) or data[4:8] == b"ftyp"
    return sniff_audio_format(data) == fmt
