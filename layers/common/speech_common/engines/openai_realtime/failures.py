"""What the Realtime API's failures mean to us: its error events, a refused upgrade, a closed session.

The upstream's own message is never copied into ours (it may quote the request); its code is, shortened.
A TransientFailure is one a new session may not repeat, so the engine opens another.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Final

from speech_common.engines.upstream_errors import realtime_failure_code
from speech_common.errors import UpstreamFailure

if TYPE_CHECKING:
    from websockets.exceptions import ConnectionClosed, InvalidStatus

# Close codes after which a new session may well succeed (going away, abnormal, server error...).
# A normal close (1000) with work left is also worth one more session.
TRANSIENT_CLOSE_CODES: Final = {1000, 1001, 1006, 1011, 1012, 1013, 1014}


class TransientFailure(UpstreamFailure):
    """A failure a new session may not repeat (dropped connection, server error)."""


def short_code(value: object) -> str:
    # Upstream codes go into our messages; keep them short and free of request data.
    return str(value)[:64] if value else "no code"


def failure_of(code: str | None, kind: str | None, what: str) -> UpstreamFailure:
    """Map an upstream error code/type to our codes (the upstream's message is never copied)."""
    detail = f"{what} ({short_code(code or kind)})"
    ours = realtime_failure_code(code, kind)
    if ours == UpstreamFailure.MODEL_UNAVAILABLE:
        return UpstreamFailure(ours, f"the realtime model is unavailable: {detail}")
    if ours == UpstreamFailure.AUTH:
        return UpstreamFailure(ours, f"the realtime upstream refused the API key: {detail}")
    if ours == UpstreamFailure.RATE_LIMITED:
        return UpstreamFailure(ours, f"the realtime upstream is rate limiting: {detail}")
    if "server_error" in ((kind or "").lower(), (code or "").lower()):
        return TransientFailure(UpstreamFailure.ERROR, f"the realtime upstream failed: {detail}")
    return UpstreamFailure(UpstreamFailure.ERROR, f"the realtime upstream failed: {detail}")


def handshake_failure(exc: InvalidStatus) -> UpstreamFailure:
    """The upgrade was refused with an HTTP status; its JSON body may name the OpenAI error code."""
    import json

    status = exc.response.status_code
    code = kind = None
    with suppress(ValueError, AttributeError, TypeError):
        error = json.loads(exc.response.body or b"{}").get("error") or {}
        code, kind = error.get("code"), error.get("type")
    if code:
        failure = failure_of(code, kind, f"the WebSocket upgrade was refused (HTTP {status})")
        if failure.code != UpstreamFailure.ERROR:
            return failure
    if status in (401, 403):
        return UpstreamFailure(
            UpstreamFailure.AUTH, f"the realtime upstream refused the API key (HTTP {status})"
        )
    if status == 429:
        return UpstreamFailure(
            UpstreamFailure.RATE_LIMITED, "the realtime upstream is rate limiting (HTTP 429)"
        )
    if status == 410:
        return UpstreamFailure(UpstreamFailure.MODEL_UNAVAILABLE, "the realtime model is retired (HTTP 410)")
    if status >= 500:
        return TransientFailure(UpstreamFailure.ERROR, f"the realtime upstream failed (HTTP {status})")
    return UpstreamFailure(
        UpstreamFailure.ERROR, f"the realtime upstream refused the connection (HTTP {status})"
    )


def closed_failure(exc: ConnectionClosed) -> UpstreamFailure:
    """The server closed the session early. OpenAI closes with 3000 and reason "<type>.<code>"."""
    close = exc.rcvd
    if close is None:
        return TransientFailure(UpstreamFailure.ERROR, "the realtime connection was lost")
    if close.code >= 3000 and close.reason:
        kind, _, code = close.reason.partition(".")
        return failure_of(code or kind, kind, f"the session was closed ({close.code})")
    if close.code in TRANSIENT_CLOSE_CODES:
        return TransientFailure(UpstreamFailure.ERROR, f"the realtime connection was closed ({close.code})")
    return UpstreamFailure(UpstreamFailure.ERROR, f"the realtime connection was closed ({close.code})")


def timed_out() -> UpstreamFailure:
    return UpstreamFailure(UpstreamFailure.TIMEOUT, "the realtime upstream did not finish in time")


def warn(message: str, **extra: object) -> None:
    """A warning about one request's upstream trouble (codes and lengths only, never its text)."""
    # Imported when needed: the layer's Logger binds its stream when first imported.
    from speech_common.observability import logger

    logger.warning(message, extra=extra)
