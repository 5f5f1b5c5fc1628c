"""How long an upstream call may still take in this invocation."""

from __future__ import annotations

import time
from typing import Any

from speech_common.settings import Settings


class Deadline:
    """A point in time (monotonic clock) past which no upstream work may run."""

    def __init__(self, seconds: float) -> None:
        self._expires_at = time.monotonic() + max(seconds, 0.0)

    @classmethod
    def for_invocation(
        cls, context: Any, settings: Settings, *, request_time_epoch_ms: int | None = None
    ) -> Deadline:
        """The upstream budget, shortened to what the gateway and the Lambda still allow.

        The gateway's clock started when it received the request (`requestTimeEpoch`), before any
        cold start; the answer must still be encoded and returned after the upstream call.
        """
        seconds = settings.upstream_budget_seconds
        if request_time_epoch_ms is not None:
            waited = time.time() - request_time_epoch_ms / 1000
            if 0 <= waited < settings.gateway_timeout_seconds:  # ignore clocks that disagree
                seconds = min(
                    seconds, settings.gateway_timeout_seconds - waited - settings.response_reserve_seconds
                )
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            lambda_left = remaining_ms() / 1000 - settings.deadline_margin_seconds
            seconds = min(seconds, lambda_left)
        return cls(seconds)

    def remaining(self) -> float:
        return max(self._expires_at - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0
