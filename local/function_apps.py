"""A streamed function's web app in a child process, started as the Lambda Web Adapter starts it.

On Lambda, a function behind the Lambda Web Adapter (LWA) has its start script as Handler (run.sh): the adapter
layer's bootstrap runs `$LAMBDA_TASK_ROOT/$_HANDLER`, which starts a web server on $AWS_LWA_PORT, and the adapter
sends requests once the app passes its readiness check (by default GET / answering below 500). `make serve` does
the same for a function with a streamed route: the same script, in the function's directory, with the environment
its workers would get (local.runtime: template, --env-vars, engine choice, embedded AWS), a free loopback port as
AWS_LWA_PORT (and PORT), and the function's layers on PYTHONPATH (where /opt/python puts them on Lambda).
The app starts on the function's first streamed request (or at start-up with --warm-containers EAGER), starts
again when it has exited or its code changed, and stops with the server (local/web_app_guard.py sees to it even
when the server is killed).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from local import limits
from local.pool import WorkerSpec
from local.runtime import INIT_TIMEOUT_S, ProcessLambdaRuntime
from local.sam_adapter import LambdaFunction

LOG = logging.getLogger(__name__)

GUARD_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_app_guard.py")
READINESS_POLL_S = 0.01  # LWA polls every 10 ms during init
STOP_TIMEOUT_S = 5.0
LOOPBACK = "127.0.0.1"


@dataclass
class _App:
    spec: WorkerSpec
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


class FunctionApps:
    """One web app process per streamed function, shared by its concurrent requests (the app serves them all, as
    uvicorn does; Lambda would give each its own execution environment)."""

    def __init__(self, runtime: ProcessLambdaRuntime) -> None:
        self._runtime = runtime
        self._apps: dict[str, _App] = {}
        self._starting: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False

    def port_of(self, function: LambdaFunction, deadline: float | None) -> int:
        """The loopback port of the function's ready app, started (or restarted) first if need be.

        Raises limits.IntegrationTimeout when `deadline` (monotonic) passes first, limits.FunctionFailed when the
        app cannot start, limits.InvocationRejected when the function has no code directory."""
        spec = self._runtime.worker_spec(function)
        starting = self._starting_lock(spec.function)
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not starting.acquire(timeout=-1 if wait is None else wait):
            raise limits.IntegrationTimeout(f"{spec.function} was still starting")
        try:
            with self._lock:
                if self._closed:
                    raise limits.InvocationRejected("the server is stopping")
                app = self._apps.get(spec.function)
            if app is not None and app.alive and app.spec == spec:
                return app.port
            if app is not None:
                why = "its code changed" if app.alive else f"it exited with status {app.proc.returncode}"
                LOG.info("The web app of %s starts again: %s", spec.function, why)
                _stop(app)
            app = self._start(function, spec, deadline)
            with self._lock:
                self._apps[spec.function] = app
            return app.port
        finally:
            starting.release()

    def start_in_background(self, function: LambdaFunction) -> None:
        """Start the function's app now (--warm-containers EAGER), without waiting for it."""

        def run() -> None:
            with contextlib.suppress(limits.FunctionFailed, limits.InvocationRejected):
                self.port_of(function, time.monotonic() + INIT_TIMEOUT_S + function.timeout)

        threading.Thread(target=run, name=f"start-{function.full_path}", daemon=True).start()

    def stop(self, function: str) -> None:
        """Stop the app of the function (full path), if it runs: the next request starts another."""
        with self._lock:
            app = self._apps.pop(function, None)
        if app is not None:
            LOG.info("The web app of %s stopped answering; it starts again", function)
            _stop(app)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            apps = list(self._apps.values())
            self._apps.clear()
        for app in apps:
            _stop(app)

    def _starting_lock(self, function: str) -> threading.Lock:
        with self._lock:
            return self._starting.setdefault(function, threading.Lock())

    def _start(self, function: LambdaFunction, spec: WorkerSpec, deadline: float | None) -> _App:
        script = os.path.join(spec.code_dir, spec.handler)
        if not (os.path.isfile(script) and os.access(script, os.X_OK)):
            LOG.error(
                "%s has a streamed route, so its Handler must be an executable script in %s that starts its web "
                "app (as the Lambda Web Adapter runs it); %r is not one",
                spec.function,
                spec.code_dir,
                spec.handler,
            )
            raise limits.FunctionFailed(spec.function)
        port = _free_port()
        LOG.info("Starting the web app of %s (%s) on port %d", spec.function, spec.handler, port)
        proc = subprocess.Popen(
            [sys.executable, GUARD_SCRIPT, script],
            stdin=subprocess.PIPE,
            stdout=sys.stderr.fileno(),  # its prints are the function's log, as the workers' are
            cwd=spec.code_dir,
            env=app_env(spec, port),
        )
        app = _App(spec, port, proc)
        init_deadline = time.monotonic() + INIT_TIMEOUT_S + function.timeout
        if deadline is not None:
            init_deadline = min(init_deadline, deadline)
        started = time.monotonic()
        try:
            _wait_until_ready(app, dict(spec.env), init_deadline)
        except BaseException:
            _stop(app)
            raise
        LOG.info("The web app of %s is ready after %.2f s", spec.function, time.monotonic() - started)
        return app


def app_env(spec: WorkerSpec, port: int) -> dict[str, str]:
    """The function's worker environment, with its port and its layers where the start script expects them."""
    env = dict(spec.env)
    port_text = str(port)
    env["AWS_LWA_PORT"] = env["PORT"] = port_text
    # On Lambda the layers are in /opt/python, on the runtime's PYTHONPATH, which run.sh keeps and extends.
    env["PYTHONPATH"] = os.pathsep.join([*spec.layer_paths, *filter(None, [env.get("PYTHONPATH")])])
    # `python` in the script is this server's interpreter (the venv's), as it is the runtime's on Lambda
    # (run.sh also takes it from PYTHON).
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
    env["PYTHON"] = sys.executable
    return env


def _wait_until_ready(app: _App, env: dict[str, str], deadline: float) -> None:
    """Poll as LWA does until the app answers its readiness check (AWS_LWA_READINESS_CHECK_PROTOCOL http or tcp,
    _PATH, _HEALTHY_STATUS)."""
    protocol = env.get("AWS_LWA_READINESS_CHECK_PROTOCOL", "http").lower()
    path = env.get("AWS_LWA_READINESS_CHECK_PATH", "/")
    healthy = healthy_statuses(env.get("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS", "100-499"))
    while True:
        if not app.alive:
            LOG.error(
                "The web app of %s exited with status %s as it started", app.spec.function, app.proc.poll()
            )
            raise limits.FunctionFailed(app.spec.function)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            LOG.error("The web app of %s was not ready in time", app.spec.function)
            raise limits.IntegrationTimeout(f"{app.spec.function} was still starting")
        if _answers(app.port, protocol, path, healthy, min(remaining, 1.0)):
            return
        time.sleep(READINESS_POLL_S)


def _answers(port: int, protocol: str, path: str, healthy: set[int], timeout: float) -> bool:
    try:
        if protocol == "tcp":
            socket.create_connection((LOOPBACK, port), timeout=timeout).close()
            return True
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
        try:
            conn.request("GET", path)
            return conn.getresponse().status in healthy
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def healthy_statuses(spec: str) -> set[int]:
    """LWA's AWS_LWA_READINESS_CHECK_HEALTHY_STATUS: statuses and ranges, e.g. "200-399,404"."""
    statuses: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        with contextlib.suppress(ValueError):
            statuses.update(range(int(low), int(high or low) + 1))
    return statuses or set(range(100, 500))


def _stop(app: _App) -> None:
    """Close the guard's standard input (it stops the app's process group), then make sure it has ended."""
    with contextlib.suppress(OSError):
        if app.proc.stdin is not None:
            app.proc.stdin.close()
    try:
        app.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        app.proc.kill()
        app.proc.wait(timeout=STOP_TIMEOUT_S)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port
