"""Streamed routes under `make serve` (ResponseTransferMode: RESPONSE_STREAM), on the test-only template.

The test app (tests/e2e/fixtures/streamer) runs behind its start script, as the Lambda Web Adapter runs it on AWS;
the local server hands it each request as the adapter would and sends its answer on as it comes: pieces as they
are made, an answer that stops short cut short for the client too, the route's own integration timeout.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.local_server import FIXTURES, MECHANICS_TEMPLATE, LocalServer, running_server

pytestmark = pytest.mark.e2e

STREAMER_DIR = FIXTURES / "streamer"


@dataclass
class Streamed:
    status: int
    headers: http.client.HTTPMessage
    pieces: list[tuple[float, bytes]] = field(
        default_factory=list
    )  # (seconds since sent, bytes) as they came
    cut_short: bool = False  # the body ended without its proper end

    @property
    def body(self) -> bytes:
        return b"".join(piece for _, piece in self.pieces)


def stream(
    server: LocalServer, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Streamed:
    """POST, then read the answer piece by piece as it arrives, noting when each came."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        sent = time.monotonic()
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        result = Streamed(response.status, response.headers)
        try:
            while piece := response.read1(65536):
                result.pieces.append((time.monotonic() - sent, piece))
        except http.client.IncompleteRead:
            result.cut_short = True
        return result
    finally:
        conn.close()


def test_each_piece_reaches_the_client_as_the_app_sends_it(mechanics_server: LocalServer) -> None:
    # Given an app that sends 4 pieces 0.4 s apart / When the client reads its answer
    answer = stream(mechanics_server, "/streamed/stream?pieces=4&gap=0.4")
    # Then it is chunked and whole, and the pieces came as they were made, not all at the end
    assert answer.status == 200 and not answer.cut_short
    assert answer.headers["Transfer-Encoding"] == "chunked"
    assert answer.body.count(b"piece ") == 4
    first, last = answer.pieces[0][0], answer.pieces[-1][0]
    assert last - first >= 1.0, answer.pieces
    assert len(answer.pieces) >= 3
    # And the app's own headers came with it, its Date and Server renamed as API Gateway renames them
    assert answer.headers["Content-Type"] == "text/plain"
    assert answer.headers["x-amzn-Remapped-server"] == "uvicorn"


def test_server_sent_events_arrive_one_by_one(mechanics_server: LocalServer) -> None:
    # Given an app that sends three events 0.4 s apart / When the client reads them
    answer = stream(mechanics_server, "/streamed/sse?pieces=3&gap=0.4")
    # Then each event came on its own, as it was sent
    assert answer.headers["Content-Type"] == "text/event-stream"
    events = [piece for _, piece in answer.pieces]
    assert events == [f'data: {{"n": {n}}}\n\n'.encode() for n in range(3)]
    assert answer.pieces[-1][0] - answer.pieces[0][0] >= 0.7


def test_the_app_gets_the_request_as_the_lambda_web_adapter_hands_it_over(
    mechanics_server: LocalServer,
) -> None:
    # Given a request with a query, headers and a body that is not UTF-8
    payload = bytes(range(256))
    before_ms = time.time() * 1000
    reply = mechanics_server.post(
        "/streamed/echo?voice=alloy&voice=nova&x=a%20b",
        payload,
        headers={
            "Content-Type": "application/octet-stream",
            "X-Custom": "kept",
            "x-amzn-lambda-context": "forged",
        },
    )
    # When the app echoes what it received
    assert reply.status == 200, reply.body
    echo = reply.json()
    # Then the path is the route's, without the stage, with the query as sent
    assert echo["method"] == "POST" and echo["path"] == "/streamed/echo"
    assert echo["query"] == "voice=alloy&voice=nova&x=a+b"
    # And the headers and the body's bytes are the client's
    assert echo["headers"]["x-custom"] == ["kept"]
    assert base64.b64decode(echo["body_base64"]) == payload
    # And the API Gateway request context is the event's, as JSON in x-amzn-request-context
    context = echo["request_context"]
    assert context["stage"] == "test" and context["resourcePath"] == "/streamed/{action}"
    assert context["httpMethod"] == "POST" and context["requestId"]
    # And the Lambda context is the runtime's (not the client's forged header), its deadline the function's timeout
    lambda_context = echo["lambda_context"]
    assert lambda_context["invoked_function_arn"].endswith(":function:StreamerFunction")
    assert lambda_context["env_config"]["function_name"] == "StreamerFunction"
    assert lambda_context["request_id"] and lambda_context["request_id"] != context["requestId"]
    assert 9_000 <= lambda_context["deadline"] - before_ms <= 11_000  # Timeout: 10
    # And it runs as the function: in its directory, with its template environment and its layer on the path
    assert os.path.samefile(echo["cwd"], STREAMER_DIR)
    assert echo["env"]["FROM_TEMPLATE"] == "template-value"
    assert echo["layer"] == "from-the-layer"


def test_an_answer_the_app_aborts_is_cut_short_for_the_client_too(mechanics_server: LocalServer) -> None:
    # Given an app that fails after sending two pieces / When the client reads the answer
    answer = stream(mechanics_server, "/streamed/stream?pieces=2&then=abort")
    # Then it got the two pieces, and a body that ends without its proper end (never a clean one)
    assert answer.status == 200
    assert answer.body.count(b"piece ") == 2
    assert answer.cut_short
    assert "stopped before its end" in mechanics_server.log


def test_an_app_that_dies_is_started_again_for_the_next_request(mechanics_server: LocalServer) -> None:
    # Given an app process that dies in the middle of an answer
    dying = stream(mechanics_server, "/streamed/stream?pieces=1&then=exit")
    assert dying.cut_short
    # When the next request comes
    after = stream(mechanics_server, "/streamed/stream?pieces=1")
    # Then a new app process answers it, whole
    assert after.status == 200 and not after.cut_short
    assert after.headers["x-streamer-pid"] != dying.headers["x-streamer-pid"]


def test_no_answer_within_the_routes_integration_timeout_is_a_504(mechanics_server: LocalServer) -> None:
    # Given a streamed route with a 1 s integration timeout and an app that answers after 3 s
    started = time.monotonic()
    # When it is called
    reply = mechanics_server.post("/briefly/stream?delay=3")
    # Then API Gateway's 504 came after about 1 s
    assert reply.status == 504
    assert reply.json() == {"message": "Endpoint request timed out"}
    assert time.monotonic() - started < 2.5


def test_a_stream_still_running_at_the_integration_timeout_is_cut_there(
    mechanics_server: LocalServer,
) -> None:
    # Given a streamed route with a 1 s integration timeout, and 10 pieces 0.3 s apart
    # When it is called
    answer = stream(mechanics_server, "/briefly/stream?pieces=10&gap=0.3")
    # Then the client got the first pieces, and a body cut short at about 1 s
    assert answer.status == 200 and answer.cut_short
    assert 1 <= answer.body.count(b"piece ") < 10
    assert answer.pieces[-1][0] < 2.0


def test_streamed_and_buffered_routes_are_served_side_by_side(mechanics_server: LocalServer) -> None:
    # Given a stream in progress / When a buffered route is called meanwhile
    conn = http.client.HTTPConnection("127.0.0.1", mechanics_server.port, timeout=30)
    try:
        conn.request("POST", "/streamed/stream?pieces=3&gap=0.5")
        response = conn.getresponse()
        first = response.read1(65536)
        # Then it answers at once, and the stream goes on to its end
        assert json.loads(mechanics_server.post("/ping").body)["path"] == "/ping"
        rest = response.read()
    finally:
        conn.close()
    assert (first + rest).count(b"piece ") == 3


def test_an_event_over_lambdas_6_mb_is_refused_before_the_app(mechanics_server: LocalServer) -> None:
    # Given 5 MB of binary body: under API Gateway's 10 MB, but over Lambda's 6 MB once base64-encoded in the event
    # When it is posted to a streamed route
    reply = mechanics_server.post(
        "/streamed/echo", b"\xff" * (5 * 1024 * 1024), headers={"Content-Type": "application/octet-stream"}
    )
    # Then the Lambda API refuses the invocation: API Gateway's 500, and the app never sees it
    assert reply.status == 500
    assert "InvokeWithResponseStream" in mechanics_server.log


def test_a_code_change_starts_the_app_again(mechanics_server: LocalServer) -> None:
    # Given a running app
    before = stream(mechanics_server, "/streamed/stream?pieces=1")
    # When a file of its function changes (a newer modification time)
    app_file = STREAMER_DIR / "app.py"
    later = app_file.stat().st_mtime + 5
    os.utime(app_file, (later, later))
    # Then the next request is answered by a new app process
    after = stream(mechanics_server, "/streamed/stream?pieces=1")
    assert after.status == 200 and after.headers["x-streamer-pid"] != before.headers["x-streamer-pid"]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_app_ends_with_the_server(tmp_path: Path, stop: signal.Signals) -> None:
    # Given a server whose streamed function's app is running
    with running_server(MECHANICS_TEMPLATE, tmp_path) as server:
        app_pid = int(stream(server, "/streamed/stream?pieces=1").headers["x-streamer-pid"])
        # When the server is stopped, or killed (it cannot stop anything then)
        server.proc.send_signal(stop)
        server.proc.wait(timeout=10)
    # Then the app process ends too
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(app_pid):
        time.sleep(0.05)
    assert not _running(app_pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): it has ended, only its exit status is left to collect.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][:1] != "Z"
    return True
