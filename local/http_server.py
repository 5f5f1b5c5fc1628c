"""The development server's own refusals of malformed HTTP, answered as API Gateway answers with the API's
GatewayResponses, not with http.server's HTML page.

werkzeug's development server (http.server underneath) refuses some requests before Flask sees them: a request
line over 64 KiB (414), a header line over 64 KiB or over 100 header lines (431), a malformed request line (400),
an HTTP version it does not speak (505). Those answers go through `render` (local.gateway), as DEFAULT_4XX or
DEFAULT_5XX gateway responses of the template's Api.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.serving import WSGIRequestHandler

from local.gateway_responses import Answer, GatewayError, RequestView

Render = Callable[[GatewayError, RequestView], Answer]

REASONS = {
    HTTPStatus.BAD_REQUEST: "Malformed HTTP request",
    HTTPStatus.REQUEST_URI_TOO_LONG: "Request URI too long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "Request header fields too large",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "HTTP version not supported",
}


class _Parsed:
    """What http.server had parsed of the request when it refused it (nothing, for a request line too long)."""

    def __init__(self, handler: WSGIRequestHandler) -> None:
        target = urlsplit(str(getattr(handler, "path", "") or ""))
        self.method = str(getattr(handler, "command", "") or "")
        self.path = target.path
        self.headers: Any = getattr(handler, "headers", None) or {}
        self.args: Any = dict(parse_qsl(target.query))


def request_handler_class(render: Render) -> type[WSGIRequestHandler]:
    """werkzeug's request handler, whose refusals of malformed HTTP are `render`ed gateway responses."""

    class GatewayRequestHandler(WSGIRequestHandler):
        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            reason = REASONS.get(HTTPStatus(code)) or HTTPStatus(code).phrase
            # http.server's message quotes the request line, which can carry what the client sent: not logged.
            self.log_error("refused before routing: %d %s", code, reason)
            answer = render(GatewayError.default_for(code, reason), _Parsed(self))
            body = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Connection", "close")
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)

    return GatewayRequestHandler
