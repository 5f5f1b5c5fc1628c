"""Upstream calls never outlive the gateway or the Lambda."""

import time

from speech_common.deadline import Deadline
from speech_common.settings import Settings
from tests.helpers import FakeLambdaContext


def test_the_gateway_budget_caps_a_long_lambda_timeout() -> None:
    # Given a 27 s upstream budget and a Lambda with 15 minutes left
    settings = Settings(upstream_budget_seconds=27, deadline_margin_seconds=1)
    # When the deadline is set
    deadline = Deadline.for_invocation(FakeLambdaContext(remaining_ms=900_000), settings)
    # Then the budget, not the Lambda, decides: at most 27 s
    assert 26 < deadline.remaining() <= 27


def test_the_lambda_remaining_time_less_a_margin_caps_the_budget() -> None:
    # Given a 27 s budget, a 1 s margin and a Lambda with 5 s left
    settings = Settings(upstream_budget_seconds=27, deadline_margin_seconds=1)
    # When the deadline is set
    deadline = Deadline.for_invocation(FakeLambdaContext(remaining_ms=5_000), settings)
    # Then 5 - 1 = 4 s are left for the upstream
    assert 3 < deadline.remaining() <= 4


def test_a_lambda_out_of_time_has_an_expired_deadline() -> None:
    # Given a Lambda with 0.5 s left, less than the default 1 s margin / When the deadline is set
    deadline = Deadline.for_invocation(FakeLambdaContext(remaining_ms=500), Settings())
    # Then it has expired already, with nothing remaining
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
    # Given a 27 s budget and request times years in the past or a minute in the future
    settings = Settings(upstream_budget_seconds=27)
    for received in (1428582896000, int((time.time() + 60) * 1000)):  # years ago, or in the future
        # When the deadline is set from each
        deadline = Deadline.for_invocation(FakeLambdaContext(), settings, request_time_epoch_ms=received)
        # Then the request time is ignored and the whole budget is left
        assert 26 < deadline.remaining() <= 27
