"""The local server (`python -m local.server`) as a subprocess on a free port, and a small HTTP client for it."""

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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DEVELOPER_ENV

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0


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


def server_env(**overrides: str) -> dict[str, str]:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(template: Path, port: int, args: Iterable[str] = ()) -> list[str]:
    return [sys.executable, "-m", "local.server", "--template", str(template), "--port", str(port), *args]


@contextlib.contextmanager
def running_server(
    template: Path,
    log_dir: Path,
    env: Mapping[str, str],
    args: Iterable[str] = (),
    ignored_signals: Iterable[signal.Signals] = (),
) -> Iterator[LocalServer]:
    """Start the server, wait (bounded) until it accepts connections, stop it (and so its workers) after.
    `ignored_signals` are ignored when it starts, as a shell's `&` leaves SIGINT ignored."""
    port = free_port()
    stdout_path, stderr_path = log_dir / "server.out", log_dir / "server.err"
    ignored = tuple(ignored_signals)

    def inherit_dispositions() -> None:
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)

    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            server_command(template, port, args),
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=err,
            preexec_fn=inherit_dispositions if ignored else None,
        )
    server = LocalServer(proc, port, stdout_path, stderr_path)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        stop_server(server)


def stop_server(server: LocalServer) -> None:
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
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            return
        time.sleep(0.1)
    pytest.fail(f"local server did not listen within {START_TIMEOUT_S:.0f} s:\n{server.log[-4000:]}")


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


MECHANICS_TEMPLATE = FIXTURES / "template.yaml"


@pytest.fixture(scope="module")
def mechanics_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test handler counts its imports (across worker processes)."""
    return tmp_path_factory.mktemp("mechanics-state")


@pytest.fixture(scope="module")
def mechanics_server(
    tmp_path_factory: pytest.TempPathFactory, mechanics_state: Path
) -> Iterator[LocalServer]:
    """The test-only template (tests/e2e/fixtures) served locally, workers started on first use."""
    env = server_env(
        MECHANICS_STATE_DIR=str(mechanics_state), OVERRIDDEN_BY_USER="user-value", USER_ONLY="user-only"
    )
    with running_server(
        MECHANICS_TEMPLATE, tmp_path_factory.mktemp("mechanics-server"), env, ["--warm-containers", "LAZY"]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def speech_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """template.yaml served as `make serve` serves it, with no OpenAI key: the offline `local` engine."""
    with running_server(
        REPO / "template.yaml", tmp_path_factory.mktemp("speech-server"), server_env()
    ) as server:
        yield server
