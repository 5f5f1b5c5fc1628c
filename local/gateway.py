"""SAM's API Gateway emulation, corrected where `sam local` answers differently from API Gateway.

LocalApigwService does routing, events, binary media types and the response mapping. This subclass adds
what the real REST API does and sam local does not: the 10 MB body limit (413), the integration timeout (504),
502 (not 500) when the function fails, and 500 when the Lambda API refuses the invocation.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Response, request
from samcli.local.apigw.exceptions import LambdaResponseParseException
from samcli.local.apigw.local_apigw_service import LocalApigwService
from samcli.local.apigw.route import Route

from local import limits

LOG = logging.getLogger(__name__)

# Bytes of an oversized body read and dropped before answering 413, so the client reads the answer instead of
# a connection reset; past this the connection is just closed.
_DRAIN_LIMIT = 64 * 1024 * 1024
_DRAIN_CHUNK = 1 << 20

RouteKey = tuple[str, str, str]


class LocalGatewayService(LocalApigwService):
    def create(self) -> None:
        super().create()
        self._integration_timeouts = self._read_integration_timeouts()
        app = self._app
        assert app is not None
        # Flask cuts a chunked body off here (silently): one byte more than allowed tells it was too long.
        app.config["MAX_CONTENT_LENGTH"] = limits.APIGW_MAX_BODY_BYTES + 1
        app.register_error_handler(413, lambda _exc: _too_large())

    def _request_handler(self, **kwargs: Any) -> Response:
        oversized = self._reject_oversized_body()
        if oversized is not None:
            return oversized
        route = self._get_current_route(request)
        timeout = self._integration_timeout(route, request.method)
        token = limits.integration_deadline.set(time.monotonic() + timeout)
        try:
            response: Response = super()._request_handler(**kwargs)
            return response
        except limits.IntegrationTimeout:
            LOG.error("Execution failed due to a timeout error (integration timeout %gs)", timeout)
            return _json(504, {"message": "Endpoint request timed out"})
        except limits.FunctionFailed:
            return _json(502, {"message": "Internal server error"})
        except limits.InvocationRejected as exc:
            LOG.error("Lambda invocation failed: %s", exc)
            return _json(500, {"message": "Internal server error"})
        finally:
            limits.integration_deadline.reset(token)

    def _invoke_lambda_function(
        self, lambda_function_name: str, event: dict, tenant_id: str | None = None
    ) -> Any:
        try:
            return super()._invoke_lambda_function(lambda_function_name, event, tenant_id)
        except LambdaResponseParseException as exc:
            # Raised here only for a Lambda error object (unhandled exception, timeout, crash, oversized
            # response): sam local answers 500, API Gateway answers 502.
            raise limits.FunctionFailed(lambda_function_name) from exc

    def _reject_oversized_body(self) -> Response | None:
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
        response = _too_large()
        response.headers["Connection"] = "close"
        return response

    def _read_integration_timeouts(self) -> dict[RouteKey, float]:
        """TimeoutInMillis of each Api/HttpApi event, by (function, path, method)."""
        timeouts: dict[RouteKey, float] = {}
        for function in self.lambda_runner.provider.get_all():
            for event in (function.events or {}).values():
                if not isinstance(event, dict) or event.get("Type") not in ("Api", "HttpApi"):
                    continue
                props = event.get("Properties") or {}
                millis = props.get("TimeoutInMillis")
                if not isinstance(millis, (int, float)) or isinstance(millis, bool):
                    continue
                key = (
                    function.full_path,
                    _norm_path(str(props.get("Path", "/"))),
                    str(props.get("Method", "")).upper(),
                )
                timeouts[key] = millis / 1000.0
        return timeouts

    def _integration_timeout(self, route: Route, method: str) -> float:
        path = _norm_path(route.path)
        for key in ((route.function_name, path, method.upper()), (route.function_name, path, "ANY")):
            if key in self._integration_timeouts:
                return self._integration_timeouts[key]
        if route.event_type == Route.HTTP:
            return limits.HTTP_API_DEFAULT_INTEGRATION_TIMEOUT_S
        return limits.APIGW_DEFAULT_INTEGRATION_TIMEOUT_S


def _too_large() -> Response:
    # What the REST API answers for a body over 10 MB: plain text, not JSON, and no CORS headers.
    body = f"HTTP content length exceeded {limits.APIGW_MAX_BODY_BYTES} bytes."
    return Response(body, status=413, content_type="text/plain")


def _json(status: int, body: dict[str, str]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _norm_path(path: str) -> str:
    # REST API resources ignore a trailing slash.
    return path.rstrip("/") or "/"
