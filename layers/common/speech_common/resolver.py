"""The API Gateway REST resolver both functions use: validation on, our error mapping installed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from speech_common.http_errors import install_error_handlers
from speech_common.request_parsing import parse_json_body


class SpeechApiResolver(APIGatewayRestResolver):
    """Powertools' resolver, with the Content-Type media type lower-cased before validation.

    Media types are case-insensitive (RFC 9110), but Powertools' body parser compares them
    case-sensitively: "Application/JSON" would be refused. Parameters (the multipart boundary)
    are case-sensitive and left alone.
    """

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict):
            _normalise_content_type(event)
        return super().resolve(event, context)


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


def create_resolver(*, expected_media_type: str) -> SpeechApiResolver:
    app = SpeechApiResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    install_error_handlers(app, expected_media_type=expected_media_type)
    return app
