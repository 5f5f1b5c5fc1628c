"""Typed exceptions, free of HTTP: each door maps them to its own answer (speech_common.http_kit.errors, in the door's ErrorShape)."""

from __future__ import annotations

from speech_common.error_codes import ErrorCode


class SpeechError(Exception):
    """An error the caller sees: a message for a person and a snake_case code."""

    code = ErrorCode.INVALID_REQUEST

    def __init__(self, detail: str, *, code: ErrorCode | None = None, param: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.param = param  # the request field at fault, when one is (OpenAI's error names it)
        if code is not None:
            self.code = code


class InvalidRequest(SpeechError):
    """The caller's request is wrong (a field, the body, the audio)."""


class NotFound(SpeechError):
    """What the caller asked for does not exist (for them)."""

    code = ErrorCode.NOT_FOUND


class PayloadTooLarge(SpeechError):
    """The request, or the answer it asks for, is larger than the service can carry."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class BudgetExceeded(SpeechError):
    """The API key's budget (characters or audio seconds, a day or a month) has no room for this request;
    `retry_after`: seconds until the window that refused resets."""

    code = ErrorCode.BUDGET_EXCEEDED

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OperationFailed(SpeechError):
    """The engine could not do the work; `code` says why (rate limit, timeout, auth, ...)."""


class UpstreamFailure(Exception):
    """Raised by engines. `code` is one of the documented upstream codes.

    `model_unavailable` means the upstream model does not exist, is retired, or is not available
    to the key: the route chain moves on to its next entry instead of failing the request, and skips
    it for a while. `client_hint`, when set, is safe to show the caller (it says what to check).
    `voice_unavailable` means this upstream cannot serve this request's voice (or language):
    the chain moves on for this request only.
    """

    RATE_LIMITED = ErrorCode.UPSTREAM_RATE_LIMITED
    TIMEOUT = ErrorCode.UPSTREAM_TIMEOUT
    AUTH = ErrorCode.UPSTREAM_AUTH_FAILED
    ERROR = ErrorCode.UPSTREAM_ERROR
    MODEL_UNAVAILABLE = ErrorCode.MODEL_UNAVAILABLE
    VOICE_UNAVAILABLE = ErrorCode.VOICE_UNAVAILABLE
    NOT_CONFIGURED = ErrorCode.ENGINE_NOT_CONFIGURED
    VERBATIM_MISMATCH = ErrorCode.VERBATIM_MISMATCH

    def __init__(self, code: ErrorCode, message: str, *, client_hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_hint = client_hint
