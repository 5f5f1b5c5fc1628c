"""Upstream calls retried on transient failures, never past the request's deadline (tenacity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from speech_common.deadline import Deadline

# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_SECONDS: Final = 1.0
MAX_RETRY_AFTER_SECONDS: Final = 5.0


def retry_within_deadline[T](
    attempt: Callable[[float], T],
    *,
    deadline: Deadline,
    max_attempts: int,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float] = lambda _: 0.0,
) -> T:
    """`attempt(seconds_left)`, retried with jittered backoff on transient errors, never past the deadline.

    A retry waits at least what the upstream asked for (`retry_after`, capped), and none starts
    with less than MIN_ATTEMPT_SECONDS left: the last error is raised instead.
    """
    backoff = wait_exponential_jitter(multiplier=0.25, max=2.0, jitter=0.25)

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        asked = min(retry_after(failure), MAX_RETRY_AFTER_SECONDS) if failure else 0.0
        return max(backoff(state), asked)

    def stop(state: RetryCallState) -> bool:
        no_time = deadline.remaining() - state.upcoming_sleep < MIN_ATTEMPT_SECONDS
        return state.attempt_number >= max_attempts or no_time

    for try_ in Retrying(stop=stop, wait=wait, retry=retry_if_exception(is_transient), reraise=True):
        with try_:
            return attempt(deadline.remaining())
    raise AssertionError("unreachable: Retrying either returns or re-raises")
