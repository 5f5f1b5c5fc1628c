"""Shared fixtures: the process environment a Lambda would have, fresh per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date

# As on Lambda, Powertools reads these when the layer is first imported: set them before that.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "speech-api-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SpeechApiTests")

import pytest

from speech_common import engines, model_routing, secrets
from speech_common.engines import openai_client
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import DEVELOPER_ENV

BASE_ENV = {
    "POWERTOOLS_SERVICE_NAME": "speech-api-tests",
    "POWERTOOLS_METRICS_NAMESPACE": "SpeechApiTests",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch):
    """Every test starts like a new container: no key, no cached client, engines or skipped routes,
    on a day before OpenAI's 2027 shutdowns (whatever the real date)."""
    for name in DEVELOPER_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(model_routing, "utc_today", lambda: BEFORE_SHUTDOWNS)
    _forget_container_state()
    yield
    _forget_container_state()


def _forget_container_state() -> None:
    get_settings.cache_clear()
    engines.built_engines.cache_clear()
    openai_client.client_for.cache_clear()
    openai_client.http_client.cache_clear()
    model_routing.skipped_routes.cache_clear()
    secrets.secrets_provider.cache_clear()


# A date before both of OpenAI's 2027 shutdowns, so that tests do not depend on the real date.
BEFORE_SHUTDOWNS = date(2026, 11, 25)


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-fake") as fake:
        yield fake


@pytest.fixture
def fake_openai(_fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server, clean, with the functions configured to use it through the real SDK."""
    fake = _fake_openai_server
    fake.reset(config=True)
    fake.today = BEFORE_SHUTDOWNS
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    get_settings.cache_clear()
    yield fake
    fake.reset(config=True)
