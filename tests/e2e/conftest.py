"""Fixtures of the e2e tier: local servers (tests/local_server.py) started once a module."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.local_server import (
    MECHANICS_TEMPLATE,
    SPEECH_TEMPLATE,
    LocalServer,
    StartServer,
    running_server,
    server_env,
)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Starts a server for the module: serve(template, env=None, args=()) as running_server takes them; every
    server it started is stopped after the module's last test."""
    with contextlib.ExitStack() as servers:

        def start(
            template: Path, env: Mapping[str, str] | None = None, args: Iterable[str] = ()
        ) -> LocalServer:
            log_dir = tmp_path_factory.mktemp(f"{template.stem}-server")
            return servers.enter_context(running_server(template, log_dir, env, args))

        yield start


@pytest.fixture(scope="module")
def mechanics_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test handler counts its imports (across worker processes)."""
    return tmp_path_factory.mktemp("mechanics-state")


@pytest.fixture(scope="module")
def mechanics_server(serve: StartServer, mechanics_state: Path) -> LocalServer:
    """The test-only template (tests/e2e/fixtures) served locally, workers started on first use."""
    env = server_env(
        MECHANICS_STATE_DIR=str(mechanics_state), OVERRIDDEN_BY_USER="user-value", USER_ONLY="user-only"
    )
    return serve(MECHANICS_TEMPLATE, env, ["--warm-containers", "LAZY"])


@pytest.fixture(scope="module")
def speech_server(serve: StartServer) -> LocalServer:
    """template.yaml served as `make serve` serves it, with no OpenAI key: the offline `local` engine."""
    return serve(SPEECH_TEMPLATE)
