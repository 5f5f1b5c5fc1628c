"""What AWS enforces between the client and the handler, and the failures it answers with.

Sources: Lambda quotas (6 MB synchronous payload each way: requests are refused above 6,291,456 bytes,
responses above 6,291,556), API Gateway quotas (10 MB request body, 29 s default integration timeout) and
"Handling Lambda errors with an API Gateway API": API Gateway answers 500 when the Lambda API rejects the
invocation and 502 when the function fails or returns a malformed response, both with
{"message": "Internal server error"}; an integration timeout answers 504 {"message": "Endpoint request timed out"}.
"""

from __future__ import annotations

import contextvars

LAMBDA_MAX_REQUEST_BYTES = 6 * 1024 * 1024
LAMBDA_MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
APIGW_MAX_BODY_BYTES = 10 * 1024 * 1024
APIGW_DEFAULT_INTEGRATION_TIMEOUT_S = 29.0  # REST API (Type: Api)
HTTP_API_DEFAULT_INTEGRATION_TIMEOUT_S = 30.0  # HTTP API (Type: HttpApi)
# A streamed answer (ResponseTransferMode: STREAM) may take up to 15 minutes, its route's TimeoutInMillis.
APIGW_MAX_STREAM_INTEGRATION_TIMEOUT_S = 15 * 60.0

# Monotonic time at which API Gateway stops waiting for the current request (set per request thread by the
# gateway, read by the runtime, which is called synchronously in the same thread).
integration_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "integration_deadline", default=None
)


class IntegrationTimeout(Exception):
    """API Gateway stopped waiting for the function: 504."""


class InvocationRejected(Exception):
    """The Lambda API refused the invocation before any handler ran (e.g. RequestEntityTooLarge): 500."""


class FunctionFailed(Exception):
    """The function ran and failed: exception, timeout, crash, oversized response: 502."""


class BodyRefused(Exception):
    """The local server refuses the request's body before any function sees it: 400 {"detail", "code"}."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
