"""A running job's progress written to its row as its pieces finish, without a write per piece when they come fast.

The first count (0 of the pieces cut) and the last (all done) are written at once; the others at most once every
PROGRESS_WRITE_SECONDS, the latest count then written when that time is up. Every write is conditional (`advance`):
only while the job runs, only forward. So pieces finishing together in parallel threads, a count told out of
order, a worker that lost its lease, or a resumed run counting its kept pieces again from 0 never move it back: the
resumed run's count shows once it passes what the last run had reached. A write that fails is logged, and the
job goes on (its progress is a view, not its state).
"""

from __future__ import annotations

import threading
import time

from speech_common.jobs.store import JobStore
from speech_common.observability import logger

PROGRESS_WRITE_SECONDS = 1.0


class ProgressWriter:
    """Called (done, total) from the pieces' threads; `close()` once the work has ended (drops a pending write)."""

    def __init__(self, store: JobStore, job_id: str, *, every: float = PROGRESS_WRITE_SECONDS) -> None:
        self._store = store
        self._job_id = job_id
        self._every = every
        self._lock = threading.Lock()
        self._latest: tuple[int, int] | None = None
        self._written: tuple[int, int] | None = None
        self._written_at = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._closed or (self._latest is not None and done <= self._latest[0]):
                return
            self._latest = (done, total)
            wait = self._written_at + self._every - time.monotonic()
            if self._written is None or done >= total or wait <= 0:
                self._write()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._when_due)
                self._timer.daemon = True
                self._timer.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()

    def __enter__(self) -> ProgressWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _when_due(self) -> None:
        with self._lock:
            self._timer = None
            if not self._closed and self._latest != self._written:
                self._write()

    def _write(self) -> None:
        """The latest count to the row. Call with the lock held."""
        latest = self._latest
        assert latest is not None
        self._written, self._written_at = latest, time.monotonic()
        try:
            self._store.advance(self._job_id, *latest)
        except Exception as exc:  # DynamoDB unreachable for a moment: the next count tries again
            logger.warning("the job's progress was not written", extra={"error_type": type(exc).__name__})
