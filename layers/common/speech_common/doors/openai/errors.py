"""OpenAI's error shape for the /v1 door, with the statuses its SDKs read (typed exceptions, retries).

The SDKs raise BadRequestError on 400, AuthenticationError on 401, NotFoundError on 404,
RateLimitError on 429 and InternalServerError on 5xx, and retry 429 and 5xx (honouring Retry-After).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types

from speech_common.doors.openai.models import OpenAIError, OpenAIErrorBody
from speech_common.error_codes import ErrorCode
from speech_common.errors import SpeechError, UpstreamFailure
from speech_common.http_kit import headers
from speech_common.http_kit.errors import ErrorShape, status_of

NOT_FOUND_DETAIL = "No such route; the /v1 door serves POST /v1/audio/speech, POST /v1/audio/transcriptions and GET /v1/models"
# The upstream's rate limit is the caller's 429 here (it retried within the deadline already): the SDKs
# then back off and retry, as they would against OpenAI. Seconds to wait before that retry.
UPSTREAM_RATE_LIMITED_RETRY_AFTER_S = 2
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_status(error: SpeechError) -> int:
    """The kit's status, but the upstream's rate limit is the caller's 429 (as OpenAI answers it)."""
    return 429 if error.code == UpstreamFailure.RATE_LIMITED else status_of(error)


def openai_error(status_code: int, detail: str, code: str, param: str | None = None) -> Response:
    """{"error": {"message", "type", "param", "code"}} at the status given (openai_status)."""
    headers_sent: dict[str, str] = {}
    if code == UpstreamFailure.RATE_LIMITED:
        headers_sent[headers.RETRY_AFTER] = str(UPSTREAM_RATE_LIMITED_RETRY_AFTER_S)
    error_type = _TYPES.get(status_code, "server_error")
    if code == ErrorCode.BUDGET_EXCEEDED:  # as OpenAI answers a spent quota: the SDKs raise RateLimitError
        error_type = code = ErrorCode.INSUFFICIENT_QUOTA
    body = OpenAIErrorBody(error=OpenAIError(message=detail, type=error_type, param=param, code=code))
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
        headers=headers_sent,
    )


ERRORS = ErrorShape(render=openai_error, not_found_detail=NOT_FOUND_DETAIL, status_of=openai_status)
