"""A transcription job's audio fetched from its audio_url by the worker, under the address rules of outbound.py.

Capped as uploads are: the upload cap (MAX_UPLOAD_OBJECT_BYTES), a time cap (AUDIO_URL_FETCH_SECONDS), and the
bytes recognised as audio by their content (audio.py), never by the URL's name or the answer's Content-Type.
Failures name no URL (its query may hold a token): the job's error says what went wrong.
"""

from __future__ import annotations

from speech_common.audio import AudioUpload, sniff_audio_format
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.outbound import FetchFailed, request
from speech_common.settings import Settings


def fetch_audio(settings: Settings, url: str) -> AudioUpload:
    """The audio at `url`; InvalidRequest audio_url_failed when it cannot be fetched, unsupported_audio when what
    came is not audio, url_not_allowed (outbound.RefusedUrl) when its host now resolves to a refused address."""
    try:
        answer = request(
            "GET",
            url,
            headers={"Accept": "audio/*, video/mp4, application/octet-stream;q=0.5"},
            allow_loopback=settings.outbound_allow_loopback,
            max_bytes=settings.max_upload_object_bytes,
            total_seconds=settings.audio_url_fetch_seconds,
        )
    except FetchFailed as failed:
        raise InvalidRequest(f"audio_url: {failed.reason}", code=ErrorCode.AUDIO_URL_FAILED) from None
    if not 200 <= answer.status < 300:
        raise InvalidRequest(f"audio_url: answered {answer.status}", code=ErrorCode.AUDIO_URL_FAILED)
    fmt = sniff_audio_format(answer.body) if answer.body else None
    if fmt is None:
        raise InvalidRequest(
            "audio_url: what it answered is not audio in a supported format", code=ErrorCode.UNSUPPORTED_AUDIO
        )
    return AudioUpload(data=answer.body, format=fmt)
