"""API Gateway's own answers ("gateway responses"): AWS's defaults, or what the template's Api declares instead.

An AWS::Serverless::Api's GatewayResponses map a response type (MISSING_AUTHENTICATION_TOKEN, REQUEST_TOO_LARGE,
INTEGRATION_TIMEOUT, ..., DEFAULT_4XX, DEFAULT_5XX) to a StatusCode, ResponseTemplates and ResponseParameters.
API Gateway answers an error with its type's declaration, else with DEFAULT_4XX's or DEFAULT_5XX's (by the type's
status class), else with its built-in answer; the status code is the declaration's StatusCode, else the type's.

Templates are rendered for $context references only (no other VTL): $context.error.message,
$context.error.messageString (the message JSON-quoted), $context.error.responseType, $context.requestId,
$context.httpMethod, $context.path and $context.stage; other $context references render empty.
ResponseParameters.Headers set headers from a quoted literal ('value') or from the request's headers or query
string (method.request.header.X, method.request.querystring.X). SAM's own translator turns each declaration into
what API Gateway is given (statusCode, responseTemplates, "gatewayresponse.header.X" parameters): see
local.sam_adapter.gateway_response_swagger.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Response

from local import limits
from local.sam_adapter import InvalidGatewayResponse, ServerlessApi, gateway_response_swagger

LOG = logging.getLogger(__name__)

ApiKey = tuple[str, str]  # (stack path, logical id) of an AWS::Serverless::Api
Declarations = Mapping[str, Mapping[str, Any]]  # one Api's gateway responses: response type -> swagger form

# API Gateway's template for a gateway response declared without ResponseTemplates.
DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
JSON = "application/json"

_CONTEXT_REF = re.compile(r"\$!?(?:\{context\.(\w+(?:\.\w+)*)\}|context\.(\w+(?:\.\w+)*))")
_HEADER_PARAM = "gatewayresponse.header."


class Lookup(Protocol):
    def get(self, key: str, /) -> Any: ...


class RequestView(Protocol):
    """What an answer reads of the request: a Flask request, or what the HTTP server parsed of a malformed one."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Lookup: ...
    @property
    def args(self) -> Lookup: ...


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        response = Response(self.body, status=self.status, content_type=self.content_type)
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


@dataclass(frozen=True)
class GatewayError:
    """An answer API Gateway gives itself, and what it answers when the API does not customise it."""

    response_type: str
    status: int
    message: str
    content_type: str = JSON

    def default_answer(self) -> Answer:
        # As API Gateway's default template {"message":$context.error.messageString} renders it.
        if self.content_type == "text/plain":
            body = self.message
        else:
            body = json.dumps({"message": self.message}, separators=(",", ":"))
        return Answer(self.status, self.content_type, body)

    @classmethod
    def default_for(cls, status: int, message: str) -> GatewayError:
        """An error of no response type of its own: DEFAULT_4XX or DEFAULT_5XX customises it."""
        return cls("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX", status, message)


MISSING_AUTHENTICATION_TOKEN = GatewayError(
    "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token"
)
# Over 10 MB API Gateway answers in plain text (and without CORS headers).
REQUEST_TOO_LARGE = GatewayError(
    "REQUEST_TOO_LARGE",
    413,
    f"HTTP content length exceeded {limits.APIGW_MAX_BODY_BYTES} bytes.",
    "text/plain",
)
INTEGRATION_TIMEOUT = GatewayError("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out")
# A failed function or a malformed or oversized function response (502): DEFAULT_5XX customises it.
FUNCTION_FAILED = GatewayError("DEFAULT_5XX", 502, "Internal server error")
# An invocation the Lambda API refused (an event over 6 MB: 500) is a failed integration, INTEGRATION_FAILURE,
# which DEFAULT_5XX customises when the API does not declare it.
INVOCATION_REJECTED = GatewayError("INTEGRATION_FAILURE", 500, "Internal server error")


def read_declarations(apis: Iterable[ServerlessApi]) -> dict[ApiKey, Declarations]:
    """GatewayResponses of each AWS::Serverless::Api ({} for an Api without them)."""
    return {
        (api.stack_path, api.logical_id): _swagger(api.logical_id, api.properties.get("GatewayResponses"))
        for api in apis
    }


def _swagger(api_id: str, declared: Any) -> dict[str, Mapping[str, Any]]:
    responses: dict[str, Mapping[str, Any]] = {}
    for response_type, props in (declared or {}).items() if isinstance(declared, dict) else ():
        if not isinstance(props, dict):
            continue
        try:
            responses[str(response_type)] = gateway_response_swagger(api_id, props)
        except InvalidGatewayResponse as exc:
            LOG.warning("GatewayResponses %s of %s ignored: %s", response_type, api_id, exc)
    return responses


def respond(
    error: GatewayError,
    declarations: Declarations | None,
    req: RequestView,
    stage: str | None = None,
    request_id: str | None = None,
) -> Response:
    """The answer to `error` for a request to an Api with these GatewayResponses (None: AWS's defaults);
    `request_id` is the id API Gateway gave the request (a new one for a request it did not route)."""
    return render(error, declarations, req, stage, request_id).response()


def render(
    error: GatewayError,
    declarations: Declarations | None,
    req: RequestView,
    stage: str | None = None,
    request_id: str | None = None,
) -> Answer:
    """As respond, for a server that writes the answer itself."""
    declared = _declaration(error, declarations or {})
    if declared is None:
        return error.default_answer()
    content_type, template = _template(declared.get("responseTemplates"))
    context = {
        "error.message": error.message,
        "error.messageString": json.dumps(error.message),
        "error.responseType": error.response_type,
        "requestId": request_id or str(uuid.uuid4()),
        "httpMethod": req.method,
        "path": req.path,
        "stage": stage or "",
    }
    body = _CONTEXT_REF.sub(lambda m: context.get(m.group(1) or m.group(2), ""), template)
    status = _status(declared.get("statusCode")) or error.status
    return Answer(status, content_type, body, _headers(declared.get("responseParameters"), req))


def _declaration(error: GatewayError, declarations: Declarations) -> Mapping[str, Any] | None:
    fallback = "DEFAULT_4XX" if error.status < 500 else "DEFAULT_5XX"
    for response_type in (error.response_type, fallback):
        declared = declarations.get(response_type)
        if declared is not None:
            return declared
    return None


def _template(templates: Any) -> tuple[str, str]:
    """(content type, template): application/json's, else the first declared, else API Gateway's default."""
    if isinstance(templates, dict) and templates:
        content_type = JSON if JSON in templates else next(iter(templates))
        template = templates[content_type]
        if isinstance(template, str):
            return str(content_type), template
        LOG.warning("GatewayResponses template for %s is not a string: %r", content_type, template)
    return JSON, DEFAULT_TEMPLATE


def _status(value: Any) -> int | None:
    try:
        status = int(value)
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def _headers(parameters: Any, req: RequestView) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, source in (parameters or {}).items() if isinstance(parameters, dict) else ():
        if not str(key).startswith(_HEADER_PARAM):
            continue
        value = _parameter_value(str(source), req)
        if value is None:
            LOG.debug("GatewayResponses parameter %s = %s gives no value locally", key, source)
            continue
        headers[str(key)[len(_HEADER_PARAM) :]] = value
    return headers


def _parameter_value(source: str, req: RequestView) -> str | None:
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    for prefix, values in (
        ("method.request.header.", req.headers),
        ("method.request.querystring.", req.args),
    ):
        if source.startswith(prefix):
            found = values.get(source[len(prefix) :])
            return None if found is None else str(found)
    return None
