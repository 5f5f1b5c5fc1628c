"""Shared fixtures: the process environment a Lambda would have, fresh per test."""

from __future__ import annotations

import pytest

from speech_common import engines, openai_client, routes
from speech_common.settings import get_settings

BASE_ENV = {
    "POWERTOOLS_SERVICE_NAME": "speech-api-tests",
    "POWERTOOLS_METRICS_NAMESPACE": "SpeechApiTests",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
SCRUBBED = (
    "OPENAI_API_KEY",
    "OPENAI_SECRET_NAME",
    "OPENAI_BASE_URL",
    "OPENAI_REALTIME_BASE_URL",
    "STT_MODEL_ROUTES",
    "TTS_MODEL_ROUTES",
    "AWS_PROFILE",
)


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch):
    """Every test starts like a new container: no key, no cached client, engines or retired routes."""
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    _forget_container_state()
    yield
    _forget_container_state()


def _forget_container_state() -> None:
    get_settings.cache_clear()
    engines.reset_engines()
    openai_client.reset_openai_client()
    routes.forget_unavailable()
