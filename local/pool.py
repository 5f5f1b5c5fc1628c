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
from dataclasses import dataclass
from typing import Any

from local.worker import FRAME, write_frame

LOG = logging.getLogger(__name__)

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
_READ_CHUNK = 1 << 20


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


class WorkerPool:
    """Idle workers per function, most recently used first (the warmest)."""

    def __init__(self, max_idle_per_function: int = 4) -> None:
        self._max_idle = max_idle_per_function
        self._idle: dict[str, list[Worker]] = {}
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, spec: WorkerSpec) -> Worker:
        """A warm worker for `spec`, or a new one that is not started yet (the caller starts it)."""
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
        with self._lock:
            self._busy.discard(worker)
            idle = self._idle.setdefault(worker.spec.function, [])
            keep = not self._closed and worker.alive and len(idle) < self._max_idle
            if keep:
                idle.append(worker)
        if not keep:
            worker.kill()

    def discard(self, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()

    def start_in_background(self, spec: WorkerSpec, init_timeout: float) -> None:
        """Start a worker for `spec` now (eager start, or replacing one that crashed or timed out)."""

        def run() -> None:
            worker = self.acquire_new(spec)
            try:
                worker.start(time.monotonic() + init_timeout)
            except (WorkerTimedOut, WorkerDied, WorkerInitFailed, OSError) as exc:
                LOG.warning("replacement worker for %s failed to start: %s", spec.function, exc)
                self.discard(worker)
                return
            self.release(worker)

        threading.Thread(target=run, name=f"replace-{spec.function}", daemon=True).start()

    def acquire_new(self, spec: WorkerSpec) -> Worker:
        worker = Worker(spec)
        with self._lock:
            self._busy.add(worker)
        return worker

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for idle in self._idle.values() for w in idle] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()
