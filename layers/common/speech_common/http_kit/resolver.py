"""The API Gateway REST resolver every door uses, and `resolve`: each request to the door whose paths it is under.

A function lists the doors it serves; a door's resolver (with its routes) is built on the door's first request, so
a function imports only the doors and routes that its requests reach.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from speech_common.http_kit import headers
from speech_common.http_kit.envelope import envelope_problem
from speech_common.http_kit.errors import ENVELOPE_PROBLEM, ErrorShape, install_error_handlers
from speech_common.http_kit.paths import under
from speech_common.http_kit.validation import parse_json_body
from speech_common.model_routing import Route
from speech_common.parallel import built_once
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

    def __init__(self, *, expected_media_types: Sequence[str], cors: CORSConfig | None = None) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=parse_json_body, cors=cors)
        self.expected_media_types = tuple(expected_media_types)
        self.use([_refuse_bad_envelope])

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict):
            _normalise_content_type(event)
            proxy_event = APIGatewayProxyEvent(event)
            problem = envelope_problem(
                body=proxy_event.body,
                is_base64=bool(proxy_event.is_base64_encoded),
                method=proxy_event.http_method,
                content_type=proxy_event.headers.get("content-type"),  # case-insensitive in Powertools v3
                expected_media_types=self.expected_media_types,
                settings=get_settings(),
            )
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
        allow_headers=list(headers.REQUEST_HEADERS),
        expose_headers=list(headers.EXPOSED_HEADERS),
        max_age=600,
    )


def create_resolver(*, expected_media_types: Sequence[str], errors: ErrorShape) -> SpeechApiResolver:
    # A bad configuration fails the cold start, naming its variable, not every request.
    settings = get_settings()
    app = SpeechApiResolver(
        expected_media_types=expected_media_types, cors=cors_config(settings.cors_allow_origin)
    )
    install_error_handlers(app, errors)
    return app


def created(body: BaseModel, status_code: int = 201) -> Response[Any]:
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body)


def served(
    body: Any, route: Route, *, content_type: str = content_types.APPLICATION_JSON, cache: str | None = None
) -> Response[Any]:
    """200 with the body, naming what served it (and, for speech, whether the speech cache had it)."""
    return Response(
        status_code=200, content_type=content_type, body=body, headers=headers.served_headers(route, cache)
    )


@dataclass(frozen=True)
class Door:
    """A door a function serves: the path prefix it answers ("" for every other path), and what builds its resolver
    with the function's routes of that door (called once, on the door's first request)."""

    prefix: str
    build: Callable[[], SpeechApiResolver]

    def resolver(self) -> SpeechApiResolver:
        return _built(self)


@built_once()
def _built(door: Door) -> SpeechApiResolver:
    return door.build()


def resolve(event: Mapping[str, Any], context: Any, doors: Sequence[Door]) -> Any:
    """The event answered by the first of `doors` whose prefix its path is under (the catch-all door last)."""
    path = event.get("path") if isinstance(event, Mapping) else None
    door = next((door for door in doors if under(path, door.prefix)), doors[-1])
    return door.resolver().resolve(event, context)
