"""Benchmark: `make serve` under load, concurrency 32 against concurrency 4 in the same run.

    .venv/bin/python bench/load.py                                   # 1,000 TTS requests at 4, then at 32
    .venv/bin/python bench/load.py --requests 300 --concurrency 16 --server-arg=--concurrency=8
    .venv/bin/python bench/load.py --quick                           # CI: 64 requests at 4, then at 32

Goal: p95 at concurrency 32 within 4x of p95 at concurrency 4.

Starts `python -m local.server` on template.yaml (lazy workers, no OpenAI key in its environment: the offline
engine, nothing leaves the machine). Each phase first sends twice its concurrency in requests that are not
counted (so that the workers a phase needs are warm, as a steady load finds them), then --requests requests
from that many client threads, each on a new connection as curl would. Prints p50, p95, p99, throughput and the
error count of each phase, and the ratio of the two p95s. A request that is not answered 200 counts as an error.

It also prints how busy the machine's cores were in each phase (from /proc/stat, so Linux only) and the ratio that
allows. The clients send their next request as soon as they have an answer, so by Little's law mean latency =
requests in flight / throughput, and the ratio of the two means is (32 / 4) x (throughput at 4 / throughput at 32).
If a request costs the same CPU in both phases, throughput at 32 is at most the throughput at 4 divided by the share
of the cores busy at 4, so the ratio of means is at least 8 x that share: a baseline that keeps the cores 90% busy
allows about 7x, and the 4x goal needs them under half busy at concurrency 4.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from quick import parse_args
from warm_worker import free_port, stop, wait_until_listening  # the same local server, started the same way

REPO = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT_S = 60.0
GOAL_RATIO = 4.0
SCRUBBED = ("OPENAI_API_KEY", "OPENAI_SECRET_NAME", "OPENAI_BASE_URL", "STT_MODEL_ROUTES", "TTS_MODEL_ROUTES")
BODY = b'{"text": "Hello, world!", "model": "tts-1", "voice": "alloy"}'
HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Phase:
    concurrency: int
    latencies: list[float]  # seconds, of the requests answered 200
    failures: Counter[str]  # the others: "HTTP <status>" or the client's exception
    wall: float  # seconds from the first request sent to the last answer
    busy: float | None  # share of the machine's cores busy meanwhile (None: no /proc/stat)

    def percentile(self, p: float) -> float:
        # Nearest rank: the smallest latency that at least p% of the requests did not exceed.
        ordered = sorted(self.latencies)
        rank = max(1, -(-len(ordered) * p // 100))
        return ordered[int(rank) - 1]

    @property
    def mean(self) -> float:
        return sum(self.latencies) / len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    @property
    def throughput(self) -> float:
        return (len(self.latencies) + self.errors) / self.wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--baseline-concurrency", type=int, default=4)
    parser.add_argument("--path", default="/api/tts/")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="passed to python -m local.server (repeatable)"
    )
    parser.add_argument(
        "--max-ratio", type=float, help=f"exit 1 if p95 ratio is above this (goal {GOAL_RATIO})"
    )
    args = parse_args(parser, {"requests": 64})

    with serving(args.server_arg) as port:
        phases = [
            run_phase(port, args.path, c, args.requests)
            for c in (args.baseline_concurrency, args.concurrency)
        ]

    print(f"target: POST {args.path} (template.yaml, offline engine), {args.requests} requests a phase")
    for phase in phases:
        print(
            f"concurrency {phase.concurrency:3d}: p50 {phase.percentile(50) * 1000:8.1f} ms  "
            f"p95 {phase.percentile(95) * 1000:8.1f} ms  p99 {phase.percentile(99) * 1000:8.1f} ms  "
            f"{phase.throughput:6.1f} requests/s  errors {phase.errors}"
            + (
                f" ({', '.join(f'{n} {kind}' for kind, n in phase.failures.most_common())})"
                if phase.errors
                else ""
            )
            + (f"  cores busy {phase.busy:4.0%}" if phase.busy is not None else "")
        )
    base, loaded = phases
    ratio = loaded.percentile(95) / base.percentile(95)
    print(
        f"p95 at {loaded.concurrency} / p95 at {base.concurrency}: {ratio:.2f}x (goal: <= {GOAL_RATIO:g}x); "
        f"mean {loaded.mean / base.mean:.2f}x; throughput {loaded.throughput / base.throughput:.2f}x"
    )
    if base.busy is not None:
        print(
            f"mean ratio {os.cpu_count()} cores allow at equal CPU a request (Little's law): "
            f"{loaded.concurrency}/{base.concurrency} x {base.busy:.0%} busy at {base.concurrency} "
            f"= {least_mean_ratio(base, loaded.concurrency):.2f}x"
        )
    if base.errors or loaded.errors:
        print("FAIL: some requests were not answered 200", file=sys.stderr)
        return 1
    if args.max_ratio is not None and ratio > args.max_ratio:
        print(f"FAIL: ratio {ratio:.2f} is above {args.max_ratio:g}", file=sys.stderr)
        return 1
    return 0


def least_mean_ratio(base: Phase, concurrency: int) -> float:
    """The least mean latency at `concurrency` over that of `base` the machine allows if a request costs the same
    CPU at both: the throughput there is at most base.throughput / base.busy (every core busy), and mean latency =
    requests in flight / throughput."""
    assert base.busy is not None
    return concurrency / base.concurrency * base.busy


def run_phase(port: int, path: str, concurrency: int, requests: int) -> Phase:
    _send_all(port, path, concurrency, 2 * concurrency)  # warm-up, not counted
    cpu_before = cpu_ticks()
    started = time.perf_counter()
    latencies, failures = _send_all(port, path, concurrency, requests)
    wall = time.perf_counter() - started
    cpu_after = cpu_ticks()
    busy = None
    if cpu_before and cpu_after:
        busy = (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1])
    return Phase(concurrency, latencies, failures, wall, busy)


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, all) clock ticks of all cores since boot, from /proc/stat's first line; None where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(n) for n in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle and iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


def _send_all(port: int, path: str, concurrency: int, requests: int) -> tuple[list[float], Counter[str]]:
    """`requests` requests from `concurrency` threads, each sending its next one as soon as it has an answer."""
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    def client() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            elapsed, failure = _timed(port, path)
            with lock:
                if failure is None:
                    latencies.append(elapsed)
                else:
                    failures[failure] += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    return latencies, failures


def _timed(port: int, path: str) -> tuple[float, str | None]:
    """Seconds until the whole answer was read, and what went wrong (None: answered 200)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    started = time.perf_counter()
    try:
        conn.request("POST", path, body=BODY, headers=HEADERS)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        return elapsed, None if response.status == 200 else f"HTTP {response.status}"
    except OSError as exc:
        return time.perf_counter() - started, type(exc).__name__
    finally:
        conn.close()


@contextlib.contextmanager
def serving(server_args: list[str]) -> Iterator[int]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    port = free_port()
    command = [sys.executable, "-m", "local.server", "--template", str(REPO / "template.yaml")]
    command += ["--port", str(port), "--warm-containers", "LAZY", *server_args]
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_listening(proc, port)
            yield port
        except Exception:
            sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
            raise
        finally:
            stop(proc)


if __name__ == "__main__":
    sys.exit(main())
