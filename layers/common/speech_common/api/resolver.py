"""The API Gateway REST resolver both functions use: the envelope checked once, validation on, errors mapped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from speech_common.api.envelope import envelope_problem
from speech_common.api.errors import (
    ENVELOPE_PROBLEM,
    NOT_FOUND_DETAIL,
    ErrorRenderer,
    detail_and_code,
    install_error_handlers,
)
from speech_common.api.validation import parse_json_body
from speech_common.settings import get_settings


class SpeechApiResolver(APIGatewayRestResolver):
    """Powertools' resolver, with the envelope (size, content type) checked before anything else.

    Powertools runs body validation before any middleware, so the envelope is checked here, once,
    and its problem kept in the resolver's context: the validation and catch-all handlers answer
    with it, and a middleware refuses a body that validated under the wrong content type.

    Media types are case-insensitive (RFC 9110), but Powertools' body parser compares them
    case-sensitively: "Application/JSON" would be refused. They are lower-cased first; parameters
    (the multipart boundary) are case-sensitive and left alone.
    """

    def __init__(self, *, expected_media_type: str, cors: CORSConfig | None = None) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=parse_json_body, cors=cors)
        self.expected_media_type = expected_media_type
        self.use([_refuse_bad_envelope])

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict):
            _normalise_content_type(event)
            problem = envelope_problem(APIGatewayProxyEvent(event), self.expected_media_type, get_settings())
            if problem is not None:
                self.append_context(**{ENVELOPE_PROBLEM: problem})
        return super().resolve(event, context)


def _refuse_bad_envelope(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Any:
    problem = app.context.get(ENVELOPE_PROBLEM)
    if problem is not None:
        raise problem
    return next_middleware(app)


def _normalise(value: str) -> str:
    media_type, sep, params = value.partition(";")
    return media_type.strip().lower() + sep + params


def _normalise_content_type(event: dict[str, Any]) -> None:
    for key, value in list((event.get("headers") or {}).items()):
        if key.lower() == "content-type" and isinstance(value, str):
            event["headers"][key] = _normalise(value)
    for key, values in list((event.get("multiValueHeaders") or {}).items()):
        if key.lower() == "content-type" and isinstance(values, list):
            event["multiValueHeaders"][key] = [_normalise(v) if isinstance(v, str) else v for v in values]


def cors_config(allow_origin: str) -> CORSConfig:
    """Access-Control-* on every answer of the functions to a request with an Origin (API Gateway answers the
    preflight itself, with the template's Cors): pages of that origin may read answers and these headers."""
    return CORSConfig(
        allow_origin=allow_origin,
        allow_headers=["Authorization", "Content-Type", "X-Api-Key"],
        expose_headers=["X-Speech-Engine", "X-Speech-Cache", "Retry-After"],
        max_age=600,
    )


def create_resolver(
    *,
    expected_media_type: str,
    render_error: ErrorRenderer = detail_and_code,
    not_found_detail: str = NOT_FOUND_DETAIL,
) -> SpeechApiResolver:
    # A bad configuration fails the cold start, naming its variable, not every request.
    settings = get_settings()
    app = SpeechApiResolver(
        expected_media_type=expected_media_type, cors=cors_config(settings.cors_allow_origin)
    )
    install_error_handlers(app, render_error, not_found_detail)
    return app
