"""What an upstream's error means: its failures and codes mapped to our failure codes.

One place for every upstream (OpenAI over HTTP and over the Realtime WebSocket, Amazon Polly), so
that "the model is gone", "the key is refused" and "try again" are decided the same way everywhere.
Messages carry codes and statuses only: an upstream's own message can quote the request.
"""

from __future__ import annotations

import json
import re
from typing import Final

from speech_common.error_codes import ErrorCode
from speech_common.errors import UpstreamFailure

# OpenAI's codes (HTTP and Realtime) for a model that does not exist or is retired.
MODEL_GONE_CODES: Final = frozenset(
    {"model_not_found", "model_deprecated", "model_retired", "model_not_available"}
)
# A 404 without those codes still names a gone model in these words (OpenAI-compatible servers).
_MODEL_GONE_WORDS = re.compile(
    r"\bmodel\b.{0,120}?\b(?:does not exist|not found|deprecated|retired|decommissioned)\b",
    re.IGNORECASE | re.DOTALL,
)
# OpenAI's wording when the key may simply lack access ("does not exist or you do not have access to it").
_NO_ACCESS_WORDS = re.compile(r"\b(?:do|does) not have access\b", re.IGNORECASE)
NO_ACCESS_HINT = (
    "the upstream model does not exist or the API key has no access to it; "
    "check the key's project and model permissions"
)
# Realtime error events carry a code and a type, not an HTTP status.
REALTIME_AUTH_CODES: Final = frozenset(
    {"invalid_api_key", "missing_api_key", "unauthorized", "insufficient_permissions"}
)
REALTIME_AUTH_TYPES: Final = frozenset({"authentication_error", "permission_error", "permission_denied"})
REALTIME_RATE_CODES: Final = frozenset({"rate_limit_exceeded", "insufficient_quota", "too_many_requests"})
REALTIME_RATE_TYPES: Final = frozenset({"rate_limit_error", "tokens", "requests"})

# Amazon Polly (botocore ClientError codes).
_POLLY_RATE_CODES: Final = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
_POLLY_QUOTA_CODES: Final = frozenset({"ServiceQuotaExceededException", "ServiceQuotaExceeded"})
_POLLY_AUTH_CODES: Final = frozenset(
    {
        "UnrecognizedClientException",
        "AccessDeniedException",
        "AccessDenied",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
# This request's engine/voice/rate/lexicon/language combination is not served: another route may be.
_POLLY_UNAVAILABLE_CODES: Final = frozenset(
    {
        "EngineNotSupportedException",
        "InvalidSampleRateException",
        "LexiconNotFoundException",
        "LanguageNotSupportedException",
    }
)
_POLLY_TIMEOUT_CODES: Final = frozenset({"RequestTimeout", "RequestTimeoutException"})
_POLLY_SERVER_CODES: Final = frozenset({"ServiceFailureException", "ServiceUnavailable", "InternalFailure"})


class UnexpectedAnswer(Exception):
    """A 200 whose body is not what was asked for (an HTML page, nothing, other audio): retried,
    then `upstream_error`. The message names what was expected, never the body."""


# ---------------------------------------------------------------------------------------------
# OpenAI over HTTP (engines/openai_client.py raises these; the SDK's error classes, without the SDK)


class OpenAIFailure(Exception):
    """A call to OpenAI's HTTP API that failed. Its text holds a status or a class name, never a body or a key."""


class OpenAITimeout(OpenAIFailure):
    """A network operation (connect, a read) outlived its timeout: transient."""


class OpenAIUnreachable(OpenAIFailure):
    """The connection failed or was dropped, before or during the answer: transient."""


class OpenAIHTTPError(OpenAIFailure):
    """An answer other than 2xx. `message` is the upstream's body (read for words, never logged)."""

    def __init__(self, status_code: int, code: str | None, message: str, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status_code} ({code})")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def of(cls, status_code: int, body: bytes, retry_after: str | None = None) -> OpenAIHTTPError:
        """From the answer: OpenAI's {"error": {"code": ...}} (or a bare {"code": ...}), or any other body."""
        text = body.decode("utf-8", errors="replace").strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        error = data.get("error", data) if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return cls(status_code, code if isinstance(code, str) else None, text, retry_after)


def _openai_status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, OpenAIHTTPError) else None


def _openai_code(exc: BaseException) -> str | None:
    return exc.code if isinstance(exc, OpenAIHTTPError) else None


def openai_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (UnexpectedAnswer, OpenAITimeout, OpenAIUnreachable)):
        return True
    status = _openai_status(exc)
    if status == 429:
        return _openai_code(exc) != "insufficient_quota"  # a billing limit does not pass with time
    return status is not None and status >= 500


def openai_retry_after(exc: BaseException) -> float:
    value = exc.retry_after if isinstance(exc, OpenAIHTTPError) else None
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _openai_model_is_gone(exc: OpenAIHTTPError) -> bool:
    """The answer says the model does not exist or is retired (the route chain then moves on for good).

    Any other 404 (a proxy, an ingress, a wrong base URL, an HTML page) says nothing about the
    model: taking it for one would retire a working route for the container's life.
    """
    if exc.status_code == 410 or exc.code in MODEL_GONE_CODES:
        return True
    return exc.status_code == 404 and bool(_MODEL_GONE_WORDS.search(exc.message))


def from_openai(exc: Exception) -> UpstreamFailure:
    """Map a failed call to OpenAI's HTTP API to one of our upstream failure codes."""
    if isinstance(exc, UnexpectedAnswer):
        return UpstreamFailure(UpstreamFailure.ERROR, f"the upstream answered 200 without {exc}")
    if isinstance(exc, OpenAITimeout):
        return UpstreamFailure(UpstreamFailure.TIMEOUT, "the upstream did not answer in time")
    if isinstance(exc, OpenAIUnreachable):
        return UpstreamFailure(UpstreamFailure.ERROR, "the upstream could not be reached")
    if not isinstance(exc, OpenAIHTTPError):
        return UpstreamFailure(UpstreamFailure.ERROR, f"the upstream failed ({type(exc).__name__})")
    status = exc.status_code
    if status in (401, 403):
        return UpstreamFailure(UpstreamFailure.AUTH, f"the upstream refused the API key ({status})")
    if status == 429:
        return UpstreamFailure(UpstreamFailure.RATE_LIMITED, f"the upstream is rate limiting ({exc.code})")
    if _openai_model_is_gone(exc):
        if _NO_ACCESS_WORDS.search(exc.message):
            return UpstreamFailure(
                UpstreamFailure.MODEL_UNAVAILABLE,
                f"the upstream model does not exist or the key has no access to it ({status})",
                client_hint=NO_ACCESS_HINT,
            )
        return UpstreamFailure(
            UpstreamFailure.MODEL_UNAVAILABLE, f"the upstream model is unavailable ({status})"
        )
    return UpstreamFailure(UpstreamFailure.ERROR, f"the upstream failed (HTTP {status}, {exc.code})")


# ---------------------------------------------------------------------------------------------
# OpenAI Realtime (error events, close reasons and refused upgrades name a code and a type)


def realtime_failure_code(code: str | None, kind: str | None) -> ErrorCode | None:
    """Our code for a realtime error code/type; None when it is a plain failure (server error or other)."""
    code_l, kind_l = (code or "").lower(), (kind or "").lower()
    if code_l in MODEL_GONE_CODES:
        return UpstreamFailure.MODEL_UNAVAILABLE
    if code_l in REALTIME_AUTH_CODES or kind_l in REALTIME_AUTH_TYPES:
        return UpstreamFailure.AUTH
    if code_l in REALTIME_RATE_CODES or kind_l in REALTIME_RATE_TYPES:
        return UpstreamFailure.RATE_LIMITED
    return None


# ---------------------------------------------------------------------------------------------
# Amazon Polly (botocore)


def _polly_client_error(code: str, message: str, status: int | None) -> UpstreamFailure:
    detail = f"({code}, {status})"
    if code in _POLLY_RATE_CODES or code in _POLLY_QUOTA_CODES:
        return UpstreamFailure(UpstreamFailure.RATE_LIMITED, f"Amazon Polly is rate limiting {detail}")
    if code in _POLLY_AUTH_CODES or status in (401, 403):
        return UpstreamFailure(UpstreamFailure.AUTH, f"Amazon Polly refused the credentials {detail}")
    voice_engine_mismatch = (
        code == "ValidationException" and "does not support the selected engine" in message
    )
    if code in _POLLY_UNAVAILABLE_CODES or voice_engine_mismatch:
        return UpstreamFailure(
            UpstreamFailure.VOICE_UNAVAILABLE, f"Amazon Polly does not serve this engine and voice {detail}"
        )
    if code in _POLLY_TIMEOUT_CODES:
        return UpstreamFailure(UpstreamFailure.TIMEOUT, f"Amazon Polly did not answer in time {detail}")
    return UpstreamFailure(UpstreamFailure.ERROR, f"Amazon Polly failed {detail}")


def from_botocore(exc: Exception) -> UpstreamFailure:
    """Map a botocore exception to one of our upstream failure codes."""
    from botocore import exceptions as boto_errors

    if isinstance(exc, UnexpectedAnswer):
        return UpstreamFailure(UpstreamFailure.ERROR, f"Amazon Polly answered without {exc}")
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _polly_client_error(str(error.get("Code", "")), str(error.get("Message", "")), status)
    if isinstance(exc, (boto_errors.ReadTimeoutError, boto_errors.ConnectTimeoutError)):
        return UpstreamFailure(UpstreamFailure.TIMEOUT, "Amazon Polly did not answer in time")
    creds_errors = (
        boto_errors.NoCredentialsError,
        boto_errors.PartialCredentialsError,
        boto_errors.CredentialRetrievalError,
    )
    if isinstance(exc, creds_errors):
        return UpstreamFailure(UpstreamFailure.AUTH, f"no usable AWS credentials ({type(exc).__name__})")
    if isinstance(exc, boto_errors.NoRegionError):
        return UpstreamFailure(UpstreamFailure.NOT_CONFIGURED, "no AWS region is configured for Amazon Polly")
    if isinstance(exc, (boto_errors.ConnectionError, boto_errors.HTTPClientError)):
        return UpstreamFailure(
            UpstreamFailure.ERROR, f"Amazon Polly could not be reached ({type(exc).__name__})"
        )
    return UpstreamFailure(UpstreamFailure.ERROR, f"Amazon Polly failed ({type(exc).__name__})")


def botocore_is_transient(exc: BaseException) -> bool:
    """Worth another attempt: throttling (not a quota), service failures, dropped connections."""
    from botocore import exceptions as boto_errors

    if isinstance(exc, UnexpectedAnswer):
        return True
    if isinstance(exc, boto_errors.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _POLLY_RATE_CODES or code in _POLLY_SERVER_CODES or status >= 500
    return isinstance(exc, (boto_errors.ConnectionError, boto_errors.HTTPClientError))
