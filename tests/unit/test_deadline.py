"""Upstream calls never outlive the gateway or the Lambda."""

import time

from speech_common.deadline import Deadline
from speech_common.settings import Settings
from tests.helpers import FakeLambdaContext


def test_the_gateway_budget_caps_a_long_lambda_timeout() -> None:
    settings = Settings(upstream_budget_seconds=27, deadline_margin_seconds=1)
    deadline = Deadline.for_invocation(FakeLambdaContext(remaining_ms=900_000), settings)
    assert 26 < deadline.remaining() <= 27


def test_the_lambda_remaining_time_less_a_margin_caps_the_budget() -> None:
    settings = Settings(upstream_budget_seconds=27, deadline_margin_seconds=1)
    deadline = Deadline.for_invocation(FakeLambdaContext(remaining_ms=5_000), settings)
    assert 3 < deadline.remaining() <= 4


def test_a_lambda_out_of_time_has_an_expired_deadline() -> None:
    deadline = Deadline.for_invocation(FakeLambdaContext(remaining_ms=500), Settings())
    assert deadline.expired() and deadline.remaining() == 0


def test_time_the_gateway_already_waited_is_taken_off() -> None:
    # Given a request the gateway received 10 s ago (a cold start, say)
    settings = Settings(gateway_timeout_seconds=29, response_reserve_seconds=2)
    received = int((time.time() - 10) * 1000)
    # When the deadline is set / Then 29 - 10 - 2 = 17 s are left for the upstream
    deadline = Deadline.for_invocation(
        FakeLambdaContext(remaining_ms=30_000), settings, request_time_epoch_ms=received
    )
    assert 16 < deadline.remaining() <= 17


def test_a_request_time_from_a_disagreeing_clock_is_ignored() -> None:
    settings = Settings(upstream_budget_seconds=27)
    for received in (1428582896000, int((time.time() + 60) * 1000)):  # years ago, or in the future
        deadline = Deadline.for_invocation(FakeLambdaContext(), settings, request_time_epoch_ms=received)
        assert 26 < deadline.remaining() <= 27
