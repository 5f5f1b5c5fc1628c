"""Upstream calls retried on transient failures, never past the request's deadline (tenacity)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from speech_common.deadline import Deadline
from speech_common.parallel import Stopped

# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_SECONDS: Final = 1.0
MAX_RETRY_AFTER_SECONDS: Final = 5.0


class RetryBudget:
    """Retries shared by the parallel calls of one request, and a way to stop them all.

    Without it each chunk of a long text retries on its own: a rate-limited upstream then gets
    chunks x attempts calls for one request, just when it asked for fewer.
    """

    def __init__(self, retries: int) -> None:
        self._retries = retries
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def take(self) -> bool:
        """One retry, if any is left and the request is still wanted."""
        with self._lock:
            if self._retries <= 0 or self.cancelled.is_set():
                return False
            self._retries -= 1
            return True

    def cancel(self) -> None:
        self.cancelled.set()


def retry_within_deadline[T](
    attempt: Callable[[float], T],
    *,
    deadline: Deadline,
    max_attempts: int,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float] = lambda _: 0.0,
    budget: RetryBudget | None = None,
) -> T:
    """`attempt(seconds_left)`, retried with jittered backoff on transient errors, never past the deadline.

    A retry waits at least what the upstream asked for (`retry_after`, capped), and none starts
    with less than MIN_ATTEMPT_SECONDS left: the last error is raised instead. With a `budget`,
    retries come out of it (shared with the request's other calls), and a cancelled budget stops
    this call before its next attempt (Stopped).
    """
    backoff = wait_exponential_jitter(multiplier=0.25, max=2.0, jitter=0.25)

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        asked = min(retry_after(failure), MAX_RETRY_AFTER_SECONDS) if failure else 0.0
        return max(backoff(state), asked)

    def stop(state: RetryCallState) -> bool:
        no_time = deadline.remaining() - state.upcoming_sleep < MIN_ATTEMPT_SECONDS
        if state.attempt_number >= max_attempts or no_time:
            return True
        return budget is not None and not budget.take()

    for try_ in Retrying(stop=stop, wait=wait, retry=retry_if_exception(is_transient), reraise=True):
        with try_:
            if budget is not None and budget.cancelled.is_set():
                raise Stopped()
            return attempt(deadline.remaining())
    raise AssertionError("unreachable: Retrying either returns or re-raises")
