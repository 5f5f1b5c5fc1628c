"""How long an upstream call may still take in this invocation."""

from __future__ import annotations

import time
from typing import Any, Protocol

from speech_common.settings import Settings


class _LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """A point in time (monotonic clock) past which no upstream work may run."""

    def __init__(self, seconds: float) -> None:
        self._expires_at = time.monotonic() + max(seconds, 0.0)

    @classmethod
    def for_invocation(cls, context: Any, settings: Settings) -> Deadline:
        """The gateway's budget, shortened to the Lambda's own remaining time less a margin."""
        seconds = settings.upstream_budget_seconds
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            lambda_left = remaining_ms() / 1000 - settings.deadline_margin_seconds
            seconds = min(seconds, lambda_left)
        return cls(seconds)

    def remaining(self) -> float:
        return max(self._expires_at - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0
