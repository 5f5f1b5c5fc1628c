"""Upstream calls never outlive the gateway or the Lambda."""

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
