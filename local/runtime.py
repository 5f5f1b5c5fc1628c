"""Runs a function's handler in a warm worker process, not a container: the runtime behind SAM's runtime seam.

SAM's LocalLambdaRunner resolves the function (code path, layers, timeout, environment) and calls the runtime's
`invoke`; local.sam_adapter.SamLambdaRuntime hands that to ProcessLambdaRuntime.invoke as a LambdaFunction and
writes what it returns (the function's response, or Lambda's error object) where LocalApigwService reads it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from local import limits
from local.pool import (
    QueueTimedOut,
    WorkerDied,
    WorkerInitFailed,
    WorkerPool,
    WorkerSpec,
    WorkerTimedOut,
)
from local.sam_adapter import LambdaFunction

LOG = logging.getLogger(__name__)

# Lambda gives an on-demand init phase 10 s of its own before the function timeout applies.
INIT_TIMEOUT_S = 10.0
ACCOUNT_ID = "123456789012"
_MAX_WATCHED_FILES = 5000
# AWS's public Lambda Web Adapter layers (LambdaAdapterLayerArm64, LambdaAdapterLayerX86).
LAMBDA_WEB_ADAPTER_LAYER = ":layer:LambdaAdapterLayer"


class ProcessLambdaRuntime:
    def __init__(self, user_env: Mapping[str, str], pool: WorkerPool | None = None) -> None:
        # A snapshot: the web server adds its own variables to os.environ later (WERKZEUG_SERVER_FD).
        self._user_env = dict(user_env)
        # Per function (full path): variables set on top of everything else (the engine's routes).
        self.env_overrides: dict[str, dict[str, str]] = {}
        self.pool = pool or WorkerPool()
        self._warned: set[str] = set()
        self._last_versions: dict[str, tuple[int, int]] = {}

    def invoke(self, function: LambdaFunction, event: str) -> str:
        """The function's response, or Lambda's error object, as JSON (what the Lambda API answers).

        Raises limits.InvocationRejected (the Lambda API refused the event) and limits.IntegrationTimeout.
        """
        return self.invoke_with_outcome(function, event)[1]

    def invoke_with_outcome(self, function: LambdaFunction, event: str) -> tuple[bool, str]:
        """(succeeded, answer): as invoke, with what the Lambda API's X-Amz-Function-Error header tells an event
        source mapping (False: the answer is Lambda's error object)."""
        payload = event.encode()
        if len(payload) > limits.LAMBDA_MAX_REQUEST_BYTES:
            raise limits.InvocationRejected(
                f"Request must be smaller than {limits.LAMBDA_MAX_REQUEST_BYTES} bytes for the InvokeFunction "
                f"operation (got {len(payload)})"
            )
        spec = self.worker_spec(function)
        name = function.full_path
        timeout = function.timeout
        request_id = str(uuid.uuid4())
        gateway_deadline = limits.integration_deadline.get()

        try:
            # Beyond the function's concurrency the invocation waits for a worker, within the gateway's time.
            worker = self.pool.acquire(spec, gateway_deadline)
        except QueueTimedOut:
            LOG.info(
                "API Gateway stopped waiting for %s: all its %d workers stayed busy",
                name,
                self.pool.concurrency,
            )
            raise limits.IntegrationTimeout(name) from None
        if worker.pid is None:  # cold start
            init_deadline = time.monotonic() + INIT_TIMEOUT_S + timeout
            if gateway_deadline is not None:
                init_deadline = min(init_deadline, gateway_deadline)
            LOG.info("Starting a worker for %s (%s)", name, function.handler)
            try:
                worker.start(init_deadline)
            except WorkerInitFailed as exc:
                self.pool.discard(worker)
                return False, json.dumps(exc.error)
            except WorkerTimedOut:
                self.pool.discard(worker)
                if gateway_deadline is not None and time.monotonic() >= gateway_deadline:
                    raise limits.IntegrationTimeout(f"{name} was still initialising") from None
                return False, json.dumps(_lambda_error(request_id, "Runtime.InitTimeout", "init timed out"))
            except WorkerDied as exc:
                self.pool.discard(worker)
                return False, json.dumps(
                    _lambda_error(request_id, "Runtime.ExitError", f"Runtime exited with error: {exc}")
                )

        function_deadline = time.monotonic() + timeout
        wait_until = (
            function_deadline if gateway_deadline is None else min(function_deadline, gateway_deadline)
        )
        header = {
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
            "invoked_function_arn": function_arn(function.name, dict(spec.env).get("AWS_REGION")),
        }
        try:
            ok, body = worker.invoke(header, payload, wait_until)
        except WorkerTimedOut:
            # Lambda would stop the execution environment; a fresh worker takes its place.
            self.pool.discard(worker)
            self.pool.start_in_background(spec, INIT_TIMEOUT_S + timeout)
            if gateway_deadline is not None and gateway_deadline <= function_deadline:
                LOG.info("API Gateway stopped waiting for %s; its worker %s was stopped", name, worker.pid)
            else:
                LOG.info(
                    "Function '%s' timed out after %g seconds; worker %s was stopped",
                    name,
                    timeout,
                    worker.pid,
                )
            # Either way the caller gets the gateway's timeout answer (504): a timed-out request reads
            # the same locally whether the function's Timeout or the integration timeout came first.
            raise limits.IntegrationTimeout(name) from None
        except WorkerDied as exc:
            LOG.info("Worker %s of %s exited (%s); starting a new one", worker.pid, name, exc)
            self.pool.discard(worker)
            self.pool.start_in_background(spec, INIT_TIMEOUT_S + timeout)
            return False, json.dumps(
                _lambda_error(request_id, "Runtime.ExitError", f"Runtime exited with error: {exc}")
            )

        self.pool.release(worker)
        if ok and len(body) > limits.LAMBDA_MAX_RESPONSE_BYTES:
            LOG.info("Response of %s is %d bytes, over Lambda's limit", name, len(body))
            message = (
                "Response payload size exceeded maximum allowed payload size "
                f"({limits.LAMBDA_MAX_RESPONSE_BYTES} bytes)."
            )
            return False, json.dumps({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"})
        return ok, body.decode()

    def worker_spec(self, function: LambdaFunction) -> WorkerSpec:
        if function.code_dir is None or not os.path.isdir(function.code_dir):
            # Zip/Image functions need the container runtime; only source directories run here.
            raise limits.InvocationRejected(
                f"{function.full_path}: code path {function.code_dir!r} is not a directory"
            )
        layer_paths = self.layer_paths(function)
        spec = WorkerSpec(
            function=function.full_path,
            handler=function.handler,
            code_dir=function.code_dir,
            layer_paths=layer_paths,
            env=tuple(sorted(self.worker_env(function).items())),
            code_version=self._code_version((function.code_dir, *layer_paths)),
        )
        previous = self._last_versions.get(spec.function)
        if previous is not None and previous != spec.code_version:
            LOG.info("Code of %s changed: its workers restart", spec.function)
        self._last_versions[spec.function] = spec.code_version
        return spec

    def worker_env(self, function: LambdaFunction) -> dict[str, str]:
        """The user's environment, then what SAM resolves (AWS_*, template variables, shell and --env-vars
        overrides of those), then --env-vars values of variables the template does not declare (which sam local
        drops: OPENAI_API_KEY in env.json must reach the functions, as it chose their engine), then the server's
        overrides, then the runtime's own variables."""
        env = dict(self._user_env)
        env.update(function.env)
        env.update({k: v for k, v in env_values(function.env_file_values).items() if k not in function.env})
        env.update(self.env_overrides.get(function.full_path, {}))
        env.update(
            {
                "LAMBDA_TASK_ROOT": function.code_dir or "",
                "_HANDLER": function.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            }
        )
        return env

    def layer_paths(self, function: LambdaFunction) -> tuple[str, ...]:
        paths: list[str] = []
        # A later layer overwrites an earlier one in /opt, so it comes first on the path.
        for layer in reversed(function.layers):
            if layer.local_dir is None:
                if (
                    LAMBDA_WEB_ADAPTER_LAYER not in layer.arn
                ):  # make serve does its work (local/function_apps.py)
                    self._warn_once(f"{function.full_path}: layer {layer.arn} is not local; skipped")
                continue
            root = layer.local_dir
            python = os.path.join(root, "python")
            if os.path.isdir(python):  # built layout (what /opt holds): python/ and its site-packages
                site = os.path.join(python, "lib", f"python{_py_version(function.runtime)}", "site-packages")
                paths += [site, python]
            else:  # source layout: the package sits at the layer root (`sam build` moves it into python/)
                paths.append(root)
        return tuple(paths)

    def _code_version(self, roots: tuple[str, ...]) -> tuple[int, int]:
        """Newest mtime and number of files under the roots (bytecode caches aside). A few hundred files
        take well under a millisecond; a tree too big to walk on every request is not watched."""
        newest, count = 0, 0
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if d != "__pycache__"]
                for filename in filenames:
                    with contextlib.suppress(OSError):
                        newest = max(newest, os.stat(os.path.join(dirpath, filename)).st_mtime_ns)
                    count += 1
                if count > _MAX_WATCHED_FILES:
                    self._warn_once(
                        f"{root} has over {_MAX_WATCHED_FILES} files: code changes there need a restart"
                    )
                    return (0, 0)
        return newest, count

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            LOG.warning(message)

    def shutdown(self) -> None:
        self.pool.shutdown()


def _lambda_error(request_id: str, error_type: str, detail: str) -> dict[str, str]:
    return {"errorMessage": f"RequestId: {request_id} Error: {detail}", "errorType": error_type}


def function_arn(name: str, region: str | None) -> str:
    return f"arn:aws:lambda:{region or 'us-east-1'}:{ACCOUNT_ID}:function:{name}"


def _py_version(runtime: str | None) -> str:
    # "python3.13" -> "3.13"; the interpreter's own version otherwise.
    if runtime and runtime.startswith("python"):
        return runtime.removeprefix("python")
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def env_values(values: Mapping[str, Any]) -> dict[str, str]:
    """--env-vars values as a Lambda would see them (lists and objects are not environment values)."""
    return {k: str(v) for k, v in values.items() if isinstance(v, (str, int, float, bool))}
