"""http_kit/asgi.py on a real uvicorn on loopback, as run.sh serves it, driven by an HTTP client over the wire.

The handlers here are toys that answer as the doors do (a proxy dict, a body handed over with
http_kit.streaming.hand_over); what is under test is the adapter's request turned into the event, and the answer
turned into HTTP: chunk by chunk, cut short on a failure, closed when the client goes away.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
import uvicorn
from aws_lambda_powertools import Logger

from speech_common.http_kit import asgi
from speech_common.http_kit.asgi import asgi_app
from speech_common.http_kit.streaming import hand_over

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@contextmanager
def served(handler: Handler) -> Iterator[str]:
    """The handler's ASGI app on uvicorn (run.sh's options) on a loopback port; yields its base URL."""
    config = uvicorn.Config(
        asgi_app(handler),
        http="h11",
        loop="asyncio",
        lifespan="off",
        ws="none",
        interface="asgi3",
        access_log=False,
        log_level="critical",
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def answer(status: int = 200, body: str = "", content_type: str = "application/json") -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type},
        "multiValueHeaders": {"X-Speech-Engine": ["openai"]},
        "body": body,
        "isBase64Encoded": False,
    }


def test_a_handed_over_body_is_sent_chunk_by_chunk_as_it_is_made() -> None:
    # Given a handler whose route hands over a body that makes its second chunk only once the client has the first
    client_has_first = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield b"first "
        assert client_has_first.wait(5), "the first chunk was not sent before the second was made"
        yield b"second"

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        hand_over(chunks())
        return answer(200, content_type="audio/mpeg")

    # When the client reads the answer as it comes
    with served(handler) as url, httpx2.stream("POST", f"{url}/v1/audio/speech", content=b"{}") as response:
        received = []
        for chunk in response.iter_raw():
            received.append(chunk)
            client_has_first.set()
        # Then the first chunk arrived alone, before the second was made, and then the second: the whole body
        assert received[0] == b"first " and b"".join(received) == b"first second"
        # And the status and headers are the handler's, the body chunked (no length: it was not known)
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["x-speech-engine"] == "openai"
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"


def test_a_whole_answer_is_sent_as_is_its_base64_body_decoded() -> None:
    # Given a handler that answers 201 with a binary body, base64-encoded as API Gateway's proxy format wants it
    audio = bytes(range(256))

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            **answer(201, content_type="audio/wav"),
            "body": base64.b64encode(audio).decode(),
            "isBase64Encoded": True,
        }

    # When it is asked
    with served(handler) as url:
        response = httpx2.post(f"{url}/v1/audio/speech", content=b"{}")
    # Then the client gets the bytes themselves, with their length, the status and the headers
    assert response.status_code == 201 and response.content == audio
    assert response.headers["content-length"] == "256"
    assert response.headers["content-type"] == "audio/wav"


def test_the_event_and_context_are_rebuilt_from_the_adapter_s_request() -> None:
    # Given a handler that keeps its event and context, decorated as the functions' are (Powertools' Logger reads
    # the context's function name, memory, ARN and request id)
    seen: dict[str, Any] = {}

    @Logger(service="asgi-test").inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.update(event=event, context=context, remaining=context.get_remaining_time_in_millis())
        return answer(200, '{"ok": true}')

    # And the headers the Lambda Web Adapter adds: API Gateway's requestContext (as aws_lambda_events serialises
    # it: the authorizer's keys flat) and lambda_runtime's Context
    request_context = {
        "accountId": "123456789012",
        "resourcePath": "/v1/audio/speech",
        "stage": "Prod",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "path": "/Prod/v1/audio/speech",
        "httpMethod": "POST",
        "requestTimeEpoch": 1_765_000_000_000,
        "identity": {"sourceIp": "203.0.113.9", "apiKeyId": "key-id-1"},
        "authorizer": {"principalId": "caller", "apiKeyId": "key-id-1"},
    }
    deadline_ms = int(time.time() * 1000) + 60_000
    lambda_context = {
        "request_id": "9f3c1e0a-0000-4000-8000-000000000001",
        "deadline": deadline_ms,
        "invoked_function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:speech-stream",
        "xray_trace_id": None,
        "client_context": None,
        "identity": None,
        "env_config": {
            "function_name": "speech-stream",
            "memory": 1024,
            "version": "7",
            "log_stream": "2026/12/05/[7]abc",
            "log_group": "/aws/lambda/speech-stream",
        },
    }
    body = b'{"input": "hi", "voice": "alloy"}'
    # When a request comes through the adapter with a query, repeated headers and a body
    with served(handler) as url:
        response = httpx2.post(
            f"{url}/v1/audio/speech?a=1&a=2&empty=",
            content=body,
            headers=[
                ("Content-Type", "application/json"),
                ("X-Api-Key", "sk-test"),
                ("Accept", "audio/mpeg"),
                ("Accept", "*/*"),
                ("x-amzn-request-context", json.dumps(request_context)),
                ("x-amzn-lambda-context", json.dumps(lambda_context)),
            ],
        )
    assert response.status_code == 200
    event, context = seen["event"], seen["context"]
    # Then the event is API Gateway's REST proxy event: method, path, query (last value and every value)
    assert (event["httpMethod"], event["path"], event["resource"]) == (
        "POST",
        "/v1/audio/speech",
        "/v1/audio/speech",
    )
    assert event["queryStringParameters"] == {"a": "2", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "empty": [""]}
    # And the headers, each repeated one with every value, without the adapter's two context headers
    assert event["headers"]["x-api-key"] == "sk-test"
    assert event["multiValueHeaders"]["accept"] == ["audio/mpeg", "*/*"]
    assert not {"x-amzn-request-context", "x-amzn-lambda-context"} & {
        name.lower() for name in event["headers"]
    }
    # And the body base64-encoded, as API Gateway sends a binary one
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
    # And the requestContext is API Gateway's, as the adapter forwarded it
    assert event["requestContext"] == request_context
    # And the Lambda context is the invocation's: its request id, ARN, function, memory, logs and deadline
    assert context.aws_request_id == "9f3c1e0a-0000-4000-8000-000000000001"
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:speech-stream"
    assert (context.function_name, context.function_version, context.memory_limit_in_mb) == (
        "speech-stream",
        "7",
        1024,
    )
    assert (context.log_group_name, context.log_stream_name) == (
        "/aws/lambda/speech-stream",
        "2026/12/05/[7]abc",
    )
    assert 50_000 < seen["remaining"] <= 60_000


def test_a_plain_request_gets_a_made_up_context_with_the_function_s_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the function's timeout in the environment (as SAM local names it), and no adapter in front
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_TIMEOUT", "120")
    seen: dict[str, Any] = {}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.update(event=event, context=context, remaining=context.get_remaining_time_in_millis())
        return answer(200, "{}")

    # When a plain HTTP request comes, without a body
    before_ms = int(time.time() * 1000)
    with served(handler) as url:
        assert httpx2.post(f"{url}/v1/audio/transcriptions").status_code == 200
    event, context = seen["event"], seen["context"]
    # Then its requestContext says what the code reads: a stage, the request id, when it came, from where
    received = event["requestContext"]
    assert received["stage"] and received["requestId"] == context.aws_request_id
    assert before_ms <= received["requestTimeEpoch"] <= int(time.time() * 1000)
    assert received["identity"]["sourceIp"] == "127.0.0.1"
    # And it has no body, and no query
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None
    # And the invocation may run for the function's timeout
    assert 110_000 < seen["remaining"] <= 120_000


def test_a_body_that_fails_after_it_began_is_cut_short_never_ended_as_whole() -> None:
    # Given a handler whose handed-over body fails after its first chunk
    def chunks() -> Iterator[bytes]:
        yield b"RIFF....WAVE"
        raise RuntimeError("the upstream went away")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        hand_over(chunks())
        return answer(200, content_type="audio/wav")

    # When the client reads it
    received = []
    with served(handler) as url, httpx2.stream("POST", f"{url}/v1/audio/speech", content=b"{}") as response:
        assert response.status_code == 200
        # Then it gets the first chunk, then an error: the body ended without its last chunk
        with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
            for chunk in response.iter_raw():
                received.append(chunk)
    assert b"".join(received) == b"RIFF....WAVE"


def test_a_client_that_goes_away_has_the_body_closed() -> None:
    # Given a handler whose body never ends by itself and notes when it is closed
    closed = threading.Event()

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                time.sleep(0.01)
                yield b"audio"
        finally:
            closed.set()

    bodies: list[Iterator[bytes]] = []  # held here: the garbage collector would close an unreferenced one

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        bodies.append(chunks())
        hand_over(bodies[-1])
        return answer(200, content_type="audio/pcm")

    with served(handler) as url:
        # When the client reads a chunk, then closes the connection
        with httpx2.stream("POST", f"{url}/v1/audio/speech", content=b"{}") as response:
            assert next(response.iter_raw())
        # Then the body is closed (its generator's finally ran), so that the work behind it stops
        assert closed.wait(5)


def test_pass_through_events_are_answered_at_once_and_their_keys_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a handler that must not be called, and the adapter's log lines recorded
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise AssertionError("a pass-through event reached the handler")

    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(asgi.logger, "info", lambda message, extra: logged.append((message, extra)))
    monkeypatch.setattr(asgi, "_seen_pass_through", set())
    event = {"requestContext": {"apiKey": "sk-never-logged"}, "status": "COMPLETED", "body": "spoken words"}
    # When the Lambda Web Adapter POSTs a non-HTTP event to /events, twice
    with served(handler) as url:
        answers = [httpx2.post(f"{url}/events", content=json.dumps(event)) for _ in range(2)]
    # Then each is answered 200 {} without the handler
    assert [(a.status_code, a.json()) for a in answers] == [(200, {}), (200, {})]
    # And its top-level keys are logged once, never its values
    assert logged == [(logged[0][0], {"event_keys": ["body", "requestContext", "status"]})]
    assert "sk-never-logged" not in str(logged) and "spoken words" not in str(logged)


def test_the_readiness_path_answers_without_the_handler() -> None:
    # Given a handler that must not be called (building a door is not needed to be ready)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise AssertionError("the readiness check reached the handler")

    # When the Lambda Web Adapter polls the readiness path
    with served(handler) as url:
        response = httpx2.get(f"{url}{asgi.READINESS_PATH}")
    # Then the app answers it, healthy (the adapter takes 100-499 by default)
    assert response.status_code == 200


def test_a_handler_that_raises_is_answered_as_a_failed_lambda() -> None:
    # Given a handler that raises (the resolver answers every error it knows: this would be a bug)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ValueError("bug")

    # When it is asked
    with served(handler) as url:
        response = httpx2.post(f"{url}/v1/audio/speech", content=b"{}")
    # Then the client gets what API Gateway answers for a failed Lambda: 502, JSON, nothing of the error
    assert response.status_code == 502 and response.json() == {"message": "Internal server error"}
