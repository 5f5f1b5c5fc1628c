"""Benchmark: the first request (cold worker: process start + handler import) against later ones (warm worker).

    .venv/bin/python bench/warm_worker.py                      # POST /api/tts/ of template.yaml, local engine
    .venv/bin/python bench/warm_worker.py --requests 50 --min-ratio 5
    .venv/bin/python bench/warm_worker.py --quick              # 3 warm requests (CI)

Starts `python -m local.server` with lazy workers on a free port, with no OpenAI key in its environment (the
offline engine: nothing leaves the machine), sends one request, then --requests more one after another, and
prints the first request's time, the median and p90 of the later ones, and first / median. As a floor it also
times a route that does not exist (answered by the gateway alone, no worker involved: the template's 404).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quick import parse_args

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
NO_ROUTE_STATUS = 404  # template.yaml: the MISSING_AUTHENTICATION_TOKEN gateway response, "not_found"
SCRUBBED = ("OPENAI_API_KEY", "OPENAI_SECRET_NAME", "OPENAI_BASE_URL", "STT_MODEL_ROUTES", "TTS_MODEL_ROUTES")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", default=str(REPO / "template.yaml"))
    parser.add_argument("--path", default="/api/tts/")
    parser.add_argument("--body", default='{"text": "Hello, world!", "model": "tts-1", "voice": "alloy"}')
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--requests", type=int, default=20, help="warm requests after the first")
    parser.add_argument("--min-ratio", type=float, help="exit 1 if first / warm median is below this")
    args = parse_args(parser, {"requests": 3})

    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    port = free_port()
    # Lazy workers: the first request pays the cold start being measured.
    command = [sys.executable, "-m", "local.server", "--template", args.template, "--port", str(port)]
    command += ["--warm-containers", "LAZY"]
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_listening(proc, port)
            body, headers = args.body.encode(), {"Content-Type": args.content_type}
            gateway_only = [
                _timed(port, "/__no_such_route__", body, headers, expect=NO_ROUTE_STATUS) for _ in range(10)
            ]
            first = _timed(port, args.path, body, headers)
            warm = [_timed(port, args.path, body, headers) for _ in range(args.requests)]
        except Exception:
            log.flush()
            sys.stderr.write((Path(tmp) / "server.log").read_text(errors="replace")[-4000:])
            raise
        finally:
            stop(proc)

    median = statistics.median(warm)
    p90 = sorted(warm)[max(0, int(len(warm) * 0.9) - 1)]
    ratio = first / median
    print(f"target:               POST {args.path} ({Path(args.template).name})")
    print(f"gateway only ({NO_ROUTE_STATUS}):   median {statistics.median(gateway_only) * 1000:8.1f} ms")
    print(f"first request (cold): {first * 1000:8.1f} ms")
    print(f"warm, {len(warm)} requests:     median {median * 1000:8.1f} ms   p90 {p90 * 1000:8.1f} ms")
    print(f"first / warm median:  {ratio:8.1f}x")
    if args.min_ratio is not None and ratio < args.min_ratio:
        print(f"FAIL: ratio {ratio:.1f} is below {args.min_ratio}", file=sys.stderr)
        return 1
    return 0


def _timed(port: int, path: str, body: bytes, headers: dict[str, str], expect: int = 200) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != expect:
        raise RuntimeError(f"POST {path} answered {response.status}, expected {expect}: {payload[:300]!r}")
    return elapsed


def stop(proc: subprocess.Popen[bytes]) -> None:
    """The server and its workers stopped, however it is doing."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not listen within {START_TIMEOUT_S:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
