"""The /api door's errors: {"detail", "code"} at the kit's status for each error."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types

from speech_common.doors.api.models import ErrorBody
from speech_common.http_kit.errors import ErrorShape

NOT_FOUND_DETAIL = "No such route; use POST /api/stt/ or POST /api/tts/"


def detail_and_code(status_code: int, detail: str, code: str, param: str | None = None) -> Response:
    """The /api door's error body (the field at fault is named in the detail)."""
    body = ErrorBody(detail=detail, code=code).model_dump_json()
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body)


ERRORS = ErrorShape(render=detail_and_code, not_found_detail=NOT_FOUND_DETAIL)
