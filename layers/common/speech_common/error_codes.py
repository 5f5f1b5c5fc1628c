"""Every error code the API answers, one enumeration: docs/api.md's error table lists exactly these (a test checks).

A StrEnum, so a member is its snake_case string wherever a code is compared, logged or rendered.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # The request (400)
    INVALID_JSON = "invalid_json"
    MISSING_FIELD = "missing_field"
    EMPTY_FIELD = "empty_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_FIELD = "unknown_field"
    DUPLICATE_FIELD = "duplicate_field"
    INVALID_REQUEST = "invalid_request"
    UNSUPPORTED_MODEL = "unsupported_model"
    UNSUPPORTED_VOICE = "unsupported_voice"
    UNSUPPORTED_PARAMETER = "unsupported_parameter"
    TEXT_TOO_LONG = "text_too_long"
    UNSUPPORTED_LANGUAGE = "unsupported_language"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    MALFORMED_MULTIPART = "malformed_multipart"
    MALFORMED_BODY = "malformed_body"
    TOO_MANY_FIELDS = "too_many_fields"
    EMPTY_AUDIO = "empty_audio"
    UNSUPPORTED_AUDIO = "unsupported_audio"
    UNKNOWN_UPLOAD = "unknown_upload"
    AUDIO_TOO_LONG = "audio_too_long"
    UNSUPPORTED_RESPONSE_FORMAT = "unsupported_response_format"
    URL_NOT_ALLOWED = "url_not_allowed"
    UNSUPPORTED_DIARIZATION = "unsupported_diarization"
    # Keys, routes and sizes (API Gateway answers the ones it makes itself: the template's gateway responses)
    INVALID_API_KEY = "invalid_api_key"
    NOT_FOUND = "not_found"
    UNKNOWN_JOB = "unknown_job"
    MODEL_NOT_FOUND = "model_not_found"
    UNSUPPORTED_ENDPOINT = "unsupported_endpoint"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RESPONSE_TOO_LARGE = "response_too_large"
    THROTTLED = "throttled"
    QUOTA_EXCEEDED = "quota_exceeded"
    # A key's budget (429; /v1 answers it as OpenAI's insufficient_quota)
    BUDGET_EXCEEDED = "budget_exceeded"
    INSUFFICIENT_QUOTA = "insufficient_quota"
    # The upstream and the service (500; /v1 answers the upstream's rate limit as 429)
    UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_AUTH_FAILED = "upstream_auth_failed"
    UPSTREAM_ERROR = "upstream_error"
    MODEL_UNAVAILABLE = "model_unavailable"
    VOICE_UNAVAILABLE = "voice_unavailable"
    VERBATIM_MISMATCH = "verbatim_mismatch"
    ENGINE_NOT_CONFIGURED = "engine_not_configured"
    STORAGE_ERROR = "storage_error"
    STORAGE_NOT_CONFIGURED = "storage_not_configured"
    JOBS_NOT_CONFIGURED = "jobs_not_configured"
    JOBS_UNAVAILABLE = "jobs_unavailable"
    BUDGETS_NOT_CONFIGURED = "budgets_not_configured"
    INTERNAL_ERROR = "internal_error"
    # A job's error
    WORKER_FAILED = "worker_failed"
    WORKER_TIMEOUT = "worker_timeout"
    AUDIO_URL_FAILED = "audio_url_failed"
    # API Gateway's own
    GATEWAY_TIMEOUT = "gateway_timeout"
    INTEGRATION_FAILURE = "integration_failure"
    GATEWAY_ERROR = "gateway_error"
