"""Budgets per API key (speech_common/budgets.py): characters and audio seconds reserved before anything is sent
upstream, per UTC day and calendar month; past one, 429 with Retry-After on both doors and nothing sent. Against
moto's DynamoDB over real HTTP, the fake OpenAI's call log showing what reached the upstream."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from speech_common import budgets
from speech_common.errors import BudgetExceeded
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    api_event,
    header,
    invoke,
    job_status,
    multipart_body,
    run_worker,
    streamed,
    stt_event,
    tts_event,
    with_api_key,
)
from tests.samples import tone


def set_budgets(monkeypatch: pytest.MonkeyPatch, **limits: int) -> None:
    """BUDGET_<NAME> for each of `limits` (characters_per_day=30, ...), as the template's parameters set them."""
    for name, value in limits.items():
        monkeypatch.setenv(f"BUDGET_{name.upper()}", str(value))
    get_settings.cache_clear()


def tts(text: str, api_key_id: str = "key-a") -> dict[str, Any]:
    return invoke("tts", with_api_key(tts_event({"text": text}), api_key_id))


def usage(api_key_id: str = "key-a") -> dict[str, Any]:
    response = invoke("jobs", api_event("GET", "/api/usage", content_type=None, api_key_id=api_key_id))
    assert response["statusCode"] == 200, response["json"]
    return response["json"]


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    return budgets.windows(now)[0].resets_at.timestamp() - now.timestamp()


def queued_messages(aws: dict[str, str]) -> int:
    sqs = boto3.session.Session().client("sqs")
    return len(sqs.receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", []))


def test_speech_within_the_budget_is_served_and_counted(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 30 characters a day
    set_budgets(monkeypatch, characters_per_day=30)
    # When it asks for 20
    response = tts("a" * 20)
    # Then it is served, and GET /api/usage shows 20 of 30 used today and this month (the month's limit the default)
    assert response["statusCode"] == 200, response["json"]
    shown = usage()
    assert shown["day"]["characters"] == {"used": 20, "limit": 30}
    assert shown["month"]["characters"] == {"used": 20, "limit": 1_000_000}
    assert shown["day"]["audio_seconds"] == {"used": 0, "limit": 28_800}
    assert shown["day"]["window"] == datetime.now(UTC).strftime("%Y-%m-%d")
    assert shown["month"]["window"] == datetime.now(UTC).strftime("%Y-%m")
    assert shown["day"]["resets_at"].endswith("T00:00:00Z")


def test_past_the_days_budget_is_a_429_with_retry_after_and_nothing_is_sent(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key that has used 20 of its 30 characters today
    set_budgets(monkeypatch, characters_per_day=30)
    assert tts("a" * 20)["statusCode"] == 200
    calls = fake_openai.calls()
    # When it asks for 20 more
    refused = tts("b" * 20)
    # Then 429 budget_exceeded, Retry-After until midnight UTC, and the upstream never heard of it
    assert refused["statusCode"] == 429
    assert refused["json"]["code"] == "budget_exceeded"
    assert set(refused["json"]) == {"detail", "code"}
    retry_after = int(header(refused, "Retry-After") or 0)
    assert abs(retry_after - seconds_to_midnight()) < 5
    assert fake_openai.calls() == calls
    # And nothing was counted for it; the 10 left can still be spent
    assert usage()["day"]["characters"]["used"] == 20
    assert tts("c" * 10)["statusCode"] == 200


def test_past_the_months_budget_is_refused_and_the_day_given_back(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a month of 30 characters and a day of 100, 20 used
    set_budgets(monkeypatch, characters_per_day=100, characters_per_month=30)
    assert tts("a" * 20)["statusCode"] == 200
    calls = fake_openai.calls()
    # When 20 more are asked for
    refused = tts("b" * 20)
    # Then the month refuses them (Retry-After until the 1st), the day's reservation is given back, nothing is sent
    assert refused["statusCode"] == 429 and refused["json"]["code"] == "budget_exceeded"
    month_ends = budgets.windows(datetime.now(UTC))[1].resets_at.timestamp()
    assert abs(int(header(refused, "Retry-After") or 0) - (month_ends - datetime.now(UTC).timestamp())) < 5
    assert "month" in refused["json"]["detail"]
    assert usage()["day"]["characters"]["used"] == 20
    assert fake_openai.calls() == calls


def test_the_v1_door_answers_openais_insufficient_quota(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 10 characters a day
    set_budgets(monkeypatch, characters_per_day=10)
    # When /v1/audio/speech asks for 20
    refused = streamed(
        "stream", tts_event({"model": "tts-1", "voice": "alloy", "input": "x" * 20}, path="/v1/audio/speech")
    )
    # Then OpenAI's shape at 429 (the SDKs raise RateLimitError), with Retry-After, and nothing sent upstream
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"]) == {
        "error": {
            "message": json.loads(refused["body"])["error"]["message"],
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    assert int(header(refused, "Retry-After") or 0) > 0
    assert fake_openai.calls() == 0


@pytest.mark.parametrize("path", ["/api/stt/", "/v1/audio/transcriptions"])
def test_audio_past_the_seconds_budget_is_refused_on_both_doors(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # Given a key with 1 second of audio a day
    set_budgets(monkeypatch, audio_seconds_per_day=1)
    body = multipart_body(
        {"model": "whisper-1"},
        {"file" if path.startswith("/v1") else "audio": ("a.wav", tone("wav", 2.0), "audio/wav")},
    )
    # When a 2-second recording is sent
    function = "stream" if path.startswith("/v1") else "stt"
    refused = streamed(function, with_api_key(stt_event(body, path=path), "key-a"))
    # Then 429, in the door's shape, once measured and before anything is sent upstream
    assert refused["statusCode"] == 429, refused["body"]
    error = json.loads(refused["body"])
    code = error["error"]["code"] if path.startswith("/v1") else error["code"]
    assert code == ("insufficient_quota" if path.startswith("/v1") else "budget_exceeded")
    assert header(refused, "Retry-After")
    assert fake_openai.calls() == 0


def test_a_transcription_is_counted_in_whole_seconds(aws: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a 1.5-second recording
    body = multipart_body({}, {"audio": ("a.wav", tone("wav", 1.5), "audio/wav")})
    # When it is transcribed
    assert invoke("stt", with_api_key(stt_event(body), "key-a"))["statusCode"] == 200
    # Then 2 seconds are counted
    assert usage()["day"]["audio_seconds"]["used"] == 2


def test_a_cache_hit_costs_nothing(aws: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a request served once (a miss: counted)
    assert header(tts("Your order has shipped."), "X-Speech-Cache") == "miss"
    counted = usage()["day"]["characters"]["used"]
    # When the same request comes again, on each door
    hit = tts("Your order has shipped.")
    assert header(hit, "X-Speech-Cache") == "hit"
    # Then nothing more is counted
    assert usage()["day"]["characters"]["used"] == counted == len("Your order has shipped.")


def test_a_failure_before_the_upstream_was_paid_gives_the_reservation_back(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given an upstream that refuses our key (it bills nothing)
    fake_openai.fail_next(401, times=10)
    # When speech is asked for
    failed = tts("Hello there")
    # Then it fails, and nothing stays counted
    assert failed["statusCode"] == 500 and failed["json"]["code"] == "upstream_auth_failed"
    assert usage()["day"]["characters"]["used"] == 0


def test_a_keys_own_limits_override_the_deployments(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the deployment's 30 characters a day, and key-b's own item: 5 a day, no monthly limit
    set_budgets(monkeypatch, characters_per_day=30)
    boto3.session.Session().client("dynamodb").put_item(
        TableName=aws["usage_table"],
        Item={
            "key_id": {"S": "key-b"},
            "window": {"S": "limits"},
            "characters_per_day": {"N": "5"},
            "characters_per_month": {"N": "0"},
        },
    )
    # When each asks for 10
    # Then key-b is refused, key-a served, and GET /api/usage shows each its own limits
    assert tts("a" * 10, "key-b")["statusCode"] == 429
    assert tts("a" * 10, "key-a")["statusCode"] == 200
    assert usage("key-b")["day"]["characters"] == {"used": 0, "limit": 5}
    assert usage("key-b")["month"]["characters"] == {"used": 0, "limit": None}
    assert usage("key-a")["day"]["characters"] == {"used": 10, "limit": 30}


def test_zero_is_no_limit(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no limits at all
    set_budgets(monkeypatch, characters_per_day=0, characters_per_month=0)
    # When a key asks for speech twice
    assert tts("a" * 50)["statusCode"] == 200
    assert tts("b" * 50)["statusCode"] == 200
    # Then both are served and counted, and no limit is shown
    assert usage()["day"]["characters"] == {"used": 100, "limit": None}


def test_a_speech_job_over_budget_is_refused_at_submission_with_nothing_queued(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 30 characters a day
    set_budgets(monkeypatch, characters_per_day=30)
    # When it submits a 40-character speech job
    refused = invoke("tts", api_event("POST", "/api/tts/jobs/", body=json.dumps({"text": "a" * 40})))
    # Then 429 at once: nothing queued, no job row, nothing sent upstream
    assert refused["statusCode"] == 429 and refused["json"]["code"] == "budget_exceeded"
    assert queued_messages(aws) == 0
    assert boto3.session.Session().client("dynamodb").scan(TableName=aws["table"])["Count"] == 0
    assert fake_openai.calls() == 0


def test_an_inline_transcription_job_over_budget_is_refused_at_submission(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 1 second of audio a day
    set_budgets(monkeypatch, audio_seconds_per_day=1)
    # When it submits a job with a 2-second file
    body = multipart_body({}, {"audio": ("a.wav", tone("wav", 2.0), "audio/wav")})
    refused = invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))
    # Then 429 at once, nothing queued
    assert refused["statusCode"] == 429 and refused["json"]["code"] == "budget_exceeded"
    assert queued_messages(aws) == 0
    assert fake_openai.calls() == 0


def test_a_job_that_fails_before_the_upstream_was_paid_gives_its_reservation_back(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a speech job accepted (its characters reserved) and an upstream that refuses our key
    accepted = invoke("tts", api_event("POST", "/api/tts/jobs/", body=json.dumps({"text": "Hello there."})))
    assert accepted["statusCode"] == 202
    assert usage()["day"]["characters"]["used"] == len("Hello there.")
    fake_openai.fail_next(401, times=10)
    # When the worker runs it
    run_worker(aws)
    # Then it failed, and its reservation was given back
    assert job_status(accepted["json"]["job_id"])["json"]["status"] == "failed"
    assert usage()["day"]["characters"]["used"] == 0


def test_an_uploads_seconds_are_reserved_by_the_worker_once_measured(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 1 second of audio a day, and a 2-second upload (not measured at submission: no time left)
    set_budgets(monkeypatch, audio_seconds_per_day=1)
    from tests.integration.test_uploads_and_jobs import NO_TIME_TO_MEASURE, new_upload, send_file, stt_with

    upload = new_upload()
    assert send_file(upload, tone("wav", 2.0)).status_code == 204
    accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/", context=NO_TIME_TO_MEASURE)
    assert accepted["statusCode"] == 202, accepted["json"]
    # When the worker measures it
    run_worker(aws)
    # Then the job fails budget_exceeded before anything is sent upstream
    status = job_status(accepted["json"]["job_id"])["json"]
    assert (status["status"], status["error"]["code"]) == ("failed", "budget_exceeded")
    assert fake_openai.calls() == 0


def test_an_upload_over_budget_is_refused_at_submission_with_nothing_queued(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 1 second of audio a day, and a 2-second upload
    set_budgets(monkeypatch, audio_seconds_per_day=1)
    from tests.integration.test_uploads_and_jobs import new_upload, send_file, stt_with

    upload = new_upload()
    assert send_file(upload, tone("wav", 2.0)).status_code == 204
    # When a job is asked for it
    refused = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")
    # Then 429 at once: no job recorded, nothing queued or sent, nothing counted
    assert refused["statusCode"] == 429 and refused["json"]["code"] == "budget_exceeded"
    assert boto3.session.Session().client("dynamodb").scan(TableName=aws["table"])["Count"] == 0
    assert queued_messages(aws) == 0
    assert fake_openai.calls() == 0
    assert usage()["day"]["audio_seconds"]["used"] == 0


def test_an_uploads_seconds_are_reserved_at_submission_and_counted_once(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key with 100 seconds of audio a day, and a 2-second upload
    set_budgets(monkeypatch, audio_seconds_per_day=100)
    from tests.integration.test_uploads_and_jobs import new_upload, send_file, stt_with

    upload = new_upload()
    assert send_file(upload, tone("wav", 2.0)).status_code == 204
    # When a job is asked for it
    accepted = stt_with({"upload_id": upload["upload_id"]}, path="/api/stt/jobs/")
    # Then its seconds are counted at submission
    assert accepted["statusCode"] == 202, accepted["json"]
    counted = usage()["day"]["audio_seconds"]["used"]
    assert counted >= 2
    # And once the worker has transcribed it, its 2 s of speech (a tone is voice throughout) are counted once
    run_worker(aws)
    assert job_status(accepted["json"]["job_id"])["json"]["status"] == "succeeded"
    assert usage()["day"]["audio_seconds"]["used"] == 2


def test_an_uploads_reservation_is_made_once_however_often_the_worker_runs(aws: dict[str, str]) -> None:
    # Given the budgets of the usage table
    settings = get_settings()
    # When the same job reserves twice (a retried delivery)
    first = budgets.reserve_once(settings, "key-a", budgets.AUDIO_SECONDS, 7, token="job-1")
    again = budgets.reserve_once(settings, "key-a", budgets.AUDIO_SECONDS, 7, token="job-1")
    # Then it is counted once
    assert first == again
    day, _ = budgets.usage_of(settings, "key-a")
    assert day.used[budgets.AUDIO_SECONDS] == 7


def test_concurrent_reservations_cannot_overshoot_the_limit(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit of 10 characters a day
    set_budgets(monkeypatch, characters_per_day=10)
    settings = get_settings()

    def one(_: int) -> bool:
        try:
            budgets.reserve(settings, "key-a", budgets.CHARACTERS, 1)
        except BudgetExceeded:
            return False
        return True

    # When 40 reservations of 1 race each other
    with ThreadPoolExecutor(max_workers=16) as pool:
        granted = sum(pool.map(one, range(40)))
    # Then exactly 10 are granted and the count is 10: the condition and the addition are one step
    assert granted == 10
    assert budgets.usage_of(settings, "key-a")[0].used[budgets.CHARACTERS] == 10


@pytest.mark.parametrize(
    ("now", "period", "retry_after"),
    [
        (datetime(2025, 1, 31, 23, 59, 0, tzinfo=UTC), "day", 60),
        (datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC), "month", 16 * 86_400 + 12 * 3600),
        (datetime(2024, 12, 31, 23, 0, 0, tzinfo=UTC), "month", 3600),
    ],
)
def test_retry_after_is_the_time_until_the_refusing_window_resets(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime, period: str, retry_after: int
) -> None:
    # Given one window (the day or the month) with room for 5 characters
    set_budgets(monkeypatch, **{f"characters_per_{period}": 5})
    settings = get_settings()
    budgets.reserve(settings, "key-a", budgets.CHARACTERS, 5, now=now)
    # When one more is asked for at `now`
    with pytest.raises(BudgetExceeded) as refused:
        budgets.reserve(settings, "key-a", budgets.CHARACTERS, 1, now=now)
    # Then it is refused until that window resets
    assert refused.value.retry_after == retry_after


def test_without_a_usage_table_get_usage_says_budgets_are_not_configured(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no usage table
    monkeypatch.delenv("USAGE_TABLE")
    get_settings.cache_clear()
    # When GET /api/usage is asked
    response = invoke("jobs", api_event("GET", "/api/usage", content_type=None))
    # Then a clear 500 with its code
    assert (response["statusCode"], response["json"]["code"]) == (500, "budgets_not_configured")
