"""OpenAI's HTTP API over httpx2 with one connection pool per container; the SDK's client for the realtime engine.

The `openai` engine needs two calls, JSON in and audio out (/audio/speech) and a form in and JSON out
(/audio/transcriptions): it makes them itself. Importing the `openai` SDK would cost a cold start ~0.4 s of
CPU (its package builds ~700 pydantic models), so only the realtime engine, which uses the SDK's
WebSocket client, imports it (`get_openai_client`).

What the SDK did for these calls is kept: OpenAI (or a compatible server) at `OPENAI_BASE_URL` with the
key as a Bearer token (and OpenAI-Organization / OpenAI-Project from OPENAI_ORG_ID / OPENAI_PROJECT_ID);
an Azure OpenAI resource at `{endpoint}/openai/deployments/{deployment}/...?api-version=...` with the key
in an `api-key` header; redirects followed; each call's timeout from the invocation's deadline; no retries
here (engines/retry.py retries). Errors become the exceptions of engines/upstream_errors.py, whose text
holds a status and a code, never a key or the upstream's body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from speech_common.deadline import Deadline
from speech_common.engines.streaming import httpx_socket, iter_within
from speech_common.engines.upstream_errors import OpenAIHTTPError, OpenAITimeout, OpenAIUnreachable
from speech_common.parallel import built_once
from speech_common.secrets import openai_api_key
from speech_common.settings import Settings

if TYPE_CHECKING:
    import httpx2
    from openai import OpenAI

OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
# A path segment's characters left as they are (RFC 3986 pchar): a deployment name goes into the path.
_PATH_SAFE: Final = "!$&'()*+,;=:@"


@dataclass(frozen=True)
class OpenAIEndpoint:
    """Where the HTTP API is, and how a call says who it is: OpenAI's way, or Azure OpenAI's."""

    base_url: str
    azure_api_version: str | None = None
    organization: str | None = None
    project: str | None = None

    def url(self, path: str, model: str) -> str:
        """The URL of `path` ("/audio/speech"); on Azure, under the deployment `model` names."""
        if self.azure_api_version is None:
            return self.base_url + path
        deployment = quote(model, safe=_PATH_SAFE)
        if deployment in (".", ".."):  # as the SDK refuses them: never a path that climbs out
            raise ValueError("a deployment name may not be a dot-segment")
        return f"{self.base_url}/deployments/{deployment}{path}"

    def params(self) -> dict[str, str]:
        return {} if self.azure_api_version is None else {"api-version": self.azure_api_version}

    def headers(self, api_key: str) -> dict[str, str]:
        if self.azure_api_version is not None:
            return {"api-key": api_key}
        headers = {"Authorization": f"Bearer {api_key}"}
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        return headers


def openai_endpoint(settings: Settings) -> OpenAIEndpoint:
    azure = settings.azure_endpoint
    if azure is not None:
        return OpenAIEndpoint(
            f"{azure.rstrip('/')}/openai", azure_api_version=settings.azure_openai_api_version
        )
    return OpenAIEndpoint(
        (settings.openai_base_url or OPENAI_BASE_URL).rstrip("/"),
        organization=settings.openai_org_id or None,
        project=settings.openai_project_id or None,
    )


@built_once()
def http_client() -> httpx2.Client:
    """The container's connection pool (the key goes with each call: a rotated secret keeps the pool).

    The SDK's settings: redirects followed, its connection limits. Timeouts are set per call.
    """
    import httpx2

    return httpx2.Client(
        follow_redirects=True,
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
        timeout=None,
    )


def post(
    settings: Settings,
    path: str,
    *,
    model: str,
    timeout: float,
    deadline: Deadline,
    json: Mapping[str, Any] | None = None,
    fields: Mapping[str, str | list[str]] | None = None,
    file: tuple[str, bytes, str] | None = None,
    accept: str = "application/json",
) -> bytes:
    """POST `json`, or a form of `fields` and `file` (name, bytes, content type), and return a 2xx answer's body.

    The body is read as a stream within the deadline (engines/streaming.py). Raises OpenAIHTTPError for
    any other status, OpenAITimeout or OpenAIUnreachable when the call fails on the way; UpstreamFailure
    (timeout) when the deadline ends the read.
    """
    chunks = post_streamed(
        settings,
        path,
        model=model,
        timeout=timeout,
        deadline=deadline,
        json=json,
        fields=fields,
        file=file,
        accept=accept,
    )
    return b"".join(chunks)


def post_streamed(
    settings: Settings,
    path: str,
    *,
    model: str,
    timeout: float,
    deadline: Deadline,
    json: Mapping[str, Any] | None = None,
    fields: Mapping[str, str | list[str]] | None = None,
    file: tuple[str, bytes, str] | None = None,
    accept: str = "application/json",
) -> Iterator[bytes]:
    """`post`, its 2xx body given chunk by chunk as it arrives (the same errors, raised when they happen).

    Nothing is sent before the first `next()`; closing the generator early closes the answer (its connection
    is dropped, not reused).
    """
    import httpx2

    endpoint = openai_endpoint(settings)
    headers = {"Accept": accept, **endpoint.headers(openai_api_key(settings))}
    try:
        with http_client().stream(
            "POST",
            endpoint.url(path, model),
            params=endpoint.params(),
            headers=headers,
            json=json,
            data=fields,
            files={"file": file} if file is not None else None,
            timeout=httpx2.Timeout(timeout),
        ) as response:
            body = iter_within(
                response.iter_bytes(),
                find_socket=lambda: httpx_socket(response),
                deadline=deadline,
                upstream="the upstream",
            )
            if not response.is_success:
                error = b"".join(body)
                raise OpenAIHTTPError.of(response.status_code, error, response.headers.get("retry-after"))
            yield from body
    # Before the answer or while its body is read: transient, retried like a dropped connection.
    except httpx2.TimeoutException:
        raise OpenAITimeout() from None
    except httpx2.HTTPError as exc:
        raise OpenAIUnreachable(type(exc).__name__) from None


# --- The SDK's client: the realtime engine's WebSocket ------------------------------------------------------


def get_openai_client(settings: Settings) -> OpenAI:
    """The container's SDK client (for the Realtime API); rebuilt only when the key changes (a rotated secret).

    For an Azure OpenAI endpoint, the SDK's Azure client: the key in an `api-key` header, the API
    version on every call, `model` read as a deployment name.
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
    if azure_endpoint is not None:
        from openai import AzureOpenAI

        return AzureOpenAI(
            api_key=api_key, azure_endpoint=azure_endpoint, api_version=azure_api_version, max_retries=0
        )
    from openai import OpenAI

    return OpenAI(api_key=api_key, base_url=base_url, max_retries=0)
