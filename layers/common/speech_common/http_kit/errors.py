"""Every error rendered in the door's shape: which exception is which status, and the handlers that catch them.

The exceptions are the core's (speech_common.errors). A door gives its ErrorShape: its renderer, its status rule
(the table below unless it says otherwise) and what it says for an unknown route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from speech_common.error_codes import ErrorCode
from speech_common.errors import (
    BudgetExceeded,
    InvalidRequest,
    NotFound,
    OperationFailed,
    PayloadTooLarge,
    SpeechError,
)
from speech_common.http_kit.headers import RETRY_AFTER
from speech_common.http_kit.validation import invalid_request_from
from speech_common.observability import logger

STATUS_BY_ERROR: dict[type[SpeechError], int] = {
    InvalidRequest: 400,
    NotFound: 404,
    PayloadTooLarge: 413,
    BudgetExceeded: 429,
    OperationFailed: 500,
}
ENVELOPE_PROBLEM = "envelope_problem"  # the resolver's context key for a failed envelope check


class ErrorRenderer(Protocol):
    """A door's error body: status, a message for a person, a snake_case code, the field at fault."""

    def __call__(self, status_code: int, detail: str, code: str, param: str | None = None) -> Response: ...


def status_of(error: SpeechError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


@dataclass(frozen=True)
class ErrorShape:
    """How a door answers errors: its body, its status for each error, its word for an unknown route."""

    render: ErrorRenderer
    not_found_detail: str
    status_of: Callable[[SpeechError], int] = status_of


def install_error_handlers(app: APIGatewayRestResolver, shape: ErrorShape) -> None:
    """Map every exception to an error in the door's shape; nothing escapes as a stack trace."""
    render = shape.render

    def envelope_problem() -> SpeechError | None:
        problem = app.context.get(ENVELOPE_PROBLEM)
        return problem if isinstance(problem, SpeechError) else None

    @app.exception_handler(SpeechError)
    def speech_error(exc: SpeechError) -> Response:
        status = shape.status_of(exc)
        if status >= 500:
            logger.warning("request failed", extra={"code": exc.code, "status": status})
        else:
            logger.info("request refused", extra={"code": exc.code, "status": status})
        response = render(status, exc.detail, exc.code, exc.param)
        if isinstance(
            exc, BudgetExceeded
        ):  # until the window resets: a client's retry before then is refused
            response.headers[RETRY_AFTER] = str(exc.retry_after)
        return response

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def validation_error(exc: RequestValidationError | RequestUnsupportedContentType) -> Response:
        # Powertools validates the body before any middleware: a bad envelope explains the failure.
        return speech_error(envelope_problem() or invalid_request_from(list(exc.errors())))

    @app.not_found
    def not_found(_: Exception) -> Response:
        return render(404, shape.not_found_detail, ErrorCode.NOT_FOUND)

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Powertools' body parsers can fail on a body sent under the wrong content type (say,
        # multipart without a boundary to a JSON route): that is the client's 400, not our 500.
        problem = envelope_problem()
        if problem is not None:
            return speech_error(problem)
        # Type only: an exception message may carry request data.
        logger.error("unexpected error", extra={"error_type": type(exc).__name__})
        return render(500, "Internal server error", ErrorCode.INTERNAL_ERROR)
