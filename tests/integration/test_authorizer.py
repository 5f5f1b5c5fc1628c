"""The REQUEST authorizer against moto's API Gateway: which key, which answer, in which door's shape."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.helpers import FakeLambdaContext, load_handler

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/POST/v1/audio/speech"
KEY = "k3y-value-of-at-least-twenty-chars"


@pytest.fixture
def authorizer() -> Iterator[ModuleType]:
    """functions/authorizer/app.py as a new container has it: no keys read yet (and none left for the next test)."""
    module = load_handler("authorizer")
    module.enabled_keys.clear()
    yield module
    module.enabled_keys.clear()


@pytest.fixture
def api_keys(authorizer: ModuleType) -> Iterator[dict[str, str]]:
    """An enabled and a disabled API key in moto's API Gateway, for an authorizer that reads them afresh."""
    with mock_aws():
        client = boto3.client("apigateway", region_name="us-east-1")
        enabled = client.create_api_key(name="user", value=KEY, enabled=True)["id"]
        client.create_api_key(name="old", value="disabled-key-value-0123456789", enabled=False)
        yield {"enabled": enabled}


def authorize(path: str, headers: dict[str, str]) -> dict[str, Any]:
    event = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN.replace("/v1/audio/speech", path),
        "path": path,
        "headers": headers,
    }
    answer: dict[str, Any] = load_handler("authorizer").lambda_handler(event, FakeLambdaContext())
    return answer


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/tts", {"x-api-key": KEY}),
        ("/api/tts", {"Authorization": f"Bearer {KEY}"}),
        ("/v1/audio/speech", {"Authorization": f"Bearer {KEY}"}),
        ("/v1/audio/speech", {"authorization": f"bearer  {KEY} "}),
    ],
)
def test_a_known_key_is_the_usage_plan_key(
    api_keys: dict[str, str], path: str, headers: dict[str, str]
) -> None:
    # Given an enabled API key / When it comes as x-api-key or a Bearer token on /api, or a Bearer token on /v1
    answer = authorize(path, headers)
    # Then it is allowed on the whole stage (the answer may be cached) and counted against its usage plan
    assert answer["usageIdentifierKey"] == KEY
    assert answer["principalId"] == api_keys["enabled"] == answer["context"]["apiKeyId"]
    statement = answer["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/*"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong-key-value-0123456789"},
        {"Authorization": "Bearer disabled-key-value-0123456789"},
        {"Authorization": f"Basic {KEY}"},
    ],
)
def test_on_v1_a_missing_or_wrong_key_is_unauthorized(
    api_keys: dict[str, str], headers: dict[str, str]
) -> None:
    # Given no key, an unknown or disabled one, or another scheme / When a /v1 route is asked for
    # Then the authorizer says Unauthorized: API Gateway's 401, in OpenAI's shape
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize("/v1/models", headers)


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": KEY}, {"x-api-key": KEY, "Authorization": "Bearer EMPTY"}],
    ids=["x-api-key-alone", "beside-a-made-up-token"],
)
def test_on_v1_only_the_bearer_token_counts(api_keys: dict[str, str], headers: dict[str, str]) -> None:
    # Given a valid x-api-key, alone or beside a made-up Bearer token (API Gateway caches /v1 answers by
    # the Authorization header alone: an Allow here would let anyone send "Bearer EMPTY" for 5 minutes)
    # When a /v1 route is asked for / Then the authorizer says Unauthorized
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize("/v1/audio/speech", headers)


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong-key-value-0123456789"}])
def test_on_api_a_missing_or_wrong_key_is_denied(api_keys: dict[str, str], headers: dict[str, str]) -> None:
    # Given no key or an unknown one / When an /api route is asked for
    answer = authorize("/api/tts", headers)
    # Then a Deny: API Gateway's 403, in the {"detail", "code"} shape, and no usage plan key
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "usageIdentifierKey" not in answer


def disable(key_id: str) -> None:
    boto3.client("apigateway", region_name="us-east-1").update_api_key(
        apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
    )


def test_keys_are_read_once_then_cached(api_keys: dict[str, str], authorizer: ModuleType) -> None:
    # Given a first request that read the keys / When the key is disabled and asked for again at once
    authorize("/api/tts", {"x-api-key": KEY})
    disable(api_keys["enabled"])
    cached = authorize("/api/tts", {"x-api-key": KEY})
    # Then the cached answer holds until the cache is read afresh
    assert cached["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    authorizer.enabled_keys.clear()
    assert authorize("/api/tts", {"x-api-key": KEY})["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_the_key_cache_reads_the_keys_again_after_five_minutes(
    api_keys: dict[str, str], authorizer: ModuleType
) -> None:
    # Given a key cache on a clock of our own that read the keys, then the key disabled
    now = [1_000.0]
    cache = authorizer.KeyCache(clock=lambda: now[0])
    assert cache.id_of(KEY) == api_keys["enabled"]
    disable(api_keys["enabled"])
    # When five minutes have passed, then a moment more
    now[0] += authorizer.KEYS_CACHE_SECONDS
    at_five_minutes = cache.id_of(KEY)
    now[0] += 1
    after = cache.id_of(KEY)
    # Then the key counted for the five minutes, and not after
    assert authorizer.KEYS_CACHE_SECONDS == 300
    assert at_five_minutes == api_keys["enabled"]
    assert after is None


def test_the_owner_of_uploads_and_jobs_is_the_key_the_authorizer_named() -> None:
    # Given an event whose identity carries no key id, but whose authorizer context names one
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from speech_common.http_kit.event import caller
    from tests.helpers import api_event

    event = api_event("GET", "/api/jobs/x", api_key_id=None)
    event["requestContext"]["authorizer"] = {"apiKeyId": "key-from-authorizer"}
    # When the caller is read / Then it is that key's id
    assert caller(APIGatewayProxyEvent(event)) == "key-from-authorizer"
