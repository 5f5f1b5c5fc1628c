"""The OpenAI API key: OPENAI_API_KEY when set (local use), else AWS Secrets Manager (cached)."""

from __future__ import annotations

import json
import threading
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
    except Exception as exc:  # GetParameterError, or botocore errors wrapped by Powertools
        # The exception text names the secret, never its value; keep only its class in the message.
        raise UpstreamFailure(
            UpstreamFailure.NOT_CONFIGURED, f"the OpenAI secret could not be read ({type(exc).__name__})"
        ) from None
    return _key_from_secret(str(raw), settings.openai_secret_key_field)


@built_once()
def secrets_provider() -> Any:
    """Powertools' Secrets Manager provider (it caches values), with timeouts a request can afford.

    boto3's defaults (60 s to connect and to read, with retries) would outlive the gateway when
    Secrets Manager is slow, on a cold start or whenever the cached value expires.
    """
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"})
    return SecretsProvider(boto_config=config)


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
