"""The /v1 door's resolver: the /api resolver's envelope checks and validation, OpenAI's error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from speech_common.api.resolver import SpeechApiResolver, create_resolver
from speech_common.openai_api.errors import NOT_FOUND_DETAIL, openai_error

PREFIX = "/v1"


def create_openai_resolver(*, expected_media_type: str) -> SpeechApiResolver:
    return create_resolver(
        expected_media_type=expected_media_type, render_error=openai_error, not_found_detail=NOT_FOUND_DETAIL
    )


def is_openai_path(event: Mapping[str, Any]) -> bool:
    """Whether an API Gateway event is for the /v1 door (its resource path, without the stage)."""
    path = event.get("path") if isinstance(event, Mapping) else None
    return isinstance(path, str) and (path == PREFIX or path.startswith(PREFIX + "/"))


def resolve(event: Mapping[str, Any], context: Any, *, api: SpeechApiResolver, v1: SpeechApiResolver) -> Any:
    """Each door answers its own paths: /v1/... in OpenAI's shape, everything else as /api does."""
    return (v1 if is_openai_path(event) else api).resolve(event, context)
