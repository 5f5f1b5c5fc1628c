"""The OpenAI API key: OPENAI_API_KEY when set (local use), else AWS Secrets Manager (cached)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from speech_common.errors import UpstreamFailure
from speech_common.parallel import built_once
from speech_common.settings import Settings

# One read of the secret at a time: callers arriving together on a cold container (or when the cached value has
# expired) find the value the first one fetched, instead of each paying for a GetSecretValue.
_reading = threading.Lock()


def openai_api_key(settings: Settings) -> str:
    """The key, never logged. Raises UpstreamFailure(NOT_CONFIGURED) when there is none."""
    if settings.openai_api_key is not None and settings.openai_api_key.get_secret_value():
        return settings.openai_api_key.get_secret_value()
    if not settings.openai_secret_name:
        raise UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, "no OpenAI API key is configured")

    try:
        with _reading:
            raw = secrets_provider().get(settings.openai_secret_name, max_age=settings.secret_max_age_seconds)
    except Exception as exc:  # botocore's errors: a missing secret, refused credentials, a timeout
        # The exception text names the secret, never its value; keep only its class in the message.
        raise UpstreamFailure(
            UpstreamFailure.NOT_CONFIGURED, f"the OpenAI secret could not be read ({type(exc).__name__})"
        ) from None
    return _key_from_secret(raw, settings.openai_secret_key_field)


class SecretsReader:
    """Secrets Manager's GetSecretValue through a plain botocore client, each value kept for `max_age` seconds.

    What Powertools' SecretsProvider did, without its import of boto3 (and s3transfer): botocore's
    client alone costs a cold start about 0.04 s less CPU. Not thread-safe by itself: callers hold `_reading`.
    """

    def __init__(self, client: Any) -> None:  # botocore's secretsmanager client
        self.client = client
        self._values: dict[str, tuple[str, float]] = {}  # name -> (value, monotonic time it expires)

    def get(self, name: str, *, max_age: float) -> str:
        cached = self._values.get(name)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        answer = self.client.get_secret_value(SecretId=name)
        value = answer["SecretString"] if "SecretString" in answer else answer["SecretBinary"].decode()
        self._values[name] = (value, time.monotonic() + max_age)
        return value


@built_once()
def secrets_provider() -> SecretsReader:
    """The container's reader, whose client has timeouts a request can afford.

    botocore's defaults (60 s to connect and to read, with retries) would outlive the gateway when
    Secrets Manager is slow, on a cold start or whenever the cached value expires.
    """
    import botocore.session
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"})
    client = botocore.session.get_session().create_client("secretsmanager", config=config)
    return SecretsReader(client)


def _key_from_secret(raw: str, field: str) -> str:
    """A secret holds the bare key, or a JSON object with the key under `field`."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get(field, "")
        except (ValueError, AttributeError):
            value = ""
        text = str(value).strip()
    if not text:
        raise UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, "the OpenAI secret holds no API key")
    return text


def has_openai_key(settings: Settings) -> bool:
    """Whether a key is configured at all (without reading the secret)."""
    key = settings.openai_api_key
    return bool((key is not None and key.get_secret_value()) or settings.openai_secret_name)


def webhook_secret(settings: Settings) -> str:
    """The webhooks' signing secret, as a receiver's standardwebhooks.Webhook(secret) takes it; never logged.
    WEBHOOK_SECRET when set (make serve), else the template's Secrets Manager secret (cached as the OpenAI key is)."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return settings.webhook_secret.get_secret_value()
    if not settings.webhook_secret_name:
        raise RuntimeError("no webhook secret is configured (WEBHOOK_SECRET or WEBHOOK_SECRET_NAME)")
    with _reading:
        return (
            secrets_provider()
            .get(settings.webhook_secret_name, max_age=settings.secret_max_age_seconds)
            .strip()
        )
