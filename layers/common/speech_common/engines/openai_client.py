"""One OpenAI client per container, created on first use (importing openai costs ~300 ms)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from speech_common.secrets import openai_api_key
from speech_common.settings import Settings

if TYPE_CHECKING:
    from openai import OpenAI


def get_openai_client(settings: Settings) -> OpenAI:
    """The container's client; rebuilt only when the key changes (a rotated secret)."""
    return client_for(openai_api_key(settings), settings.openai_base_url)


@lru_cache(maxsize=1)
def client_for(api_key: str, base_url: str | None) -> OpenAI:
    from openai import OpenAI

    # Retries and timeouts are set per call from the invocation's deadline.
    return OpenAI(api_key=api_key, base_url=base_url, max_retries=0)
