"""SAM's API Gateway emulation, corrected where `sam local` answers differently from API Gateway.

SAM's LocalApigwService (reached through local.sam_adapter.ApiGatewayEmulation) does routing, events, binary
media types and the response mapping. This subclass adds
what the real REST API does and sam local does not: the 10 MB body limit (413), the integration timeout (504),
502 (not 500) when the function fails, 500 when the Lambda API refuses the invocation, and the Api's
GatewayResponses on all of these and on an unknown route (local/gateway_responses.py). A route the template marks
`ResponseTransferMode: RESPONSE_STREAM` streams its answer from the function's web app (local/stream_proxy.py,
local/function_apps.py), which SAM cannot do.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.serving import WSGIRequestHandler

from local import docs, gateway_responses, http_server, limits, stream_proxy
from local.function_apps import FunctionApps
from local.gateway_responses import Answer, ApiKey, Declarations, GatewayError, RequestView
from local.sam_adapter import ApiGatewayEmulation, ApiRoute, StreamedInvocation

LOG = logging.getLogger(__name__)

# Bytes of an oversized body read and dropped before answering 413, so the client reads the answer instead of
# a connection reset; past this the connection is just closed.
_DRAIN_LIMIT = 64 * 1024 * 1024
_DRAIN_CHUNK = 1 << 20

RouteKey = tuple[str, str, str]  # (function, path, method) of an Api/HttpApi event
# An Api event's ResponseTransferMode that streams (SAM's translator builds a buffered integration for any other).
RESPONSE_STREAM = "RESPONSE_STREAM"


class LocalGatewayService(ApiGatewayEmulation):
    openapi_document: Path | None = None  # served at /openapi.json, with Swagger UI at /docs (local/docs.py)
    function_apps: FunctionApps | None = None  # the web apps that answer streamed routes

    def configure_app(self, app: Flask) -> None:
        if self.openapi_document is not None:
            docs.register(app, self.openapi_document)
        self._integration_timeouts = self._read_integration_timeouts()
        self._streamed_routes = self._read_streamed_routes()
        self._route_apis = self._read_route_apis()
        self._declarations = gateway_responses.read_declarations(self.serverless_apis())
        # Flask cuts a chunked body off here (silently): one byte more than allowed tells it was too long.
        app.config["MAX_CONTENT_LENGTH"] = limits.APIGW_MAX_BODY_BYTES + 1
        app.register_error_handler(413, lambda _exc: self._answer(gateway_responses.REQUEST_TOO_LARGE))
        # No such path (404), or no such method on it (405): API Gateway's 403 Missing Authentication Token.
        for code in (404, 405):
            app.register_error_handler(
                code, lambda _exc: self._answer(gateway_responses.MISSING_AUTHENTICATION_TOKEN)
            )
        # werkzeug's other refusals (a body cut short, a malformed chunk: 400) as gateway responses, not HTML.
        app.register_error_handler(HTTPException, self._http_exception)
        # werkzeug would redirect //api//tts// to /api/tts/ (308); API Gateway matches no resource to an empty
        # path segment. (A leading // is already one / by the time Flask routes, as API Gateway takes it.)
        app.url_map.merge_slashes = False

    def request_handler(self) -> type[WSGIRequestHandler]:
        return http_server.request_handler_class(self._render_unrouted)

    def handle_request(self, route: ApiRoute, forward: Callable[[], Response]) -> Response:
        oversized = self._reject_oversized_body(route)
        if oversized is not None:
            return oversized
        timeout = self._integration_timeout(route, request.method)
        deadline = time.monotonic() + timeout
        token = limits.integration_deadline.set(deadline)
        try:
            try:
                return forward()
            except StreamedInvocation as streamed:
                return self._stream(streamed, deadline)
        except limits.IntegrationTimeout:
            LOG.error("Execution failed due to a timeout error (integration timeout %gs)", timeout)
            return self._answer(gateway_responses.INTEGRATION_TIMEOUT, route)
        except limits.FunctionFailed:
            return self._answer(gateway_responses.FUNCTION_FAILED, route)
        except limits.InvocationRejected as exc:
            LOG.error("Lambda invocation failed: %s", exc)
            return self._answer(gateway_responses.INVOCATION_REJECTED, route)
        except limits.BodyRefused as exc:
            LOG.info("Request body refused (%s): %s", exc.code, exc.detail)
            body = json.dumps({"detail": exc.detail, "code": exc.code})
            return Response(body, status=400, content_type=gateway_responses.JSON)
        finally:
            limits.integration_deadline.reset(token)

    def streams(self, route: ApiRoute, method: str) -> bool:
        return _lookup(self._streamed_routes, route, method) is True

    def streamed_functions(self) -> set[str]:
        """The full paths of the functions with a streamed route (served by their web app)."""
        return {
            function for (function, _path, _method), streamed in self._streamed_routes.items() if streamed
        }

    def _stream(self, streamed: StreamedInvocation, deadline: float) -> Response:
        """The function's web app answers, its body sent on as it comes (after this returns)."""
        if self.function_apps is None:
            raise limits.InvocationRejected("no web app runner for streamed routes")
        name = streamed.function.full_path
        # A streamed invocation's event is a Lambda request like any other: 6 MB at most.
        size = len(json.dumps(streamed.event).encode())
        if size > limits.LAMBDA_MAX_REQUEST_BYTES:
            raise limits.InvocationRejected(
                f"Request must be smaller than {limits.LAMBDA_MAX_REQUEST_BYTES} bytes for the "
                f"InvokeWithResponseStream operation (got {size})"
            )
        port = self.function_apps.port_of(streamed.function, deadline)
        try:
            return stream_proxy.answer(streamed, port, deadline, name)
        except stream_proxy.AppUnreachable:
            # Its app ended after an earlier answer (a crash): Lambda would give this request a new environment.
            self.function_apps.stop(name)
            port = self.function_apps.port_of(streamed.function, deadline)
            return stream_proxy.answer(streamed, port, deadline, name)

    def body_not_text(self) -> None:
        # JSON is UTF-8 (RFC 8259), and a function reads it as text: API Gateway would hand it over with the bad
        # bytes mangled, which the function cannot tell from what was sent. Refused here, so that the mistake
        # shows. Any other media type goes on base64-encoded, and the function judges it by its Content-Type.
        if not _is_json(request.mimetype):
            return
        charset = request.mimetype_params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            raise limits.BodyRefused(
                f"JSON must be sent as UTF-8 (the Content-Type says charset={charset[:20]})",
                "unsupported_content_type",
            )
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise limits.BodyRefused(
                f"Content-Encoding {encoding[:20]} is not accepted: send the body uncompressed",
                "unsupported_content_type",
            )
        raise limits.BodyRefused("The request body is not valid UTF-8, which JSON must be", "malformed_body")

    def _http_exception(self, exc: HTTPException) -> Response:
        status = exc.code or 500
        if isinstance(exc, ClientDisconnected):
            message = (
                "The request body ended early: a malformed chunk, or fewer bytes than its Content-Length"
            )
        else:
            message = exc.name
        LOG.info("Request refused: %d %s", status, message)
        return self._answer(GatewayError.default_for(status, message))

    def _render_unrouted(self, error: GatewayError, view: RequestView) -> Answer:
        """An answer to a request refused before Flask had it (malformed HTTP): no route, no request id."""
        return gateway_responses.render(error, self._only_api_declarations(), view, self.stage_name)

    def _answer(self, error: GatewayError, route: ApiRoute | None = None) -> Response:
        """API Gateway's own answer to `error`, customised by the GatewayResponses of the request's Api."""
        if route is None:
            route = self.current_route()  # None: an unknown path or method
        return gateway_responses.respond(
            error, self._declarations_of(route), request, self.stage_name, self.request_id()
        )

    def _declarations_of(self, route: ApiRoute | None) -> Declarations | None:
        """GatewayResponses of the route's Api; without a route, of the template's only Api (None: AWS's)."""
        if route is not None and route.http_api:
            return None  # HTTP APIs have no gateway responses
        api = None if route is None else _lookup(self._route_apis, route, request.method)
        if api is not None:
            return self._declarations.get(api)
        return self._only_api_declarations()

    def _only_api_declarations(self) -> Declarations | None:
        """The GatewayResponses of the template's only Api (None with several: AWS's defaults)."""
        return next(iter(self._declarations.values())) if len(self._declarations) == 1 else None

    def _reject_oversized_body(self, route: ApiRoute) -> Response | None:
        limit = limits.APIGW_MAX_BODY_BYTES
        length = request.content_length
        if length is None:
            if "wsgi.input_terminated" not in request.environ:
                return None  # no body
            # Chunked: read it now (Flask stops at MAX_CONTENT_LENGTH, one byte past the limit, and keeps
            # the bytes for SAM's event) to learn whether it is over.
            if len(request.get_data(cache=True)) <= limit:
                return None
        elif length <= limit:
            return None
        LOG.error(
            "Request body over API Gateway's %d bytes (Content-Length: %s)", limit, length or "none, chunked"
        )
        # Drop what the client is still sending (bounded), so that it reads the answer, not a reset.
        raw = request.environ["wsgi.input"]
        todo = min(length if length is not None else _DRAIN_LIMIT, _DRAIN_LIMIT)
        while todo > 0 and (chunk := raw.read(min(todo, _DRAIN_CHUNK))):
            todo -= len(chunk)
        response = self._answer(gateway_responses.REQUEST_TOO_LARGE, route)
        response.headers["Connection"] = "close"
        return response

    def _api_events(self) -> Iterator[tuple[RouteKey, str, str, dict[str, Any]]]:
        """(function, path, method), stack path, type and properties of each Api/HttpApi event."""
        for function in self.function_events():
            for event in function.events.values():
                if not isinstance(event, dict) or event.get("Type") not in ("Api", "HttpApi"):
                    continue
                props = event.get("Properties") or {}
                key = (
                    function.full_path,
                    _norm_path(str(props.get("Path", "/"))),
                    str(props.get("Method", "")).upper(),
                )
                yield key, function.stack_path, event["Type"], props

    def _read_integration_timeouts(self) -> dict[RouteKey, float]:
        """TimeoutInMillis of each Api/HttpApi event."""
        timeouts: dict[RouteKey, float] = {}
        for key, _stack_path, _type, props in self._api_events():
            millis = props.get("TimeoutInMillis")
            if isinstance(millis, (int, float)) and not isinstance(millis, bool):
                timeouts[key] = millis / 1000.0
        return timeouts

    def _read_streamed_routes(self) -> dict[RouteKey, bool]:
        """Whether each REST Api event streams its answer (ResponseTransferMode: RESPONSE_STREAM)."""
        return {
            key: event_type == "Api" and props.get("ResponseTransferMode") == RESPONSE_STREAM
            for key, _stack_path, event_type, props in self._api_events()
        }

    def _read_route_apis(self) -> dict[RouteKey, ApiKey]:
        """The Api (AWS::Serverless::Api) of each Api event; SAM fills in ServerlessRestApi for the implicit one."""
        apis: dict[RouteKey, ApiKey] = {}
        for key, stack_path, event_type, props in self._api_events():
            api_id = props.get("RestApiId")
            if isinstance(api_id, dict):
                api_id = api_id.get("Ref")
            if event_type == "Api" and isinstance(api_id, str):
                apis[key] = (stack_path, api_id)
        return apis

    def _integration_timeout(self, route: ApiRoute, method: str) -> float:
        timeout = _lookup(self._integration_timeouts, route, method)
        if timeout is not None:
            if self.streams(route, method):
                return min(timeout, limits.APIGW_MAX_STREAM_INTEGRATION_TIMEOUT_S)
            return timeout
        if route.http_api:
            return limits.HTTP_API_DEFAULT_INTEGRATION_TIMEOUT_S
        return limits.APIGW_DEFAULT_INTEGRATION_TIMEOUT_S


def _lookup[T](table: dict[RouteKey, T], route: ApiRoute, method: str) -> T | None:
    """The route's entry in a table by (function, path, method), the method or ANY."""
    path = _norm_path(route.path)
    for key in ((route.function_name, path, method.upper()), (route.function_name, path, "ANY")):
        if key in table:
            return table[key]
    return None


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _norm_path(path: str) -> str:
    # REST API resources ignore a trailing slash.
    return path.rstrip("/") or "/"
