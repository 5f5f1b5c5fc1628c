"""OpenAI's HTTP failures, as engines/openai_client.py raises them, mapped to our codes and retried or not."""

from __future__ import annotations

import json

import pytest

from speech_common.engines.upstream_errors import (
    OpenAIHTTPError,
    OpenAITimeout,
    OpenAIUnreachable,
    UnexpectedAnswer,
    from_openai,
    openai_is_transient,
    openai_retry_after,
)
from speech_common.errors import UpstreamFailure


def answer(
    status: int, code: str | None = None, message: str = "", retry_after: str | None = None
) -> OpenAIHTTPError:
    body = json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    )
    return OpenAIHTTPError.of(status, body.encode(), retry_after)


@pytest.mark.parametrize(
    ("failure", "expected", "transient"),
    [
        pytest.param(answer(401, "invalid_api_key"), UpstreamFailure.AUTH, False, id="401"),
        pytest.param(answer(403), UpstreamFailure.AUTH, False, id="403"),
        pytest.param(answer(429, "rate_limit_exceeded"), UpstreamFailure.RATE_LIMITED, True, id="429"),
        pytest.param(answer(429, "insufficient_quota"), UpstreamFailure.RATE_LIMITED, False, id="429 quota"),
        pytest.param(
            answer(404, "model_not_found"), UpstreamFailure.MODEL_UNAVAILABLE, False, id="not found"
        ),
        pytest.param(answer(400, "model_retired"), UpstreamFailure.MODEL_UNAVAILABLE, False, id="retired"),
        pytest.param(answer(410), UpstreamFailure.MODEL_UNAVAILABLE, False, id="410"),
        pytest.param(answer(404, message="Not found"), UpstreamFailure.ERROR, False, id="bare 404"),
        pytest.param(answer(400, message="Invalid input"), UpstreamFailure.ERROR, False, id="400"),
        pytest.param(answer(500), UpstreamFailure.ERROR, True, id="500"),
        pytest.param(
            OpenAIHTTPError.of(502, b"<html>Bad gateway</html>"), UpstreamFailure.ERROR, True, id="502 page"
        ),
        pytest.param(OpenAITimeout(), UpstreamFailure.TIMEOUT, True, id="timeout"),
        pytest.param(OpenAIUnreachable("ConnectError"), UpstreamFailure.ERROR, True, id="unreachable"),
        pytest.param(UnexpectedAnswer("mp3 audio"), UpstreamFailure.ERROR, True, id="bad 200"),
    ],
)
def test_each_failure_has_its_code_and_is_retried_only_when_it_may_pass(
    failure: Exception, expected: str, transient: bool
) -> None:
    # Given a failed call / When it is mapped and judged
    # Then it carries our code, and is retried only when time may cure it
    assert from_openai(failure).code == expected
    assert openai_is_transient(failure) is transient


def test_a_model_the_key_cannot_reach_says_so_to_the_client() -> None:
    # Given OpenAI's 404 for a model the key has no access to
    failure = answer(
        404, "model_not_found", "The model `tts-1` does not exist or you do not have access to it."
    )
    # When it is mapped / Then the model is unavailable, with a hint about the key's access
    mapped = from_openai(failure)
    assert mapped.code == UpstreamFailure.MODEL_UNAVAILABLE and mapped.client_hint


@pytest.mark.parametrize(("header", "seconds"), [("2", 2.0), ("0.5", 0.5), (None, 0.0), ("soon", 0.0)])
def test_retry_after_is_read_in_seconds(header: str | None, seconds: float) -> None:
    # Given a 429 with that Retry-After header / When the wait it asks for is read / Then it is in seconds
    assert openai_retry_after(answer(429, retry_after=header)) == seconds


def test_a_failures_text_never_holds_the_upstreams_body() -> None:
    # Given a 401 whose body quotes part of the key
    failure = answer(401, "invalid_api_key", "Incorrect API key provided: sk-very-secret-0042.")
    # When it is turned into text, or mapped / Then the key is in neither
    assert "sk-very" not in str(failure) and "sk-very" not in from_openai(failure).message
    # And the body is kept for reading its words
    assert "sk-very" in failure.message and failure.code == "invalid_api_key"
