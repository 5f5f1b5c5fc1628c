"""The local server's mechanics over real HTTP, against a test-only template (tests/e2e/fixtures).

The speech handlers are not involved: routes, warm workers, crashes, timeouts, size limits and the API's
GatewayResponses are checked with a handler whose behaviour is chosen by the path, and which reports its worker's
pid, its invocation count and the number of imports of its module in response headers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from local import engine_choice
from tests.helpers import ROOT
from tests.local_server import (
    FIXTURES,
    MECHANICS_TEMPLATE,
    SPEECH_TEMPLATE,
    STOP_TIMEOUT_S,
    LocalServer,
    Reply,
    StartServer,
    running_server,
    server_env,
)

pytestmark = pytest.mark.e2e

INTERNAL_ERROR = {"message": "Internal server error"}
MiB = 1024 * 1024
# One API with GatewayResponses (CustomisedApi), one without (PlainApi).
GATEWAY_RESPONSES_TEMPLATE = FIXTURES / "gateway_responses.yaml"


@pytest.fixture(scope="module")
def customised_server(serve: StartServer) -> LocalServer:
    return serve(GATEWAY_RESPONSES_TEMPLATE, args=["--warm-containers", "LAZY"])


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_exit(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_exists(pid):
            return True
        time.sleep(0.05)
    return not pid_exists(pid)


def worker_pid(reply: Reply) -> int:
    return int(reply.headers["X-Worker-Pid"])


def invocations(reply: Reply) -> int:
    return int(reply.headers["X-Invocations"])


def imports(reply: Reply) -> int:
    return int(reply.headers["X-Imports"])


def ping(server: LocalServer, path: str = "/ping") -> Reply:
    reply = server.post(path)
    assert reply.status == 200, reply.body
    return reply


def post_json(server: LocalServer, body: bytes) -> Reply:
    return server.post("/api/tts/", body, headers={"Content-Type": "application/json"})


def multipart(size: int) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body (a binary media type of the API) carrying `size` bytes of file."""
    head = b'--b\r\nContent-Disposition: form-data; name="audio"; filename="a.bin"\r\n\r\n'
    body = head + b"\x00" * size + b"\r\n--b--\r\n"
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


def test_start_up_line_names_the_local_engine_when_no_key_is_configured(
    mechanics_server: LocalServer,
) -> None:
    # Given a server started without OPENAI_API_KEY or OPENAI_SECRET_NAME
    # When it has started
    engine_lines = [line for line in mechanics_server.stdout.splitlines() if line.startswith("Engine:")]
    # Then it said once, on stdout, that the local engine serves requests
    assert len(engine_lines) == 1
    assert engine_lines[0].startswith("Engine: local")
    assert "STT_MODEL_ROUTES=whisper-1=local:local" in engine_lines[0]


@pytest.mark.parametrize("path", ["/ping", "/ping/", "/slashed", "/slashed/"])
def test_routes_are_served_with_and_without_trailing_slash(mechanics_server: LocalServer, path: str) -> None:
    # Given /ping defined without and /slashed/ with a trailing slash
    # When either is called either way
    reply = mechanics_server.post(path)
    # Then the function answers, with the path as the client sent it
    assert reply.status == 200, reply.body
    assert reply.json()["path"] == path


def test_unknown_route_answers_like_api_gateway(mechanics_server: LocalServer) -> None:
    # Given a template whose Api declares no GatewayResponses
    # When a path no route serves is called
    reply = mechanics_server.post("/nowhere")
    # Then API Gateway's own default answer: 403 Missing Authentication Token
    assert reply.status == 403
    assert reply.json() == {"message": "Missing Authentication Token"}


def test_handler_runs_with_its_layer_environment_and_lambda_context(mechanics_server: LocalServer) -> None:
    # Given a server started with user variables (one overriding a template variable) and no OpenAI key
    # When the function is called
    body = ping(mechanics_server).json()
    # Then its layer was importable, and its environment is the template's plus the user's
    assert body["layer"] == "from-the-layer"
    env = body["env"]
    assert env["FROM_TEMPLATE"] == "template-value"
    assert (
        env["OVERRIDDEN_BY_USER"] == "user-value"
    )  # the shell overrides a template variable, as in sam local
    assert env["USER_ONLY"] == "user-only"
    assert env["STT_MODEL_ROUTES"] == "whisper-1=local:local"
    assert env["TTS_MODEL_ROUTES"] == "tts-1=local:local;tts-1-hd=local:local"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "MechanicsFunction"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "2"
    # And a context like the Python runtime's
    context = body["context"]
    assert context["function_name"] == "MechanicsFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(":function:MechanicsFunction")
    assert context["aws_request_id"]
    assert 0 < context["remaining_ms"] <= 2000


def test_an_env_json_in_sams_format_sets_the_functions_environment(tmp_path: Path) -> None:
    # Given an env.json as `sam local start-api --env-vars` reads it: a "Parameters" section for every function
    # and a section for one function by its logical id, which wins
    env_json = tmp_path / "env.json"
    env_json.write_text(
        json.dumps(
            {
                "Parameters": {"FROM_TEMPLATE": "from-parameters", "USER_ONLY": "undeclared-global"},
                "MechanicsFunction": {
                    "FROM_TEMPLATE": "from-function-section",
                    "STT_MODEL_ROUTES": "whisper-1=x:y",
                },
            }
        )
    )
    # When the server is started with it (make serve ENV_VARS=env.json)
    with running_server(
        MECHANICS_TEMPLATE, tmp_path, server_env(), ["--env-vars", str(env_json), "--warm-containers", "LAZY"]
    ) as server:
        env = ping(server).json()["env"]
    # Then the function section wins over Parameters, which wins over the template
    assert env["FROM_TEMPLATE"] == "from-function-section"
    # And a variable the template does not declare reaches the function too (sam local would drop it)
    assert env["USER_ONLY"] == "undeclared-global"
    # And the file's routes win over the local engine's default routes
    assert env["STT_MODEL_ROUTES"] == "whisper-1=x:y"
    assert env["OVERRIDDEN_BY_USER"] == "template-value"


def test_each_request_gets_its_own_request_id_and_time(mechanics_server: LocalServer) -> None:
    # Given a running server
    contexts, sent = [], []
    # When two requests are sent a second apart
    for _ in range(2):
        time.sleep(1.0)
        sent.append(time.time())
        contexts.append(ping(mechanics_server).json()["requestContext"])
    # Then each event has its own request id (Powertools' correlation id) and the time it was received, in
    # milliseconds and as API Gateway's requestTime, not the server's start time
    first, second = contexts
    assert first["requestId"] != second["requestId"]
    assert 0.8 < (second["requestTimeEpoch"] - first["requestTimeEpoch"]) / 1000 < 5
    for context, at in zip(contexts, sent, strict=True):
        assert abs(context["requestTimeEpoch"] / 1000 - at) < 2
        stamped = datetime.strptime(context["requestTime"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        assert abs(stamped - context["requestTimeEpoch"] / 1000) < 1


def test_the_gateway_deadline_and_correlation_id_are_each_requests_own(tmp_path: Path) -> None:
    # Given template.yaml served with an 8 s gateway timeout (so that its deadline is quick to reach), warm
    env = server_env(GATEWAY_TIMEOUT_SECONDS="8", UPSTREAM_BUDGET_SECONDS="5")
    with running_server(SPEECH_TEMPLATE, tmp_path, env) as server:
        started = time.monotonic()
        assert post_json(server, b'{"text": "Hello"}').status == 200
        # When a request comes 6.5 s after the server started, and two refused ones after it
        time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))
        late = post_json(server, b'{"text": "Hello"}')
        refused = [server.post("/api/tts/", b"x", headers={"Content-Type": "text/plain"}) for _ in range(2)]
        log = server.log
    # Then the late request still had its own 8 s (a deadline counted from the server's start had passed)
    assert late.status == 200, late.body
    assert [reply.status for reply in refused] == [400, 400]
    # And each refused request was logged under its own correlation id
    refusals = [json.loads(line) for line in log.splitlines() if '"request refused"' in line]
    assert len({line["correlation_id"] for line in refusals[-2:]}) == 2


def test_warm_worker_serves_later_requests_without_reimporting(mechanics_server: LocalServer) -> None:
    # Given a worker that has served one request
    first = ping(mechanics_server)
    # When more requests follow, one at a time
    later = [ping(mechanics_server) for _ in range(3)]
    # Then the same process serves them, and the handler module is not imported again
    assert {worker_pid(reply) for reply in later} == {worker_pid(first)}
    assert [invocations(reply) for reply in later] == [invocations(first) + n for n in (1, 2, 3)]
    assert {imports(reply) for reply in later} == {imports(first)}


def test_handler_exception_answers_502_and_the_worker_stays_warm(mechanics_server: LocalServer) -> None:
    # Given a warm worker
    before = ping(mechanics_server)
    # When the handler raises
    reply = mechanics_server.post("/boom")
    # Then API Gateway's answer to a function error (sam local would say 500)
    assert reply.status == 502
    assert reply.json() == INTERNAL_ERROR
    assert "RuntimeError: boom" in mechanics_server.log
    # And, as in Lambda, the execution environment survives a handled exception
    after = ping(mechanics_server)
    assert worker_pid(after) == worker_pid(before)
    assert imports(after) == imports(before)


def test_crashed_worker_answers_502_and_is_restarted(mechanics_server: LocalServer) -> None:
    # Given a warm worker
    before = ping(mechanics_server)
    # When the handler kills its process
    reply = mechanics_server.post("/crash")
    # Then 502, the process is gone, and a new one (a new import) serves the next request
    assert reply.status == 502
    assert reply.json() == INTERNAL_ERROR
    assert wait_for_exit(worker_pid(before))
    after = ping(mechanics_server)
    assert worker_pid(after) != worker_pid(before)
    assert imports(after) > imports(before)


def test_function_timeout_answers_504_and_replaces_the_worker(mechanics_server: LocalServer) -> None:
    # Given a warm worker of a function whose Timeout is 2 s
    before = ping(mechanics_server)
    # When the handler runs past the function's Timeout (2 s), well inside the 29 s integration timeout
    started = time.monotonic()
    reply = mechanics_server.post("/sleep?seconds=20")
    elapsed = time.monotonic() - started
    # Then the request times out with 504, after about the Timeout
    assert reply.status == 504
    assert reply.json() == {"message": "Endpoint request timed out"}
    assert 1.5 < elapsed < 10
    assert "timed out after 2 seconds" in mechanics_server.log
    # And the timed-out worker was stopped and another serves the next request
    assert wait_for_exit(worker_pid(before))
    assert worker_pid(ping(mechanics_server)) != worker_pid(before)


def test_integration_timeout_answers_504_and_replaces_the_worker(mechanics_server: LocalServer) -> None:
    # Given a warm worker of a function (Timeout 10 s) behind a route with a 1 s integration timeout
    before = ping(mechanics_server, "/gateway-timeout")
    # When the handler outlives the route's integration timeout (TimeoutInMillis 1000) but not its function's
    started = time.monotonic()
    reply = mechanics_server.post("/gateway-timeout?seconds=20")
    elapsed = time.monotonic() - started
    # Then API Gateway gives up with 504
    assert reply.status == 504
    assert reply.json() == {"message": "Endpoint request timed out"}
    assert 0.8 < elapsed < 8
    # And the worker was replaced
    assert wait_for_exit(worker_pid(before))
    assert worker_pid(ping(mechanics_server, "/gateway-timeout")) != worker_pid(before)


def test_body_over_10_mb_answers_413_without_invoking(mechanics_server: LocalServer) -> None:
    # Given a warm worker and a body a little over 10 MiB (10 MiB of file, with the multipart framing)
    before = ping(mechanics_server)
    body, headers = multipart(10 * MiB)
    # When the body is over API Gateway's 10 MB, with a Content-Length or chunked
    for sent in (body, iter([body[: 4 * MiB], body[4 * MiB :]])):
        reply = mechanics_server.post("/echo", sent, headers=headers)  # type: ignore[arg-type]
        # Then API Gateway's own plain-text 413
        assert reply.status == 413
        assert reply.body == b"HTTP content length exceeded 10485760 bytes."
    # And the function was not invoked
    assert invocations(ping(mechanics_server)) == invocations(before) + 1


def test_event_over_lambda_6_mb_answers_500_without_invoking(mechanics_server: LocalServer) -> None:
    before = ping(mechanics_server)
    # Given 5 MB of binary upload: under API Gateway's 10 MB, but base64 in the event makes it over 6 MB
    body, headers = multipart(5 * MiB)
    # When it is sent
    reply = mechanics_server.post("/echo", body, headers=headers)
    # Then the Lambda API refuses the invocation and API Gateway answers 500
    assert reply.status == 500
    assert reply.json() == INTERNAL_ERROR
    assert "Request must be smaller than 6291456 bytes" in mechanics_server.log
    assert invocations(ping(mechanics_server)) == invocations(before) + 1


def test_binary_body_under_the_limit_reaches_the_handler_base64(mechanics_server: LocalServer) -> None:
    # Given a multipart body (a binary media type of the Api) of 4 MiB: about 5.6 MB once base64-encoded
    body, headers = multipart(4 * MiB)
    # When it is sent
    reply = mechanics_server.post("/echo", body, headers=headers)
    # Then the handler gets exactly those bytes, base64-encoded
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "isBase64Encoded": True,
    }


# Bytes that are not UTF-8: the start of an mp3 frame, then a Latin-1 "é".
NOT_UTF8 = b"\xff\xfb\x90\x00 caf\xe9"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/octet-stream",
        "audio/mpeg",
        "text/plain",
        "multipart/mixed; boundary=x",
        "application/x-www-form-urlencoded",
    ],
)
def test_a_body_that_is_not_utf8_reaches_the_handler_base64(
    mechanics_server: LocalServer, content_type: str | None
) -> None:
    # Given a body that is not UTF-8, of a media type that is not one of the API's binary media types
    headers = {} if content_type is None else {"Content-Type": content_type}
    # When it is sent (sam local would answer 502 here)
    reply = mechanics_server.post("/echo", NOT_UTF8, headers=headers)
    # Then the handler gets exactly those bytes, base64-encoded, and judges them by their Content-Type
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "bytes": len(NOT_UTF8),
        "sha256": hashlib.sha256(NOT_UTF8).hexdigest(),
        "isBase64Encoded": True,
    }


def test_a_utf8_text_body_still_reaches_the_handler_as_text(mechanics_server: LocalServer) -> None:
    # Given a UTF-8 body of a text media type / When it is sent
    body = "café ünïcode".encode()
    reply = mechanics_server.post("/echo", body, headers={"Content-Type": "text/plain; charset=utf-8"})
    # Then it is in the event as text, as API Gateway passes it
    assert reply.status == 200, reply.body
    assert reply.json()["isBase64Encoded"] is False
    assert reply.json()["sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        ('{"text": "caf\xe9"}'.encode("latin-1"), {}, "malformed_body"),
        (NOT_UTF8, {"Content-Type": "application/problem+json"}, "malformed_body"),
        (
            '{"text": "hi"}'.encode("utf-16"),
            {"Content-Type": "application/json; charset=utf-16"},
            "unsupported_content_type",
        ),
        (gzip.compress(b'{"text": "hi"}'), {"Content-Encoding": "gzip"}, "unsupported_content_type"),
    ],
    ids=["latin-1", "+json", "utf-16", "gzip"],
)
def test_a_json_body_that_is_not_utf8_answers_400_without_invoking(
    mechanics_server: LocalServer, body: bytes, headers: dict[str, str], code: str
) -> None:
    # Given a JSON body that is not UTF-8 (JSON must be, RFC 8259)
    before = ping(mechanics_server)
    # When it is sent
    reply = mechanics_server.post("/echo", body, headers={"Content-Type": "application/json", **headers})
    # Then a 400 in the API's error shape says what is wrong, and the function was not invoked
    assert reply.status == 400, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    answer = reply.json()
    assert set(answer) == {"detail", "code"}
    assert answer["code"] == code
    assert invocations(ping(mechanics_server)) == invocations(before) + 1


def test_response_over_lambda_6_mb_answers_502(mechanics_server: LocalServer) -> None:
    # Given a handler asked for a response just under, then one just over Lambda's 6 MB response limit
    # When each is requested
    fits = mechanics_server.post("/big?bytes=6200000")
    too_big = mechanics_server.post("/big?bytes=6300000")
    # Then the first is delivered and the second is API Gateway's 502
    assert fits.status == 200
    assert len(fits.json()["filler"]) == 6200000
    assert too_big.status == 502
    assert too_big.json() == INTERNAL_ERROR


def default_5xx(reply: Reply, status: int, response_type: str = "DEFAULT_5XX") -> None:
    """The fixture's DEFAULT_5XX gateway response, rendered for API Gateway's "Internal server error" of a
    response type the Api does not declare."""
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert uuid.UUID(body.pop("requestId"))
    assert body == {
        "detail": "Internal server error",
        "code": "gateway_error",
        "type": response_type,
        "stage": "test",
        "unknown": "",  # a $context variable the local server does not know renders empty
    }
    assert reply.headers["X-Gateway"] == "local"  # ResponseParameters: a literal


def test_unknown_route_answers_the_apis_missing_authentication_token_response(
    speech_server: LocalServer,
) -> None:
    # Given template.yaml, whose only API declares MISSING_AUTHENTICATION_TOKEN (404, JSON)
    # When a path, or a method, that no route serves is called
    for reply in (speech_server.post("/nowhere"), speech_server.request("GET", "/api/tts/")):
        # Then the declared answer, not API Gateway's default 403
        assert reply.status == 404, reply.body
        assert reply.headers["Content-Type"] == "application/json"
        assert reply.json()["code"] == "not_found"
        assert reply.json()["detail"]


def test_unknown_route_of_several_apis_keeps_the_aws_default(customised_server: LocalServer) -> None:
    # Given two APIs served together, only one of them customised: an unknown route belongs to neither
    # When a path no route serves is called
    reply = customised_server.post("/nowhere")
    # Then API Gateway's own default 403, not the customised Api's answer
    assert reply.status == 403
    assert reply.json() == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("path", ["/boom", "/crash", "/malformed", "/big?bytes=6300000"])
def test_function_failure_answers_the_default_5xx_template(customised_server: LocalServer, path: str) -> None:
    # Given an Api whose DEFAULT_5XX declares a template, a literal header and one from the request
    # When the handler raises, crashes, returns no proxy response or a response over Lambda's 6 MB
    reply = customised_server.post(path, headers={"X-Trace": "trace-1"})
    # Then API Gateway's 502, with the API's DEFAULT_5XX template, headers and $context variables
    default_5xx(reply, 502)
    assert reply.headers["X-Trace"] == "trace-1"  # ResponseParameters: from the request's header


def test_rejected_invocation_answers_the_default_5xx_template(customised_server: LocalServer) -> None:
    # Given 5 MB of binary upload, over Lambda's 6 MB once base64-encoded in the event
    body, headers = multipart(5 * MiB)
    # When it is sent to a route of the customised Api
    reply = customised_server.post("/echo", body, headers=headers)
    # Then the Lambda API's refusal is API Gateway's 500, a failed integration in the DEFAULT_5XX template
    default_5xx(reply, 500, "INTEGRATION_FAILURE")
    assert "X-Trace" not in reply.headers  # a request header the request did not send


def test_body_over_10_mb_answers_the_request_too_large_template(customised_server: LocalServer) -> None:
    # Given an Api whose REQUEST_TOO_LARGE declares a JSON template, and a body over 10 MB
    body, headers = multipart(10 * MiB)
    for sent in (body, iter([body[: 4 * MiB], body[4 * MiB :]])):
        # When it is sent with a Content-Length, or chunked
        reply = customised_server.post("/echo", sent, headers=headers)  # type: ignore[arg-type]
        # Then the default status (413) with the declared JSON body, not the plain-text default
        assert reply.status == 413
        assert reply.headers["Content-Type"] == "application/json"
        assert reply.json() == {
            "detail": "The request body is larger than the API accepts (10 MB)",
            "code": "payload_too_large",
        }


def test_integration_timeout_answers_the_integration_timeout_template(customised_server: LocalServer) -> None:
    # Given an Api whose INTEGRATION_TIMEOUT declares a template, and a warm worker (so that the timeout is
    # the handler's, not the start-up's)
    ping(customised_server)
    # When the handler outlives the route's 1 s integration timeout
    reply = customised_server.post("/gateway-timeout?seconds=20")
    # Then the declared answer
    assert reply.status == 504
    assert reply.json() == {"detail": "Endpoint request timed out", "code": "gateway_timeout"}


@pytest.mark.parametrize("path", ["/plain/boom", "/plain/malformed"])
def test_a_route_of_an_api_without_gateway_responses_keeps_the_aws_defaults(
    customised_server: LocalServer, path: str
) -> None:
    # Given a route of the API that declares no GatewayResponses, next to one that does
    # When its handler fails (raises, or returns no proxy response)
    reply = customised_server.post(path)
    # Then API Gateway's default answer to a function failure
    assert reply.status == 502
    assert reply.json() == INTERNAL_ERROR
    assert "X-Gateway" not in reply.headers


def test_openai_engine_with_a_key_and_workers_stop_with_the_server(tmp_path: Path) -> None:
    # Given a user environment with an OpenAI key
    env = server_env(OPENAI_API_KEY="sk-test-not-a-real-key")
    with running_server(MECHANICS_TEMPLATE, tmp_path, env, ["--warm-containers", "LAZY"]) as server:
        # Then the start-up line names the openai engine, never the key
        assert [line for line in server.stdout.splitlines() if line.startswith("Engine:")] == [
            "Engine: openai (an OpenAI key is configured: OPENAI_API_KEY or OPENAI_SECRET_NAME)"
        ]
        assert "sk-test-not-a-real-key" not in server.stdout + server.log
        # And the workers keep the template's routes (none here) and see the key
        reply = ping(server)
        assert reply.json()["env"]["STT_MODEL_ROUTES"] is None
        pid = worker_pid(reply)
        assert pid_exists(pid)
    # When the server stops, its workers stop with it
    assert wait_for_exit(pid)


def test_user_set_routes_win_over_the_local_defaults(tmp_path: Path) -> None:
    # Given no OpenAI key and STT_MODEL_ROUTES set in the user's environment
    env = server_env(STT_MODEL_ROUTES="whisper-1=local:custom")
    with running_server(MECHANICS_TEMPLATE, tmp_path, env, ["--warm-containers", "LAZY"]) as server:
        # When the function reads its environment
        routes = ping(server).json()["env"]
        # Then the user's STT routes are kept, and only the TTS routes get the local engine's default
        assert routes["STT_MODEL_ROUTES"] == "whisper-1=local:custom"
        assert routes["TTS_MODEL_ROUTES"] == "tts-1=local:local;tts-1-hd=local:local"


@pytest.mark.parametrize(
    ("user_env", "expected"),
    [
        ({}, "local"),
        ({"OPENAI_API_KEY": "", "OPENAI_SECRET_NAME": ""}, "local"),
        ({"OPENAI_API_KEY": "sk-test"}, "openai"),
        ({"OPENAI_SECRET_NAME": "speech-api/openai"}, "openai"),
    ],
)
def test_engine_choice_follows_the_key_rule(user_env: dict[str, str], expected: str) -> None:
    # Given a user environment with or without (or with empty) key variables, and the real layer
    layer = str(ROOT / "layers" / "common")
    # When the engine is chosen (asked of speech_common.secrets.has_openai_key when a key variable is set)
    chosen = engine_choice.choose({"PATH": "/usr/bin:/bin", **user_env}, (layer,)).engine
    # Then only a non-empty key variable chooses openai
    assert chosen == expected


def test_code_change_restarts_the_worker_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    # Given a copy of the test template, served with a warm worker by a server that inherited SIGINT ignored
    # (as from `make serve &` in a script; explicit, so the test does not depend on how pytest was started)
    root = tmp_path / "app"
    shutil.copytree(MECHANICS_TEMPLATE.parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    handler = root / "mechanics" / "app.py"
    with running_server(
        root / "template.yaml",
        tmp_path,
        server_env(),
        ["--warm-containers", "LAZY"],
        ignored_signals=[signal.SIGINT],
    ) as server:
        before = worker_pid(ping(server))
        assert worker_pid(ping(server)) == before
        # When the handler's code is edited
        handler.write_text(handler.read_text() + "\nEDITED = True\n")
        # Then the next request is served by a new worker with the new code
        after = worker_pid(ping(server))
        assert after != before
        assert wait_for_exit(before)
        # And Ctrl+C stops the server and its workers
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=10) == 0
    assert wait_for_exit(after)


def test_sigterm_stops_everything_like_ctrl_c_whatever_was_inherited(tmp_path: Path) -> None:
    # Given a server with a warm worker, started with both SIGINT and SIGTERM ignored
    with running_server(
        MECHANICS_TEMPLATE,
        tmp_path,
        server_env(),
        ["--warm-containers", "LAZY"],
        ignored_signals=[signal.SIGINT, signal.SIGTERM],
    ) as server:
        worker = worker_pid(ping(server))
        # When it gets SIGTERM (as from `kill`, a container runtime or a process manager)
        server.proc.send_signal(signal.SIGTERM)
        # Then it stops cleanly, its workers with it
        assert server.proc.wait(timeout=10) == 0
    assert wait_for_exit(worker)


@pytest.mark.parametrize("slash", ["", "/"])
def test_speech_routes_are_served_with_and_without_trailing_slash(
    speech_server: LocalServer, slash: str
) -> None:
    # Given template.yaml served with no key (so nothing leaves the machine)
    assert speech_server.stdout.startswith("Engine: local")
    # When each route is called either way
    stt = speech_server.post(
        f"/api/stt{slash}", b"--b--\r\n", headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    tts = speech_server.post(
        f"/api/tts{slash}", b'{"text": "Hello"}', headers={"Content-Type": "application/json"}
    )
    # Then the handlers answer (a 400 for the upload without a file), not the gateway's 403
    assert stt.status == 400, stt.body
    assert tts.status == 200, tts.body
    assert tts.json()["audio_base64"]


@pytest.mark.parametrize(
    ("path", "body", "content_type", "code"),
    [
        ("/api/tts/", '{"text": "caf\xe9"}'.encode("latin-1"), "application/json", "malformed_body"),
        (
            "/api/tts/",
            '{"text": "hi"}'.encode("utf-16"),
            "application/json; charset=utf-16",
            "unsupported_content_type",
        ),
        ("/api/tts/", NOT_UTF8, "multipart/mixed; boundary=x", "unsupported_content_type"),
        ("/api/stt/", NOT_UTF8, None, "unsupported_content_type"),
        # curl -X POST .../api/stt/ --data-binary @hello.mp3 (curl's default Content-Type)
        ("/api/stt/", NOT_UTF8, "application/x-www-form-urlencoded", "unsupported_content_type"),
    ],
    ids=["json-latin-1", "json-utf-16", "multipart-mixed", "no-content-type", "curl-data-binary"],
)
def test_speech_routes_answer_a_body_that_is_not_utf8_with_a_400(
    speech_server: LocalServer, path: str, body: bytes, content_type: str | None, code: str
) -> None:
    # Given template.yaml served, and a body that is not UTF-8 (sam local answers all of these 502)
    headers = {} if content_type is None else {"Content-Type": content_type}
    # When it is sent to a speech route
    reply = speech_server.post(path, body, headers=headers)
    # Then a 400 in the API's {"detail", "code"} shape
    assert reply.status == 400, reply.body
    answer = reply.json()
    assert set(answer) == {"detail", "code"}
    assert answer["code"] == code


def test_speech_route_answers_a_gzipped_json_body_with_a_400(speech_server: LocalServer) -> None:
    # Given a gzip-compressed JSON body (the template sets no MinimumCompressionSize, so none is decompressed)
    body = gzip.compress(b'{"text": "Hello"}')
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    # When it is sent / Then a 400 says to send it uncompressed
    reply = speech_server.post("/api/tts/", body, headers=headers)
    assert reply.status == 400, reply.body
    assert reply.json() == {
        "detail": "Content-Encoding gzip is not accepted: send the body uncompressed",
        "code": "unsupported_content_type",
    }


# Exactly at http.server's limits, and nothing after: the server reads all that was sent before it answers (unread
# bytes would make its close a reset, which can swallow the answer).
MAX_LINE = 65536
MALFORMED = {
    "request line too long": (b"GET /" + b"a" * (MAX_LINE - 4), 414, "Request URI too long"),
    "header line too long": (
        b"POST /api/tts/ HTTP/1.1\r\nX-Big: " + b"a" * (MAX_LINE - 6),
        431,
        "Request header fields too large",
    ),
    "over 100 headers": (
        b"POST /api/tts/ HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % n for n in range(101)),
        431,
        "Request header fields too large",
    ),
    "malformed request line": (
        b"POST /api/tts/ extra HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        "Malformed HTTP request",
    ),
    "bad chunk size": (
        b"POST /api/tts/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
        "The request body ended early: a malformed chunk, or fewer bytes than its Content-Length",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_http_is_answered_with_the_apis_gateway_response(
    speech_server: LocalServer, case: str
) -> None:
    # Given template.yaml, whose DEFAULT_4XX and DEFAULT_5XX render {"detail", "code": "gateway_error"}
    data, status, detail = MALFORMED[case]
    # When a request the HTTP server cannot take is sent
    reply = speech_server.raw(data)
    # Then its refusal is that gateway response (JSON), not the development server's HTML page
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"detail": detail, "code": "gateway_error"}


def test_a_body_shorter_than_its_content_length_is_answered_with_the_gateway_response(
    speech_server: LocalServer,
) -> None:
    # Given a request whose body stops 93 bytes short of its Content-Length, its sender done
    data = b'POST /api/tts/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text"'
    # When it is sent
    reply = speech_server.raw(data, end_request=True)
    # Then a 400 gateway response in the API's shape
    assert reply.status == 400, reply.body
    assert reply.json() == {
        "detail": "The request body ended early: a malformed chunk, or fewer bytes than its Content-Length",
        "code": "gateway_error",
    }


def test_doubled_slashes_inside_a_path_match_no_route_and_are_not_redirected(
    speech_server: LocalServer,
) -> None:
    # Given template.yaml's POST /api/tts
    # When it is called as //api//tts// (werkzeug would redirect it, 308, in HTML)
    inner = speech_server.post(
        "//api//tts//", b'{"text": "Hello"}', headers={"Content-Type": "application/json"}
    )
    # Then, as on API Gateway, an empty path segment matches no resource: the API's 404, in its shape
    assert inner.status == 404, inner.body
    assert inner.json()["code"] == "not_found"
    # And a doubled leading slash alone still reaches the route, as API Gateway takes it
    leading = speech_server.post(
        "//api/tts", b'{"text": "Hello"}', headers={"Content-Type": "application/json"}
    )
    assert leading.status == 200, leading.body


def test_malformed_http_to_an_api_without_gateway_responses_gets_aws_default(
    mechanics_server: LocalServer,
) -> None:
    # Given a template whose Api declares no GatewayResponses
    data, status, detail = MALFORMED["over 100 headers"]
    # When a request with too many headers is sent
    reply = mechanics_server.raw(data)
    # Then API Gateway's default JSON answer
    assert reply.status == status, reply.body
    assert reply.json() == {"message": detail}
