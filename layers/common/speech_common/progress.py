"""How far a piecewise work has got: a long recording's pieces heard, a long text's pieces read.

The core counts; whoever asked (a job's worker) is told (done, total) once the pieces are cut and again as each
piece finishes, from the pieces' own threads. A piece read back rather than paid again (a resumed job's kept piece,
a cached piece of speech) counts as done like any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# Told (done, total): possibly from several threads at once, and not necessarily in order.
ProgressReport = Callable[[int, int], None]


class PieceCount:
    """The pieces done of `total`, told to `report` (when there is one): (0, total) at once, then at each piece."""

    def __init__(self, total: int, report: ProgressReport | None) -> None:
        self.total = total
        self._report = report
        self._done = 0
        self._lock = threading.Lock()
        if report is not None:
            report(0, total)

    def one_done(self) -> None:
        if self._report is None:
            return
        with self._lock:
            self._done = min(self._done + 1, self.total)
            done = self._done
        self._report(done, self.total)
