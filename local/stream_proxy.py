"""A streamed route's answer (ResponseTransferMode: RESPONSE_STREAM) under `make serve`, as the Lambda Web Adapter
and API Gateway give it on AWS.

SAM's emulation buffers every answer; for a streamed route local.sam_adapter stops once SAM has routed the request
and built its event, and this module takes over, doing what LWA does with that event on Lambda (its `lambda_http`
request, `x-amzn-request-context` and `x-amzn-lambda-context`): an HTTP request to the function's web app
(local.function_apps) with the path (no stage), the query, the headers and the decoded body. The app's answer goes
to the client as it comes: its status and headers (with SAM's CORS headers for the route), then each piece read,
sent chunked. An answer that stops short (the app aborted it, died, or ran past the integration timeout or the
function's timeout) leaves the client's body short too: the connection closes without the final chunk, as on AWS;
it never ends as if it had succeeded.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn
from urllib.parse import urlencode

from flask import Response
from werkzeug.datastructures import Headers

from local import limits
from local.runtime import function_arn
from local.sam_adapter import LambdaFunction, StreamedInvocation

LOG = logging.getLogger(__name__)

# API Gateway ends a streamed answer (Regional REST API) after 5 minutes without a byte.
IDLE_TIMEOUT_S = 300.0
READ_SIZE = 64 * 1024
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, not to the request or answer passed on; the body's
# length is the decoded body's.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
        REQUEST_CONTEXT_HEADER,
        LAMBDA_CONTEXT_HEADER,
    }
)
_NOT_RETURNED = frozenset({"connection", "keep-alive", "transfer-encoding", "trailer", "upgrade"})
# A REST API passes these on from the integration's answer renamed (its "Important notes"), keeping its own.
_REMAPPED = frozenset({"date", "server", "www-authenticate"})


class StreamCut(ConnectionAbortedError):
    """The app's answer stopped before its end. A ConnectionError is what werkzeug's server takes for a dropped
    connection: it then writes nothing more (no final chunk) and closes, so the client's body is cut short."""


class AppUnreachable(limits.FunctionFailed):
    """Nothing listens on the app's port: its process has ended (the server starts another)."""


class _AnswerResponse(Response):
    # API Gateway's proxy integration says application/json when the function gives no Content-Type.
    default_mimetype = "application/json"


def lambda_context(function: LambdaFunction, request_id: str, deadline_ms: int) -> dict[str, Any]:
    """The Lambda context LWA sends as x-amzn-lambda-context: the Rust runtime's Context, serialised by serde."""
    env = function.env
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    return {
        "request_id": request_id,
        "deadline": deadline_ms,
        "invoked_function_arn": function_arn(function.name, env.get("AWS_REGION")),
        "xray_trace_id": None,
        "client_context": None,
        "identity": None,
        "env_config": {
            "function_name": env.get("AWS_LAMBDA_FUNCTION_NAME", function.name),
            "memory": int(memory) if memory.isdigit() else 128,
            "version": env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            "log_stream": env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            "log_group": env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
        },
    }


def app_request(
    event: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """(method, target, headers, body) of the HTTP request LWA makes of a REST API proxy event."""
    query = event.get("multiValueQueryStringParameters") or {}
    target = str(event.get("path") or "/")
    if query:
        target += "?" + urlencode([(k, v) for k, values in query.items() for v in values or ()])
    headers = [
        (name, str(value))
        for name, values in (event.get("multiValueHeaders") or {}).items()
        if name.lower() not in _NOT_FORWARDED
        for value in values or ()
    ]
    headers.append((REQUEST_CONTEXT_HEADER, json.dumps(event.get("requestContext") or {})))
    headers.append((LAMBDA_CONTEXT_HEADER, json.dumps(context)))
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()
    return str(event.get("httpMethod") or "GET"), target, headers, raw


def answer(
    invocation: StreamedInvocation, port: int, integration_deadline: float, function_name: str
) -> Response:
    """The app's answer to the invocation's event, streamed. Raises limits.IntegrationTimeout when no status came
    before the deadline (monotonic) and limits.FunctionFailed when the app failed before it."""
    function = invocation.function
    # The invocation ends at the function's timeout or when API Gateway stops waiting, whichever comes first.
    deadline = min(integration_deadline, time.monotonic() + function.timeout)
    deadline_ms = int(time.time() * 1000 + function.timeout * 1000)
    context = lambda_context(function, str(uuid.uuid4()), deadline_ms)
    method, target, headers, body = app_request(invocation.event, context)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(0.001, deadline - time.monotonic()))
    try:
        conn.connect()
        sock = conn.sock
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        if not any(name.lower() == "host" for name, _ in headers):
            conn.putheader("Host", f"127.0.0.1:{port}")
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        upstream = conn.getresponse()
    except TimeoutError:
        conn.close()
        raise limits.IntegrationTimeout(function_name) from None
    except ConnectionRefusedError as exc:
        conn.close()
        raise AppUnreachable(function_name) from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        LOG.error("The web app of %s failed before answering: %s", function_name, type(exc).__name__)
        raise limits.FunctionFailed(function_name) from exc

    returned = Headers(
        [
            (f"x-amzn-Remapped-{name}" if name.lower() in _REMAPPED else name, value)
            for name, value in upstream.getheaders()
            if name.lower() not in _NOT_RETURNED
        ]
    )
    for name, value in invocation.cors_headers.items():
        returned[name] = value
    return _AnswerResponse(
        _pieces(conn, sock, upstream, deadline, function_name),
        status=upstream.status,
        headers=returned,
        direct_passthrough=True,
    )


def _pieces(
    conn: http.client.HTTPConnection,
    sock: socket.socket | None,
    upstream: http.client.HTTPResponse,
    deadline: float,
    function_name: str,
) -> Iterator[bytes]:
    """The app's body as it arrives; StreamCut when it stops short. (Runs after the request's Flask context.)"""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _cut(function_name, "its time ran out")
            if sock is not None:
                sock.settimeout(min(remaining, IDLE_TIMEOUT_S))
            try:
                piece = upstream.read1(READ_SIZE)
            except TimeoutError:
                late = time.monotonic() >= deadline
                _cut(function_name, "its time ran out" if late else f"no byte for {IDLE_TIMEOUT_S:g} s")
            except (OSError, http.client.HTTPException) as exc:
                _cut(function_name, f"its connection ended early ({type(exc).__name__})")
            if not piece:
                if upstream.length:  # a Content-Length the body fell short of
                    _cut(function_name, "its body was shorter than its Content-Length")
                return
            yield piece
    finally:
        upstream.close()
        conn.close()


def _cut(function_name: str, why: str) -> NoReturn:
    # "Its time": the route's integration timeout or the function's timeout, whichever came first.
    LOG.error(
        "The streamed answer of %s stopped before its end: %s; the client's body ends short",
        function_name,
        why,
    )
    raise StreamCut(why)
