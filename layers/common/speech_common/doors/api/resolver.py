"""The /api door's resolver: the kit's envelope checks and validation, errors as {"detail", "code"}."""

from __future__ import annotations

from speech_common.doors.api.errors import ERRORS
from speech_common.http_kit.resolver import SpeechApiResolver, create_resolver


def api_resolver(*expected_media_types: str) -> SpeechApiResolver:
    return create_resolver(expected_media_types=expected_media_types, errors=ERRORS)
