"""The REQUEST authorizer against moto's API Gateway: which key, which answer, in which door's shape, and
what a keyless flood or a failed read of the keys costs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from tests.helpers import FakeLambdaContext, load_handler

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/POST/v1/audio/speech"
KEY = "k3y-value-of-at-least-twenty-chars"
OTHER_PLANS_KEY = "key-of-another-usage-plan-0123456789"
PLANLESS_KEY = "key-of-no-usage-plan-0123456789"
PLAN_NAME = "speech-stack-usage-plan"


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """functions/authorizer/app.py as a new container has it: no keys read yet, no denial counted (and none
    left for the next test), its plan named as the template names it."""
    monkeypatch.setenv("USAGE_PLAN_NAME", PLAN_NAME)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the hooks a test adds to it end with the test
    module = load_handler("authorizer")
    module.plan_keys.clear()
    monkeypatch.setattr(module, "denials", module.DenialCounter())
    yield module
    module.plan_keys.clear()


@pytest.fixture
def api_keys(authorizer: ModuleType) -> Iterator[dict[str, str]]:
    """In moto's API Gateway: this API's usage plan with one key, another plan with its own key, and a key of
    no plan."""
    with mock_aws():
        client = boto3.client("apigateway", region_name="us-east-1")
        ours = client.create_usage_plan(name=PLAN_NAME)["id"]
        other = client.create_usage_plan(name="another-api-usage-plan")["id"]
        key_id = client.create_api_key(name="user", value=KEY, enabled=True)["id"]
        other_id = client.create_api_key(name="other", value=OTHER_PLANS_KEY, enabled=True)["id"]
        client.create_api_key(name="planless", value=PLANLESS_KEY, enabled=True)
        client.create_usage_plan_key(usagePlanId=ours, keyId=key_id, keyType="API_KEY")
        client.create_usage_plan_key(usagePlanId=other, keyId=other_id, keyType="API_KEY")
        yield {"key": key_id, "plan": ours}


def authorize(path: str, headers: dict[str, str], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The authorizer's answer to a REQUEST event for `path` (its route resource and path alike, but for
    `overrides`)."""
    request = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN.replace("/v1/audio/speech", path),
        "resource": path,
        "path": path,
        "headers": headers,
        **(overrides or {}),
    }
    answer: dict[str, Any] = load_handler("authorizer").lambda_handler(request, FakeLambdaContext())
    return answer


def effect(answer: dict[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/tts", {"x-api-key": KEY}),
        ("/api/tts", {"Authorization": f"Bearer {KEY}"}),
        ("/v1/audio/speech", {"Authorization": f"Bearer {KEY}"}),
        ("/v1/audio/speech", {"authorization": f"bearer  {KEY} "}),
    ],
)
def test_a_key_of_the_plan_is_the_usage_plan_key(
    api_keys: dict[str, str], path: str, headers: dict[str, str]
) -> None:
    # Given a key of this API's usage plan / When it comes as x-api-key or a Bearer token on /api, or a Bearer
    # token on /v1
    answer = authorize(path, headers)
    # Then it is allowed on the whole stage (the answer may be cached) and counted against its usage plan
    assert answer["usageIdentifierKey"] == KEY
    assert answer["principalId"] == api_keys["key"] == answer["context"]["apiKeyId"]
    assert effect(answer) == "Allow"
    assert answer["policyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/*"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong-key-value-0123456789"},
        {"Authorization": f"Bearer {OTHER_PLANS_KEY}"},
        {"Authorization": f"Bearer {PLANLESS_KEY}"},
        {"Authorization": f"Basic {KEY}"},
    ],
    ids=["none", "unknown", "another-plans-key", "a-key-of-no-plan", "basic-scheme"],
)
def test_on_v1_a_missing_or_wrong_key_is_unauthorized(
    api_keys: dict[str, str], headers: dict[str, str]
) -> None:
    # Given no key, an unknown one, a key of another usage plan or of none, or another scheme
    # When a /v1 route is asked for
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


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong-key-value-0123456789"},
        {"x-api-key": OTHER_PLANS_KEY},
        {"x-api-key": PLANLESS_KEY},
    ],
    ids=["none", "unknown", "another-plans-key", "a-key-of-no-plan"],
)
def test_on_api_a_missing_or_wrong_key_is_denied(api_keys: dict[str, str], headers: dict[str, str]) -> None:
    # Given no key, an unknown one, or a key of another usage plan or of none / When an /api route is asked for
    answer = authorize("/api/tts", headers)
    # Then a Deny: API Gateway's 403, in the {"detail", "code"} shape, and no usage plan key
    assert effect(answer) == "Deny"
    assert "usageIdentifierKey" not in answer


def default_session_events() -> Any:
    """The event hooks of boto3's default session, through which the authorizer makes its clients."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION.events


def record_api_gateway_calls() -> list[str]:
    """The names of the API Gateway operations the code calls from now on."""
    calls: list[str] = []
    default_session_events().register("before-call.api-gateway", lambda model, **_: calls.append(model.name))
    return calls


def test_only_the_plans_keys_are_read(api_keys: dict[str, str]) -> None:
    # Given the API Gateway calls recorded from a new container's first request on
    calls = record_api_gateway_calls()
    # When a request with a key comes, then another
    authorize("/api/tts", {"x-api-key": KEY})
    authorize("/api/tts", {"x-api-key": OTHER_PLANS_KEY})
    # Then the keys were read once, from the plan (its name found among the plans): never the account's keys,
    # whose values GetApiKeys/GetApiKey would answer for every key
    assert calls == ["GetUsagePlans", "GetUsagePlanKeys"]


def test_the_keys_are_kept_as_digests_not_values(api_keys: dict[str, str], authorizer: ModuleType) -> None:
    # Given a container that read the plan's keys
    authorize("/api/tts", {"x-api-key": KEY})
    # When what its cache holds is read
    held = vars(authorizer.plan_keys)
    # Then the key's SHA-256 names its id, and its value is nowhere
    assert held["_digests"] == {authorizer.digest(KEY): api_keys["key"]}
    assert len(authorizer.digest(KEY)) == 64 and authorizer.digest(KEY) != KEY
    assert KEY not in repr(held)


def remove_from_plan(api_keys: dict[str, str]) -> None:
    boto3.client("apigateway", region_name="us-east-1").delete_usage_plan_key(
        usagePlanId=api_keys["plan"], keyId=api_keys["key"]
    )


def test_keys_are_read_once_then_cached(api_keys: dict[str, str], authorizer: ModuleType) -> None:
    # Given a first request that read the keys / When the key leaves the plan and is asked for again at once
    authorize("/api/tts", {"x-api-key": KEY})
    remove_from_plan(api_keys)
    cached = authorize("/api/tts", {"x-api-key": KEY})
    # Then the cached answer holds until the cache is read afresh
    assert effect(cached) == "Allow"
    authorizer.plan_keys.clear()
    assert effect(authorize("/api/tts", {"x-api-key": KEY})) == "Deny"


def test_the_key_cache_reads_the_keys_again_after_five_minutes(
    api_keys: dict[str, str], authorizer: ModuleType
) -> None:
    # Given a key cache on a clock of our own that read the keys, then the key removed from the plan
    now = [1_000.0]
    cache = authorizer.KeyCache(clock=lambda: now[0])
    assert cache.id_of(KEY) == api_keys["key"]
    remove_from_plan(api_keys)
    # When five minutes have passed, then a moment more
    now[0] += authorizer.KEYS_CACHE_SECONDS
    at_five_minutes = cache.id_of(KEY)
    now[0] += 1
    after = cache.id_of(KEY)
    # Then the key counted for the five minutes, and not after
    assert authorizer.KEYS_CACHE_SECONDS == 300
    assert at_five_minutes == api_keys["key"]
    assert after is None


class _Body:
    """A raw HTTP body as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def refuse_api_gateway_calls() -> Callable[[], None]:
    """API Gateway answers every call 403 AccessDeniedException (as before the stack's policy is attached),
    on the wire, ahead of moto; the returned function lets calls through again."""
    events = default_session_events()

    def deny(request: Any, **_: Any) -> AWSResponse:
        body = b'{"message": "User is not authorized to perform: apigateway:GET"}'
        headers = {"x-amzn-ErrorType": "AccessDeniedException", "Content-Type": "application/json"}
        return AWSResponse(request.url, 403, headers, _Body(body))

    events.register_first("before-send.api-gateway", deny)
    return lambda: events.unregister("before-send.api-gateway", deny)


@pytest.fixture
def log_records(authorizer: ModuleType) -> Iterator[list[logging.LogRecord]]:
    """What the authorizer's logger writes, as records."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    target = logging.getLogger(authorizer.logger.name)
    target.addHandler(handler)
    yield records
    target.removeHandler(handler)


def test_a_failed_read_keeps_the_last_good_keys_for_fifteen_minutes_then_refuses_every_key(
    api_keys: dict[str, str], authorizer: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a container (on a clock of our own) that read the keys, after which API Gateway refuses every read
    now = [1_000.0]
    monkeypatch.setattr(authorizer, "plan_keys", authorizer.KeyCache(clock=lambda: now[0]))
    assert effect(authorize("/api/tts", {"x-api-key": KEY})) == "Allow"
    refuse_api_gateway_calls()
    # When the keys are due again (5 minutes), and then until 15 minutes after the good read, and past it
    now[0] += authorizer.KEYS_CACHE_SECONDS + 1
    while_failing = authorize("/api/tts", {"x-api-key": KEY})
    now[0] = 1_000.0 + authorizer.KEYS_KEPT_SECONDS
    at_fifteen_minutes = authorize("/api/tts", {"x-api-key": KEY})
    now[0] += 1
    # Then the last good set answers for the 15 minutes (no 500, no made-up Deny) and then fails closed:
    # a Deny on /api, Unauthorized on /v1
    assert authorizer.KEYS_KEPT_SECONDS == 900
    assert effect(while_failing) == "Allow" and effect(at_fifteen_minutes) == "Allow"
    assert effect(authorize("/api/tts", {"x-api-key": KEY})) == "Deny"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize("/v1/models", {"Authorization": f"Bearer {KEY}"})


def test_with_no_keys_read_every_key_is_refused_logged_once_and_read_again_after_30_seconds(
    api_keys: dict[str, str],
    authorizer: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    log_records: list[logging.LogRecord],
) -> None:
    # Given a new container (on a clock of our own) whose reads of the keys API Gateway refuses
    now = [1_000.0]
    monkeypatch.setattr(authorizer, "plan_keys", authorizer.KeyCache(clock=lambda: now[0]))
    let_through = refuse_api_gateway_calls()
    calls = record_api_gateway_calls()
    # When ten requests with a good key come within 30 seconds
    answers = [authorize("/api/tts", {"x-api-key": KEY}) for _ in range(10)]
    # Then each is refused, after one read (not one per request), and the reason is logged once
    assert {effect(answer) for answer in answers} == {"Deny"}
    assert calls == ["GetUsagePlans"]
    errors = [record for record in log_records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "could not be read" in errors[0].getMessage()
    assert KEY not in repr([record.__dict__ for record in log_records])
    # And when reads work again, the next request 30 seconds on reads the keys and is allowed (logged once)
    let_through()
    now[0] += authorizer.KEYS_RETRY_SECONDS
    assert effect(authorize("/api/tts", {"x-api-key": KEY})) == "Allow"
    assert [record.getMessage() for record in log_records[1:]] == [
        "The usage plan's API keys were read again"
    ]


def emf_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def test_denials_are_counted_in_a_metric_not_logged_one_line_each(
    api_keys: dict[str, str],
    authorizer: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    log_records: list[logging.LogRecord],
) -> None:
    # Given a container whose denial counter runs on a clock of our own
    now = [1_000.0]
    monkeypatch.setattr(authorizer, "denials", authorizer.DenialCounter(clock=lambda: now[0]))
    # When a flood of 50 requests comes within the minute, with made-up keys and none, and one more a minute on
    for number in range(50):
        authorize("/api/tts", {"x-api-key": f"made-up-key-{number}"} if number % 2 else {})
    within_the_minute = emf_lines(capsys.readouterr().out)
    now[0] += authorizer.DENIALS_FLUSH_SECONDS
    authorize("/api/tts", {})
    a_minute_on = emf_lines(capsys.readouterr().out)
    # Then the first denial is a metric line at once, the other 49 wait, and one line a minute on counts them
    # with the new one; nothing is logged for any of them
    assert len(within_the_minute) == 1 and len(a_minute_on) == 1
    first, second = within_the_minute[0], a_minute_on[0]
    assert first["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SpeechApiTests"
    assert (first["ApiKeyDenials"], first["ApiKeyMissing"]) == ([1.0], [1.0])
    assert (second["ApiKeyDenials"], second["ApiKeyMissing"], second["ApiKeyUnknown"]) == (
        [50.0],
        [25.0],
        [25.0],
    )
    assert log_records == []


@pytest.mark.parametrize(
    ("event", "door"),
    [
        ({"path": "/speech/v1/models", "resource": "/v1/models"}, "/v1"),
        ({"path": "/v1/models", "resource": "/api/tts"}, "/api"),
        ({"path": "/speech/v1/models/whisper-1", "resource": None}, "/v1"),
    ],
    ids=["custom-domain-base-path", "resource-over-path", "method-arn-when-no-resource"],
)
def test_the_door_is_told_by_the_route_resource_not_the_path(
    api_keys: dict[str, str], event: dict[str, Any], door: str
) -> None:
    # Given a request without a key whose path (a custom domain's base path in front) and route resource
    # (or, without one, the methodArn's resource) disagree
    route = "/v1/models/whisper-1" if door == "/v1" else "/api/tts"
    overrides = {"methodArn": METHOD_ARN.replace("/v1/audio/speech", route), **event}
    # When it is authorized / Then the refusal is in the shape of the route's door, whatever the path
    if door == "/v1":
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorize(route, {}, overrides)
    else:
        assert effect(authorize(route, {}, overrides)) == "Deny"


def test_the_owner_of_uploads_and_jobs_is_the_key_the_authorizer_named() -> None:
    # Given an event whose identity carries no key id, but whose authorizer context names one
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from speech_common.http_kit.event import caller
    from tests.helpers import api_event

    event = api_event("GET", "/api/jobs/x", api_key_id=None)
    event["requestContext"]["authorizer"] = {"apiKeyId": "key-from-authorizer"}
    # When the caller is read / Then it is that key's id
    assert caller(APIGatewayProxyEvent(event)) == "key-from-authorizer"
