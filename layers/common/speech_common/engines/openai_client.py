"""One OpenAI client per container, created on first use (importing openai costs ~300 ms)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from speech_common.secrets import openai_api_key
from speech_common.settings import Settings

if TYPE_CHECKING:
    from openai import OpenAI

_lock = threading.Lock()
_client: OpenAI | None = None
_client_key: str | None = None


def get_openai_client(settings: Settings) -> OpenAI:
    """The container's client; rebuilt only when the key changes (a rotated secret)."""
    global _client, _client_key
    key = openai_api_key(settings)
    with _lock:
        if _client is None or key != _client_key:
            from openai import OpenAI

            # Retries and timeouts are set per call from the invocation's deadline.
            _client = OpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=0)
            _client_key = key
        return _client


def reset_openai_client() -> None:
    """Forget the client (tests, and a key found to be rejected)."""
    global _client, _client_key
    with _lock:
        _client = None
        _client_key = None
