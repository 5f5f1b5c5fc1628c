"""Cold starts of the built Lambda artifacts, each in a fresh interpreter that sees only what Lambda would.

The interpreter runs with -I -S -B: no site-packages (neither the dev venv's nor the machine's), no
PYTHON* variables, no bytecode written. Its sys.path is the function's directory then the layer's
python/ (as /var/task and /opt/python are on Lambda) and the standard library. Its environment is a
deployed function's, with the OpenAI key read from a fake Secrets Manager and the upstream a fake
OpenAI, both on loopback. `make_artifacts` builds what `sam build` builds, for any architecture,
through the same Makefile targets.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import ROOT
from tools.handlers import TEMPLATE_RESOURCES

LAYER = "CommonLayer"
FUNCTIONS = {"stt": "SttFunction", "tts": "TtsFunction", "stream": "StreamFunction"}
# Functions that run behind the Lambda Web Adapter: run.sh starts their ASGI app, which answers over HTTP.
ADAPTED = {"stream"}
SECRET_NAME = "speech-api/openai"
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

# Runs in the fresh interpreter: argv = task dir, layer dir, event file, report file, warm invocations, and
# optionally a directory holding Lambda's runtime client (awslambdaric), as /var/runtime holds it on Lambda: then
# it is imported before the handler, as the managed runtime's bootstrap imports it, and each answer is serialised
# with its marshaller, as it serialises the answer it posts back (the Runtime API's HTTP exchange is left out).
RUNNER = """
import sys, time
task, layer, event_path, report_path, warm = sys.argv[1:6]
runtime = sys.argv[6] if len(sys.argv) > 6 else ""
sys.path[:0] = [task, layer]
if runtime:
    sys.path.append(runtime)
    import awslambdaric.bootstrap, awslambdaric.lambda_runtime_client
    from awslambdaric.lambda_runtime_marshaller import to_json
else:
    to_json = lambda answer: answer
import json

class Context:
    function_name = "speech-api-cold"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:speech-api-cold"
    log_group_name = "/aws/lambda/speech-api-cold"
    log_stream_name = "cold"
    def __init__(self, n): self.aws_request_id = f"00000000-0000-0000-0000-{n:012d}"
    def get_remaining_time_in_millis(self): return 30_000

import app
init_cpu = time.process_time()
with open(event_path) as f:
    event = json.load(f)
statuses, cpu = [], []
for n in range(1 + int(warm)):
    if n:  # a new request, received now (the first one was received when the cold start began)
        event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)
    before = time.process_time()
    answer = app.lambda_handler(event, Context(n))
    to_json(answer)
    statuses.append(answer["statusCode"])
    cpu.append(time.process_time() - before)
    if n == 0:
        first_done = time.time()
with open(report_path, "w") as f:
    json.dump({"statuses": statuses, "init_cpu": init_cpu, "invocation_cpu": cpu, "first_done": first_done,
               "modules": {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())},
               "path": sys.path}, f)
"""


@dataclass(frozen=True)
class Artifacts:
    """A `sam build`-like tree: CommonLayer/python, SttFunction, TtsFunction."""

    root: Path

    @property
    def layer(self) -> Path:
        return self.root / LAYER / "python"

    def task(self, function: str) -> Path:
        return self.root / FUNCTIONS[function]


@dataclass(frozen=True)
class ColdStart:
    statuses: list[int]
    wall: float  # process start to the first answer
    cpu: float  # process start to the first answer: interpreter start, imports, first invocation
    init_cpu: float  # process start to the handler module imported (Lambda's Init)
    warm_cpu: list[float]  # each later invocation
    modules: dict[str, str | None]  # every module loaded, and its file
    log: str  # what the function printed (Powertools' JSON logs and metrics)

    def third_party(self, artifacts: Artifacts) -> set[str]:
        """Top-level packages loaded from the layer (the function's own `app` aside)."""
        layer = str(artifacts.layer)
        return {
            name.partition(".")[0] for name, path in self.modules.items() if path and path.startswith(layer)
        }


def host_arch() -> str:
    return {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")


def make_artifacts(out: Path, arch: str) -> Artifacts:
    """The layer and both functions, built by the Makefile targets `sam build` runs (sources copied first, as SAM does)."""
    with tempfile.TemporaryDirectory(prefix="lambda-src-") as scratch:
        sources = {LAYER: ROOT / "layers" / "common"} | {
            target: ROOT / "functions" / name for name, target in FUNCTIONS.items()
        }
        for target, source in sources.items():
            copy = Path(scratch) / target
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
            env = {**os.environ, "ARTIFACTS_DIR": str(out / target)}
            make = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"build-{target}"]
            subprocess.run([*make, f"LAMBDA_ARCH={arch}"], cwd=copy, env=env, check=True, capture_output=True)
    return Artifacts(out)


def lambda_environment(
    function: str, *, memory_mb: int, openai_base_url: str, aws: dict[str, str], xray_port: int, task: Path
) -> dict[str, str]:
    """What Lambda and template.yaml set for a deployed function (routes and settings at their defaults)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"speech-api-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(task),
        "_HANDLER": "run.sh" if function in ADAPTED else "app.lambda_handler",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "POWERTOOLS_SERVICE_NAME": f"speech-{function}",
        "POWERTOOLS_METRICS_NAMESPACE": "SpeechApi",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "OPENAI_SECRET_NAME": SECRET_NAME,
        "OPENAI_BASE_URL": openai_base_url,
        "TTS_PARALLEL_CALLS": "8",
        # The template's resources (a handler's import requires them); no speech cache, so that a cold request
        # is measured through the upstream, not the bucket.
        **TEMPLATE_RESOURCES,
        "TTS_CACHE": "false",
        # The first route entry serves, whatever today's date (OpenAI's shutdown dates are not the question).
        "MODEL_SHUTDOWN_DATES": "",
        **aws,
    }


def cold_start(
    artifacts: Artifacts,
    function: str,
    event: dict[str, Any],
    env: dict[str, str],
    *,
    warm: int = 0,
    runtime: Path | None = None,
) -> ColdStart:
    """One cold start: a new interpreter imports the handler and answers `event`, then `warm` more times; with
    `runtime` (a directory holding awslambdaric), Lambda's runtime client is imported first and marshals each
    answer (RUNNER)."""
    with tempfile.TemporaryDirectory(prefix="cold-") as tmp:
        event_path, report_path, log_path = (
            Path(tmp) / "event.json",
            Path(tmp) / "report.json",
            Path(tmp) / "log",
        )
        received = {**event["requestContext"], "requestTimeEpoch": int(time.time() * 1000)}
        event_path.write_text(json.dumps({**event, "requestContext": received}))
        task, layer = str(artifacts.task(function)), str(artifacts.layer)
        command = [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            RUNNER,
            task,
            layer,
            str(event_path),
            str(report_path),
        ]
        with open(log_path, "wb") as log:
            started = time.time()
            process = subprocess.Popen(
                [*command, str(warm), str(runtime or "")], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            _, status, _ = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0 or not report_path.exists():
            raise RuntimeError(f"the cold start exited {process.returncode}:\n{log_path.read_text()[-3000:]}")
        report = json.loads(report_path.read_text())
        log_text = log_path.read_text(errors="replace")
    cpu = report["invocation_cpu"]
    return ColdStart(
        statuses=report["statuses"],
        wall=report["first_done"] - started,
        cpu=report["init_cpu"] + cpu[0],
        init_cpu=report["init_cpu"],
        warm_cpu=cpu[1:],
        modules=report["modules"],
        log=log_text,
    )


# --- Functions behind the Lambda Web Adapter: run.sh, uvicorn, the app answering over HTTP -----------------------


def adapter_request(
    event: dict[str, Any], *, deadline_ms: int, function_name: str
) -> tuple[str, dict[str, str], bytes]:
    """The HTTP request the Lambda Web Adapter makes of an API Gateway REST event: path and query, the event's
    headers, the body decoded, and its two context headers (awslabs/aws-lambda-web-adapter src/lib.rs
    `fetch_response`; lambda_runtime's Context as serde writes it)."""
    from urllib.parse import urlencode

    query = urlencode(
        [(k, v) for k, values in (event.get("multiValueQueryStringParameters") or {}).items() for v in values]
    )
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    headers = {name: value for name, value in (event.get("headers") or {}).items()}
    headers["x-amzn-request-context"] = json.dumps(event["requestContext"])
    headers["x-amzn-lambda-context"] = json.dumps(
        {
            "request_id": str(uuid.uuid4()),
            "deadline": deadline_ms,
            "invoked_function_arn": f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
            "xray_trace_id": TRACE_HEADER,
            "client_context": None,
            "identity": None,
            "env_config": {
                "function_name": function_name,
                "memory": 1024,
                "version": "$LATEST",
                "log_stream": "cold",
                "log_group": f"/aws/lambda/{function_name}",
            },
        }
    )
    return event["path"] + (f"?{query}" if query else ""), headers, data


def process_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of a running process so far (the kernel's scheduler clock, in ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
    return total / 1e9


def served_cold_start(
    artifacts: Artifacts,
    function: str,
    event: dict[str, Any],
    env: dict[str, str],
    *,
    warm: int = 0,
    timeout: float = 60.0,
) -> ColdStart:
    """One cold start of a function behind the Lambda Web Adapter: its run.sh started as the adapter's bootstrap
    starts it, its readiness path polled every 10 ms as the adapter polls it, then `event` asked over HTTP as the
    adapter asks it (and `warm` more times). The interpreter is this one without site-packages (-S) or bytecode
    written (-B); the layer is its PYTHONPATH, as /opt/python is on Lambda."""
    task = artifacts.task(function)
    with tempfile.TemporaryDirectory(prefix="served-") as tmp:
        python = Path(tmp) / "python"
        python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -S -B "$@"\n')
        python.chmod(0o755)
        with socket.socket() as probe:  # a free port for the app, as AWS_LWA_PORT names it
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        readiness = env.get("AWS_LWA_READINESS_CHECK_PATH", "/ready")
        env = {**env, "PYTHON": str(python), "PYTHONPATH": str(artifacts.layer), "AWS_LWA_PORT": str(port)}
        log_path = Path(tmp) / "log"
        with open(log_path, "wb") as log:
            started = time.time()
            process = subprocess.Popen([str(task / "run.sh")], env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait_until_ready(process, port, readiness, timeout, log_path)
                init_cpu = process_cpu_seconds(process.pid)
                statuses, cpu = [], []
                for n in range(1 + warm):
                    if (
                        n
                    ):  # a new request, received now (the first one was received when the cold start began)
                        event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)
                    else:
                        event["requestContext"]["requestTimeEpoch"] = int(started * 1000)
                    target, headers, body = adapter_request(
                        event,
                        deadline_ms=int(time.time() * 1000) + 300_000,
                        function_name=f"speech-api-{function}",
                    )
                    before = process_cpu_seconds(process.pid)
                    statuses.append(_ask(port, event["httpMethod"], target, headers, body, timeout))
                    after = process_cpu_seconds(process.pid)
                    cpu.append(after - before)
                    if n == 0:
                        first_done, first_cpu = time.time(), after
            finally:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        log_text = log_path.read_text(errors="replace")
    return ColdStart(
        statuses=statuses,
        wall=first_done - started,
        cpu=first_cpu,
        init_cpu=init_cpu,
        warm_cpu=cpu[1:],
        modules={},
        log=log_text,
    )


def _wait_until_ready(
    process: subprocess.Popen[bytes], port: int, path: str, timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"run.sh exited {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if _ask(port, "GET", path, {}, b"", 1.0) < 500:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"the app was not ready after {timeout} s:\n{log_path.read_text()[-3000:]}")


def _ask(port: int, method: str, target: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """The status of one request, its whole body read (a streamed one to its last chunk)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
