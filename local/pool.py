"""Worker processes, one handler each, kept warm between invocations and replaced when they die."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from local.worker import FRAME, write_frame

LOG = logging.getLogger(__name__)

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
_READ_CHUNK = 1 << 20
# Workers per function (`python -m local.server --concurrency`, LOCAL_CONCURRENCY): on a 2-core laptop the offline
# engine is CPU-bound, so more workers than this add memory and context switches, not throughput.
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class WorkerSpec:
    """Everything that makes a worker what it is; a worker only serves an equal spec."""

    function: str
    handler: str
    code_dir: str
    layer_paths: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    # Changes when a file of the code or of a layer changes: the worker restarts, as sam local's warm
    # containers do when they see a code change.
    code_version: tuple[int, int] = (0, 0)


class WorkerTimedOut(Exception):
    pass


class WorkerDied(Exception):
    """The process ended (crash, sys.exit, os._exit, signal); str() is Lambda's wording of the exit."""


class WorkerInitFailed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("errorMessage", "init failed"))
        self.error = error


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, deadline: float) -> None:
        """Spawn the process and wait (until `deadline`, monotonic) for its handler to be imported."""
        config = {
            "handler": self.spec.handler,
            "code_dir": self.spec.code_dir,
            "layer_paths": self.spec.layer_paths,
        }
        self._proc = subprocess.Popen(
            [sys.executable, WORKER_SCRIPT, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(self.spec.env),
            cwd=self.spec.code_dir,
        )
        self.pid = self._proc.pid
        header, _ = self._read_frame(deadline)
        if header.get("error"):
            raise WorkerInitFailed(header["error"])

    def invoke(self, header: dict[str, Any], payload: bytes, deadline: float) -> tuple[bool, bytes]:
        """Send one event; the handler's (ok, response bytes). Raises WorkerTimedOut / WorkerDied."""
        assert self._proc is not None and self._proc.stdin is not None
        try:
            write_frame(self._proc.stdin, {"type": "invoke", **header}, payload)
        except (BrokenPipeError, ValueError) as exc:
            raise WorkerDied(self._exit_reason()) from exc
        reply, body = self._read_frame(deadline)
        return bool(reply.get("ok")), body

    def kill(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            LOG.warning("worker %s did not exit after SIGKILL", self.pid)
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def _read_frame(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        head_len, payload_len = FRAME.unpack(self._read_exact(FRAME.size, deadline))
        header = json.loads(self._read_exact(head_len, deadline))
        return header, self._read_exact(payload_len, deadline)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WorkerTimedOut()
            chunk = os.read(fd, min(size - len(data), _READ_CHUNK))
            if not chunk:
                raise WorkerDied(self._exit_reason())
            data += chunk
        return bytes(data)

    def _exit_reason(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "Runtime closed its connection"
        if code < 0:
            return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        return f"exit status {code}"


class FifoSlots:
    """A counting semaphore that serves its waiters in arrival order. (threading.Semaphore lets a newcomer take
    the slot a waiter was woken for: under load some requests would wait far longer than the rest.)"""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def acquire(self, deadline: float | None) -> bool:
        """Take a slot, waiting until `deadline` (monotonic; None: no limit); False if none came in time."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            if deadline is not None and deadline <= time.monotonic():
                return False
            waiter = threading.Event()
            self._waiters.append(waiter)
        if waiter.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
            return True
        with self._lock:
            if waiter.is_set():  # handed a slot just as the wait ran out
                return True
            self._waiters.remove(waiter)
            return False

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        with self._lock:
            return len(self._waiters)

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the slot passes straight to the longest waiter
            else:
                self._free += 1


class QueueTimedOut(Exception):
    """Every worker of the function stayed busy until the caller's deadline."""


class WorkerPool:
    """At most `concurrency` workers per function, kept warm between invocations, as Lambda keeps up to its
    concurrency of execution environments; an invocation beyond them waits for one to be free (first come,
    first served). Idle workers are lent most recently used first (the warmest)."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._slots: dict[str, FifoSlots] = {}
        self._idle: dict[str, list[Worker]] = {}
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, spec: WorkerSpec, deadline: float | None = None) -> Worker:
        """A warm worker for `spec`, or a new one that is not started yet (the caller starts it). Waits while
        the function has `concurrency` workers busy; raises QueueTimedOut at `deadline` (monotonic)."""
        if not self._slots_of(spec.function).acquire(deadline):
            raise QueueTimedOut(spec.function)
        return self._lend(spec)

    def try_acquire(self, spec: WorkerSpec) -> Worker | None:
        """As acquire, but None at once when every worker of the function is busy."""
        if not self._slots_of(spec.function).acquire(deadline=time.monotonic()):
            return None
        return self._lend(spec)

    def _slots_of(self, function: str) -> FifoSlots:
        with self._lock:
            slots = self._slots.get(function)
            if slots is None:
                slots = self._slots[function] = FifoSlots(self.concurrency)
            return slots

    def _lend(self, spec: WorkerSpec) -> Worker:
        stale: list[Worker] = []
        chosen: Worker | None = None
        with self._lock:
            idle = self._idle.get(spec.function, [])
            while idle and chosen is None:
                worker = idle.pop()
                if worker.spec == spec and worker.alive:
                    chosen = worker
                else:
                    stale.append(worker)  # the template or the environment changed, or it died idle
            if chosen is None:
                chosen = Worker(spec)
            self._busy.add(chosen)
        for worker in stale:
            worker.kill()
        return chosen

    def release(self, worker: Worker) -> None:
        """The worker is idle again: kept warm (its slot bounds how many there are)."""
        with self._lock:
            self._busy.discard(worker)
            keep = not self._closed and worker.alive
            if keep:
                self._idle.setdefault(worker.spec.function, []).append(worker)
        if not keep:
            worker.kill()
        self._slots_of(worker.spec.function).release()

    def discard(self, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()
        self._slots_of(worker.spec.function).release()

    def start_in_background(self, spec: WorkerSpec, init_timeout: float) -> None:
        """Start a worker for `spec` now, if the function has a free slot (eager start, or replacing one that
        crashed or timed out); with none free, the invocations holding them start what they need."""

        def run() -> None:
            worker = self.try_acquire(spec)
            if worker is None:
                return
            if worker.pid is not None:  # already warm
                self.release(worker)
                return
            try:
                worker.start(time.monotonic() + init_timeout)
            except (WorkerTimedOut, WorkerDied, WorkerInitFailed, OSError) as exc:
                LOG.warning("replacement worker for %s failed to start: %s", spec.function, exc)
                self.discard(worker)
                return
            self.release(worker)

        threading.Thread(target=run, name=f"replace-{spec.function}", daemon=True).start()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for idle in self._idle.values() for w in idle] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()
