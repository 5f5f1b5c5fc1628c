"""Fixtures of the integration tier: the Lambda artifacts as `sam build` makes them, built once a session."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.fakes.secrets_manager import FakeSecretsManager
from tests.lambda_cold import SECRET_NAME, Artifacts, host_arch, make_artifacts


@pytest.fixture(scope="session")
def built_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The layer and both functions, built for this machine's architecture by the Makefile targets SAM runs."""
    return make_artifacts(tmp_path_factory.mktemp("lambda-build"), host_arch())


@pytest.fixture(scope="session")
def fake_secrets_manager() -> Iterator[FakeSecretsManager]:
    """Secrets Manager for processes the tests start: the OpenAI key under the template's secret name."""
    with FakeSecretsManager({SECRET_NAME: "sk-test-fake"}) as fake:
        yield fake


@pytest.fixture(scope="session")
def xray_port() -> Iterator[int]:
    """A UDP port standing in for the X-Ray daemon (what it receives is not read here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
