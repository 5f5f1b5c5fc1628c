"""The `openai` engine: /v1/audio/transcriptions and /v1/audio/speech through the official SDK.

Time: the SDK's timeout is per network operation (connect, each read), not per call, and the
speech endpoint streams its audio while it is generated: a slow stream would outlive the gateway.
Both answers are therefore read as streams, checked against the deadline between chunks, and a
watchdog shuts the socket down at the deadline so that a read stalled in recv() ends then too.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from speech_common.deadline import Deadline
from speech_common.engines.base import (
    SpeechRequest,
    SpeechToTextEngine,
    TextToSpeechEngine,
    TranscriptionRequest,
)
from speech_common.engines.common import (
    MIN_ATTEMPT_SECONDS,
    SocketWatchdog,
    retry_within_deadline,
    split_text,
)
from speech_common.engines.openai_client import get_openai_client
from speech_common.errors import InvalidRequest, UpstreamFailure
from speech_common.settings import Settings
from speech_common.transcode import OUTPUT_SAMPLE_RATE, encode_pcm

if TYPE_CHECKING:
    import httpx2
    from openai import APIResponse, OpenAI

_MODEL_GONE_CODES = {"model_not_found", "model_deprecated", "model_retired"}
# A 404 without those codes still names a gone model in these words (OpenAI-compatible servers).
_MODEL_GONE_WORDS = re.compile(
    r"\bmodel\b.{0,120}?\b(?:does not exist|not found|deprecated|retired|decommissioned)\b",
    re.IGNORECASE | re.DOTALL,
)
# The speech endpoint reads ~80 characters a second: a 4,096-character text takes 44-62 s, past
# the gateway's 29 s. Longer texts are cut at sentences and read in parallel, then joined.
SPEECH_CHUNK_CHARS: Final = 1000
MAX_PARALLEL_SPEECH_CALLS: Final = 4


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None


def _is_transient(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.RateLimitError):
        return _error_code(exc) != "insufficient_quota"  # a billing limit does not pass with time
    return isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError))


def _retry_after(exc: BaseException) -> float:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _model_is_gone(exc: BaseException) -> bool:
    """The answer says the model does not exist or is retired (the route chain then moves on for good).

    Any other 404 (a proxy, an ingress, a wrong base URL, an HTML page) says nothing about the
    model: taking it for one would retire a working route for the container's life.
    """
    import openai

    if getattr(exc, "status_code", None) == 410 or _error_code(exc) in _MODEL_GONE_CODES:
        return True
    return isinstance(exc, openai.NotFoundError) and bool(_MODEL_GONE_WORDS.search(exc.message))


def to_upstream_failure(exc: Exception) -> UpstreamFailure:
    """Map an SDK exception to one of our upstream failure codes (no request data in the message)."""
    import openai

    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamFailure(UpstreamFailure.TIMEOUT, "the upstream did not answer in time")
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return UpstreamFailure(UpstreamFailure.AUTH, f"the upstream refused the API key ({status})")
    if isinstance(exc, openai.RateLimitError):
        return UpstreamFailure(
            UpstreamFailure.RATE_LIMITED, f"the upstream is rate limiting ({_error_code(exc)})"
        )
    if _model_is_gone(exc):
        return UpstreamFailure(
            UpstreamFailure.MODEL_UNAVAILABLE, f"the upstream model is unavailable ({status})"
        )
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamFailure(UpstreamFailure.ERROR, "the upstream could not be reached")
    return UpstreamFailure(UpstreamFailure.ERROR, f"the upstream failed ({type(exc).__name__}, {status})")


def _deadline_passed() -> UpstreamFailure:
    return UpstreamFailure(UpstreamFailure.TIMEOUT, "the upstream did not finish its answer in time")


def _socket_of(http_response: httpx2.Response) -> socket.socket | None:
    # A response read to its end has handed its connection back to the pool (another call may be
    # using it): leave it alone. HTTP/2 or a custom transport exposes no socket.
    stream = http_response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if http_response.is_closed or not isinstance(sock, socket.socket):
        return None
    return sock


def _read_within(response: APIResponse[Any], deadline: Deadline) -> bytes:
    """The body of a streamed answer, chunk by chunk, never read past the deadline."""
    import httpx2
    import openai

    parts: list[bytes] = []
    with SocketWatchdog(lambda: _socket_of(response.http_response), deadline) as watchdog:
        try:
            for part in response.iter_bytes():
                parts.append(part)
                if deadline.expired():
                    raise _deadline_passed()
        except httpx2.TransportError as exc:
            if watchdog.fired or deadline.expired():
                raise _deadline_passed() from None
            # Errors while reading the body escape the SDK's mapping: map them as it would, so
            # that they are retried like a dropped connection or a timeout before the answer.
            request = response.http_response.request
            if isinstance(exc, httpx2.TimeoutException):
                raise openai.APITimeoutError(request) from exc
            raise openai.APIConnectionError(request=request) from exc
    if watchdog.fired:  # a shut socket can also end the stream as a clean, early EOF
        raise _deadline_passed()
    return b"".join(parts)


class _OpenAIEngine:
    settings: Settings

    def _client(self, timeout: float) -> OpenAI:
        client = get_openai_client(self.settings)
        return client.with_options(timeout=timeout, max_retries=0)

    def _call[T](self, attempt: Callable[[OpenAI], T], deadline: Deadline) -> T:
        import openai

        if deadline.remaining() < MIN_ATTEMPT_SECONDS:
            raise UpstreamFailure(UpstreamFailure.TIMEOUT, "no time left for the upstream call")
        try:
            return retry_within_deadline(
                lambda timeout: attempt(self._client(timeout)),
                deadline=deadline,
                max_attempts=self.settings.upstream_max_attempts,
                is_transient=_is_transient,
                retry_after=_retry_after,
            )
        except openai.OpenAIError as exc:
            raise self._map_error(exc) from None

    def _map_error(self, exc: Exception) -> Exception:
        return to_upstream_failure(exc)


class OpenAISpeechToText(_OpenAIEngine, SpeechToTextEngine):
    name = "openai"

    def transcribe(self, request: TranscriptionRequest, *, upstream_model: str, deadline: Deadline) -> str:
        audio = request.audio
        from openai import omit

        def attempt(client: OpenAI) -> str:
            with client.audio.transcriptions.with_streaming_response.create(
                model=upstream_model,
                file=(audio.filename, audio.data, audio.content_type),
                response_format="json",  # the only format every transcription model accepts
                language=request.language or omit,
            ) as response:
                body = _read_within(response, deadline)
            try:
                text = json.loads(body)["text"]
            except (ValueError, TypeError, KeyError):
                text = None
            if not isinstance(text, str):
                raise UpstreamFailure(UpstreamFailure.ERROR, "the upstream answered without a transcript")
            return text

        return self._call(attempt, deadline)

    def _map_error(self, exc: Exception) -> Exception:
        import openai

        # The upstream refusing the file itself is the client's problem, not ours.
        if isinstance(exc, openai.BadRequestError) and any(
            word in str(exc.message).lower() for word in ("audio", "file format", "decod", "corrupt")
        ):
            return InvalidRequest(
                "The audio file could not be processed; send a valid audio file", code="unsupported_audio"
            )
        return to_upstream_failure(exc)


class OpenAITextToSpeech(_OpenAIEngine, TextToSpeechEngine):
    name = "openai"
    max_input_chars = 4096

    def synthesize(self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline) -> bytes:
        chunks = split_text(request.text, SPEECH_CHUNK_CHARS)
        if len(chunks) <= 1:
            return self._speak(request.text, request, request.response_format, upstream_model, deadline)
        # Raw PCM joins cleanly; the whole is encoded once (also smaller than OpenAI's 128 kbps mp3).
        with ThreadPoolExecutor(max_workers=min(len(chunks), MAX_PARALLEL_SPEECH_CALLS)) as pool:
            pcm_parts = list(
                pool.map(lambda chunk: self._speak(chunk, request, "pcm", upstream_model, deadline), chunks)
            )
        pcm = b"".join(part[: len(part) - len(part) % 2] for part in pcm_parts)
        return encode_pcm(pcm, sample_rate=OUTPUT_SAMPLE_RATE, fmt=request.response_format)

    def _speak(
        self, text: str, request: SpeechRequest, response_format: str, upstream_model: str, deadline: Deadline
    ) -> bytes:
        def attempt(client: OpenAI) -> bytes:
            # Streamed: the audio comes as it is generated, and is read within the deadline.
            with client.audio.speech.with_streaming_response.create(
                model=upstream_model,
                voice=request.voice,
                input=text,
                response_format=response_format,  # type: ignore[arg-type]
                speed=request.speed,
            ) as response:
                return _read_within(response, deadline)

        return self._call(attempt, deadline)
