"""One OpenAI client per container, created on first use (importing openai costs ~300 ms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from speech_common.parallel import built_once
from speech_common.secrets import openai_api_key
from speech_common.settings import Settings

if TYPE_CHECKING:
    from openai import OpenAI


def get_openai_client(settings: Settings) -> OpenAI:
    """The container's client; rebuilt only when the key changes (a rotated secret).

    For an Azure OpenAI endpoint, the SDK's Azure client: the key in an `api-key` header, the API
    version on every call, `model` read as a deployment name (REST and realtime alike).
    """
    azure = settings.azure_endpoint
    if azure is not None:
        return client_for(openai_api_key(settings), None, azure, settings.azure_openai_api_version)
    return client_for(openai_api_key(settings), settings.openai_base_url)


@built_once(maxsize=1)
def client_for(
    api_key: str,
    base_url: str | None,
    azure_endpoint: str | None = None,
    azure_api_version: str | None = None,
) -> OpenAI:
    # Retries and timeouts are set per call from the invocation's deadline.
    if azure_endpoint is not None:
        from openai import AzureOpenAI

        return AzureOpenAI(
            api_key=api_key, azure_endpoint=azure_endpoint, api_version=azure_api_version, max_retries=0
        )
    from openai import OpenAI

    return OpenAI(api_key=api_key, base_url=base_url, max_retries=0)
