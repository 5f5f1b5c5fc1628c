"""The streaming function's ASGI app: each HTTP request as the API Gateway event a Lambda handler answers.

On AWS the function runs behind the Lambda Web Adapter (LWA) in response-stream mode: LWA turns API Gateway's REST
event into an HTTP request to this app, on uvicorn (run.sh), and streams the answer back. The raw event is lost on
the way, so it is rebuilt here: path, method, headers, query and body from the request, `requestContext` from the
`x-amzn-request-context` header and the Lambda context from `x-amzn-lambda-context`, both of which LWA sets on every
request, overwriting any copy the client sent (awslabs/aws-lambda-web-adapter v1.0.0, src/lib.rs `fetch_response`).
Without them (a plain HTTP request, e.g. under `make serve`), both are made up from the request and the environment.

The handler runs in a worker thread, and in the same context `streaming.take_handed_over()`: a route that handed
its body over has it sent chunk by chunk (each `next()` in a worker thread, so the event loop stays free), the
status and headers from the handler's answer; any other answer is sent whole. A body that fails after it began
ends without its last chunk (the connection is closed), so that no client takes a cut answer for the whole; a
client that goes away has the body's iterator closed, so that the work behind it stops.

Plain ASGI, no framework: uvicorn is all this needs, and Starlette would cost a cold start its imports.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from speech_common.http_kit.streaming import take_handed_over
from speech_common.observability import logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"
# LWA POSTs every event that is not an HTTP request here (AWS_LWA_PASS_THROUGH_PATH, default /events).
PASS_THROUGH_PATH = os.environ.get("AWS_LWA_PASS_THROUGH_PATH", "/events")
# LWA polls this path until the app answers (AWS_LWA_READINESS_CHECK_PATH; template.yaml sets it): answered here,
# without the handler, so that readiness never waits on a door being built.
READINESS_PATH = os.environ.get("AWS_LWA_READINESS_CHECK_PATH", "/ready")
# A Lambda's longest run: the time a request is given when no Lambda context says otherwise (SAM local names the
# function's own timeout AWS_LAMBDA_FUNCTION_TIMEOUT).
DEFAULT_TIMEOUT_SECONDS = 900
_END = object()
# The key sets of pass-through events already logged (once each: they are logged to be recognised, not counted).
_seen_pass_through: set[tuple[str, ...]] = set()


class LambdaContext:
    """What Lambda's Python runtime gives a handler, as far as the code and Powertools read it."""

    def __init__(
        self,
        *,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        function_name: str,
        function_version: str,
        memory_limit_in_mb: int,
        log_group_name: str,
        log_stream_name: str,
        xray_trace_id: str | None = None,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.xray_trace_id = xray_trace_id
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def lambda_context(header: str | None) -> LambdaContext:
    """The invocation's context from LWA's header: lambda_runtime's `Context` serialised by serde with its field
    names as written (awslabs/aws-lambda-rust-runtime, lambda-runtime/src/types.rs `Context`, lib.rs `Config`):
    request_id, deadline (epoch ms), invoked_function_arn, xray_trace_id, env_config {function_name, memory,
    version, log_stream, log_group}. Without it, the environment's values and the function's timeout from now."""
    found = _json_object(header)
    config: dict[str, Any] = found["env_config"] if isinstance(found.get("env_config"), dict) else {}
    name = str(
        config.get("function_name") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "speech-api-stream"
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    timeout_s = _int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT"), DEFAULT_TIMEOUT_SECONDS)
    return LambdaContext(
        aws_request_id=str(found.get("request_id") or uuid.uuid4()),
        deadline_ms=_int(found.get("deadline"), int(time.time() * 1000) + timeout_s * 1000),
        invoked_function_arn=str(
            found.get("invoked_function_arn") or f"arn:aws:lambda:{region}:000000000000:function:{name}"
        ),
        function_name=name,
        function_version=str(
            config.get("version") or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"
        ),
        memory_limit_in_mb=_int(
            config.get("memory"), _int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 128)
        ),
        log_group_name=str(config.get("log_group") or os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")),
        log_stream_name=str(config.get("log_stream") or os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")),
        xray_trace_id=str(found["xray_trace_id"]) if found.get("xray_trace_id") else None,
    )


def request_context(header: str | None, scope: Scope, request_id: str) -> dict[str, Any]:
    """The event's requestContext: API Gateway's, as LWA forwards it (aws_lambda_events'
    `ApiGatewayProxyRequestContext` re-serialised: camelCase, the authorizer's keys flat), or one made up for a
    plain request: what the code reads of it (stage, requestId, requestTimeEpoch, identity.sourceIp)."""
    found = _json_object(header)
    if found:
        return found
    client = scope.get("client")
    return {
        "stage": "local",
        "requestId": request_id,
        "requestTimeEpoch": int(time.time() * 1000),
        "httpMethod": scope["method"],
        "path": scope["path"],
        "resourcePath": scope["path"],
        "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
        "identity": {"sourceIp": client[0] if client else "127.0.0.1"},
    }


def proxy_event(scope: Scope, body: bytes) -> tuple[dict[str, Any], LambdaContext]:
    """API Gateway's REST proxy event (format 1.0) for this request, and its Lambda context."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    contexts: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name.lower() in (REQUEST_CONTEXT_HEADER, LAMBDA_CONTEXT_HEADER):
            contexts[name.lower()] = value
            continue
        single[name] = value
        multi.setdefault(name, []).append(value)
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    context = lambda_context(contexts.get(LAMBDA_CONTEXT_HEADER))
    event = {
        "resource": scope["path"],
        "path": scope["path"],
        "httpMethod": scope["method"],
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": {key: values[-1] for key, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": request_context(
            contexts.get(REQUEST_CONTEXT_HEADER), scope, context.aws_request_id
        ),
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }
    if isinstance(event["requestContext"].get("resourcePath"), str):
        event["resource"] = event["requestContext"]["resourcePath"]
    return event, context


def asgi_app(handler: Handler) -> ASGIApp:
    """An ASGI app that answers each HTTP request with `handler(event, context)`, streaming a handed-over body."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == READINESS_PATH:
            await _send_whole(send, 200, [(b"content-type", b"text/plain")], b"ready")
            return
        body = await _read_body(receive)
        if scope["method"] == "POST" and scope["path"] == PASS_THROUGH_PATH:
            _log_pass_through(body)
            await _send_whole(send, 200, [(b"content-type", b"application/json")], b"{}")
            return
        await _answer(handler, scope, body, receive, send)

    return app


async def _answer(handler: Handler, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
    event, context = proxy_event(scope, body)
    # One context for the handler and every next() of its body: what the route set (the handed-over body, the
    # logger's keys) is what its chunks see.
    request_vars = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    try:
        answer, chunks = await loop.run_in_executor(None, request_vars.run, _invoke, handler, event, context)
    except (
        Exception
    ) as exc:  # the resolver answers every error it knows: this is a bug, as Lambda would show it
        logger.error("the handler failed", extra={"error_type": type(exc).__name__})
        await _send_whole(
            send, 502, [(b"content-type", b"application/json")], b'{"message": "Internal server error"}'
        )
        return
    status = int(answer.get("statusCode", 200))
    headers = _answer_headers(answer)
    if chunks is None:
        whole = _answer_body(answer)
        await _send_whole(send, status, headers, whole)
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await _stream(chunks, request_vars, receive, send)


def _invoke(handler: Handler, event: dict[str, Any], context: LambdaContext) -> tuple[dict[str, Any], Any]:
    """The handler's answer, and the body its route handed over (None: the answer is whole)."""
    if (
        context.xray_trace_id
    ):  # as Lambda's runtime sets it for each invocation (one at a time per environment)
        os.environ["_X_AMZN_TRACE_ID"] = context.xray_trace_id
    answer = handler(event, context)
    return answer, take_handed_over()


async def _stream(
    chunks: Iterator[bytes], request_vars: contextvars.Context, receive: Receive, send: Send
) -> None:
    loop = asyncio.get_running_loop()
    gone = asyncio.ensure_future(_disconnected(receive))
    following: asyncio.Future[Any] | None = None
    finished = False  # the body ran to its end or raised: nothing left to close
    sent = 0
    try:
        while True:
            following = loop.run_in_executor(None, request_vars.run, _next_chunk, chunks)
            await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                logger.info("streamed answer abandoned by the client", extra={"chunks_sent": sent})
                return
            try:
                chunk = following.result()
            except Exception as exc:
                # The status is sent: the answer can only be cut short. No last chunk: the client sees an
                # incomplete body, never a whole one (uvicorn closes the connection).
                finished = True
                logger.error(
                    "streamed answer failed after it began; cut short",
                    extra={"error_type": type(exc).__name__, "chunks_sent": sent},
                )
                return
            following = None
            if chunk is _END:
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if chunk:
                await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
                sent += 1
    finally:
        gone.cancel()
        if not finished:
            # The client went away (or the send failed): the chunk being made is waited for (a running
            # generator cannot be closed), then the body closed, which stops the work behind it.
            if following is not None:
                await asyncio.gather(following, return_exceptions=True)
            await loop.run_in_executor(None, request_vars.run, _close, chunks)


def _next_chunk(chunks: Iterator[bytes]) -> bytes | object:
    return next(chunks, _END)


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if callable(close):
        close()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _send_whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _answer_headers(answer: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The answer's headers as API Gateway merges them: every value of multiValueHeaders, then headers not in it."""
    pairs: list[tuple[bytes, bytes]] = []
    multi = answer.get("multiValueHeaders") or {}
    for name, values in multi.items():
        pairs.extend((name.lower().encode("latin-1"), str(value).encode("latin-1")) for value in values)
    named = {name.lower() for name in multi}
    for name, value in (answer.get("headers") or {}).items():
        if name.lower() not in named:
            pairs.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    # The length is this app's to state (a streamed body has none: it is sent chunked).
    return [(name, value) for name, value in pairs if name not in (b"content-length", b"transfer-encoding")]


def _answer_body(answer: dict[str, Any]) -> bytes:
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _log_pass_through(body: bytes) -> None:
    """An event that is not an HTTP request: answered {} at once. Its top-level keys are logged, once per shape,
    to learn what arrives (e.g. the completion invocation other runtimes report after a stream); never its body."""
    try:
        found = json.loads(body) if body else None
    except ValueError:
        found = None
    keys = tuple(sorted(found)) if isinstance(found, dict) else (type(found).__name__,)
    if keys not in _seen_pass_through:
        _seen_pass_through.add(keys)
        logger.info("a non-HTTP event reached the streaming function", extra={"event_keys": list(keys)})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up or tear down (run.sh turns lifespan off; a server that sends it gets an answer)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
