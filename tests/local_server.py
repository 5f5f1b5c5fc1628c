"""The local server (`make serve`'s `python -m local.server`) as a subprocess on a free port, and a small HTTP
client for it: how every e2e test starts, talks to and stops it (the fixtures are in tests/e2e/conftest.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DEVELOPER_ENV, ROOT, free_port

SPEECH_TEMPLATE = ROOT / "template.yaml"
FIXTURES = ROOT / "tests" / "e2e" / "fixtures"
MECHANICS_TEMPLATE = FIXTURES / "template.yaml"  # test-only handler for the server's own mechanics
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
# Refusing takes the server's own start-up (SAM's template processing, one settings probe per function):
# about 2 s here; the bound leaves room for a loaded machine but not for a server that went on serving.
REFUSAL_TIMEOUT_S = 30.0


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalServer:
    proc: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> Reply:
        """One request on its own connection; an iterable body is sent chunked (no Content-Length)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            chunked = body is not None and not isinstance(body, bytes)
            conn.request(method, path, body=body, headers=dict(headers or {}), encode_chunked=chunked)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def post(self, path: str, body: bytes = b"", **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def raw(self, data: bytes, *, end_request: bool = False) -> Reply:
        """`data` sent as it is on a new connection (malformed HTTP), and the answer read; end_request closes the
        sending side after it, as a client that has sent all it will."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT_S) as sock:
            sock.sendall(data)
            if end_request:
                sock.shutdown(socket.SHUT_WR)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Reply(response.status, response.headers, response.read())


# What the `serve` fixture gives: serve(template, env=None, args=()) -> a running server.
StartServer = Callable[..., LocalServer]


def server_env(**overrides: str) -> dict[str, str]:
    """This process's environment without the developer's own configuration, and with `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in DEVELOPER_ENV}
    env.update(
        {
            # No credential search beyond the environment: no metadata probe, no ~/.aws profile, no STS call.
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_DEFAULT_REGION": "us-east-1",
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    env.update(overrides)
    return env


def _command(template: Path, port: int, args: Iterable[str] = ()) -> list[str]:
    return [sys.executable, "-m", "local.server", "--template", str(template), "--port", str(port), *args]


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def running_server(
    template: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    args: Iterable[str] = (),
    ignored_signals: Iterable[signal.Signals] = (),
) -> Iterator[LocalServer]:
    """Start the server (with `server_env()` unless given another), wait (bounded) until it accepts
    connections, stop it (and so its workers) after. `ignored_signals` are ignored when it starts, as a
    shell's `&` leaves SIGINT ignored."""
    port = free_port()
    stdout_path, stderr_path = log_dir / "server.out", log_dir / "server.err"
    ignored = tuple(ignored_signals)

    def inherit_dispositions() -> None:
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)

    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            _command(template, port, args),
            cwd=ROOT,
            env=dict(server_env() if env is None else env),
            stdout=out,
            stderr=err,
            preexec_fn=inherit_dispositions if ignored else None,
        )
    server = LocalServer(proc, port, stdout_path, stderr_path)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        _stop(server)


def _stop(server: LocalServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=STOP_TIMEOUT_S)


def _wait_until_listening(server: LocalServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"local server exited with {server.proc.returncode}:\n{server.log[-4000:]}")
        if accepts_connections(server.port):
            return
        time.sleep(0.1)
    pytest.fail(f"local server did not listen within {START_TIMEOUT_S:.0f} s:\n{server.log[-4000:]}")


@dataclass
class Exited:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    port: int


def start_expecting_exit(template: Path, env: Mapping[str, str]) -> Exited:
    """Run the server until it exits by itself; fail if it is still running after REFUSAL_TIMEOUT_S."""
    port = free_port()
    started = time.monotonic()
    try:
        proc = subprocess.run(
            _command(template, port),
            cwd=ROOT,
            env=dict(env),
            capture_output=True,
            timeout=REFUSAL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the server was still running after {REFUSAL_TIMEOUT_S:.0f} s:\n{exc.stderr!r}")
    return Exited(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        time.monotonic() - started,
        port,
    )
