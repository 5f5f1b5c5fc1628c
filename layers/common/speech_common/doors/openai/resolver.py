"""The /v1 door's resolver: the kit's envelope checks and validation, OpenAI's error shape."""

from __future__ import annotations

from speech_common.doors.openai.errors import ERRORS
from speech_common.http_kit.resolver import SpeechApiResolver, create_resolver


def openai_resolver(*expected_media_types: str) -> SpeechApiResolver:
    return create_resolver(expected_media_types=expected_media_types, errors=ERRORS)
