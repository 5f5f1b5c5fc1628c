"""The one place where exceptions become HTTP answers: {"detail": ..., "code": ...}."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from speech_common.errors import ApiError
from speech_common.models import ErrorBody
from speech_common.observability import logger
from speech_common.request_parsing import check_envelope, invalid_request_from
from speech_common.settings import get_settings


def error_response(status_code: int, detail: str, code: str) -> Response:
    body = ErrorBody(detail=detail, code=code).model_dump_json()
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body)


def install_error_handlers(app: APIGatewayRestResolver, *, expected_media_type: str) -> None:
    """Map every exception to the documented error body; nothing escapes as a stack trace."""

    @app.exception_handler(ApiError)
    def api_error(exc: ApiError) -> Response:
        if exc.status_code >= 500:
            logger.warning("request failed", extra={"code": exc.code, "status": exc.status_code})
        else:
            logger.info("request refused", extra={"code": exc.code, "status": exc.status_code})
        return error_response(exc.status_code, exc.detail, exc.code)

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def validation_error(exc: RequestValidationError | RequestUnsupportedContentType) -> Response:
        # Powertools validates the body before any middleware runs: size and content type come first.
        try:
            check_envelope(app.current_event, expected_media_type, get_settings())
        except ApiError as envelope_error:
            return api_error(envelope_error)
        return api_error(invalid_request_from(list(exc.errors())))

    @app.not_found
    def not_found(_: Exception) -> Response:
        return error_response(404, "No such route; use POST /api/stt/ or POST /api/tts/", "not_found")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Powertools' body parsers can fail on a body sent under the wrong content type (say,
        # multipart without a boundary to a JSON route): that is the client's 400, not our 500.
        try:
            check_envelope(app.current_event, expected_media_type, get_settings())
        except ApiError as envelope_error:
            return api_error(envelope_error)
        # Type only: an exception message may carry request data.
        logger.error("unexpected error", extra={"error_type": type(exc).__name__})
        return error_response(500, "Internal server error", "internal_error")
