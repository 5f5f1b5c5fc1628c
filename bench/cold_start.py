"""Benchmark: cold starts of the built Lambda artifacts, with and without their bytecode, against today's baseline.

    make bench-cold                                   # builds for this machine (BENCH_ARCH), then measures
    .venv/bin/python bench/cold_start.py --runs 7 --upstream-seconds 1.5
    .venv/bin/python bench/cold_start.py --reuse      # the last build in .aws-sam/bench-<arch>
    .venv/bin/python bench/cold_start.py --quick      # one run, this tree against the naive handler only

What is measured is what deploys: the layer and both functions as the Makefile's build targets make
them for `sam build`, built here for this machine's architecture (the arm64 wheels would not load on
x86). Each cold start is a fresh interpreter (-I -S -B: no site-packages, no bytecode written) whose
sys.path is the function's directory and the layer's python/ then the standard library, as on Lambda,
with a deployed function's environment: the OpenAI key read through botocore from a fake Secrets Manager,
a fake OpenAI upstream, an X-Ray daemon address and trace header, all on loopback (upstream calls
untraced, the template's default: TraceUpstreamCalls). Three cold paths: a 400 (an unknown voice), a
TTS 200 (tts-1, the upstream's mp3 returned as is) and an STT 200 (whisper-1, an mp3 upload). And the streaming
function's, which runs behind the Lambda Web Adapter (an ASGI server starting counts): its run.sh started as the
adapter's bootstrap starts it (uvicorn, the layer on PYTHONPATH, this interpreter with -S -B), its readiness path
polled every 10 ms as the adapter polls it, then /v1/audio/speech asked over HTTP as the adapter asks it (its two
context headers included): a 400 (an unknown voice) and a speech 200 (tts-1, the audio streamed to its end). The
variants of the artifacts:

    baseline             the code at --baseline-ref (default: the commit before this benchmark's work)
                         without bytecode, as SAM's python3.13 builder shipped it (same wheels)
    baseline + bytecode  that code compiled as the build compiles: what bytecode alone would give it
    no bytecode          this tree without its .pyc files
    bytecode             this tree as built
    naive eager          the TTS function as a naive handler would be written (NAIVE_TTS_HANDLER: openai,
                         boto3 and a Powertools APIGatewayRestResolver imported, the key read and the
                         OpenAI client built at load), on the same built layer, with bytecode: the 400
                         and the TTS 200 only

CPU seconds are the process's, from its start to the first answer (interpreter start, imports,
the first invocation; for the buffered functions, Lambda's runtime client imported before the handler and
serialising the answer, as on Lambda (RUNTIME_CLIENT, from PyPI), its Runtime API exchange not; for the streaming
function, which Lambda starts without that client, uvicorn's start and its HTTP handling, the adapter's own start
not); wall seconds likewise. The estimate
at a function's memory is CPU x 1,769 / MemorySize (Lambda gives one vCPU at 1,769 MB and a share in
proportion below it; a cold start is one thread, so more than 1,769 MB does not shorten it).

Goals: the cold 200s' CPU with bytecode at most 0.6x the baseline's; against the naive eager handler,
the cold TTS 200 at most 0.8x its CPU and the cold 400 at most 0.3x; the streaming function's cold 400 and speech
200 no worse than the TTS function's, measured in the same run (exit 1 when a goal is not met).
--quick measures only `bytecode` and `naive eager`, once each (for make bench-quick), and prints the goals
without holding them (it fails only when it breaks). Then the cost of
a cold start and of a warm request at 512, 1,024 and 1,769 MB at Lambda's arm64 prices, with the
upstream's own time (--upstream-seconds) billed at every size, which is what template.yaml's
SttMemorySize and TtsMemorySize defaults are chosen from (docs/operations.md: "Memory").
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]

import yaml  # noqa: E402

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.secrets_manager import FakeSecretsManager  # noqa: E402
from tests.helpers import multipart_body, stt_event, tts_event  # noqa: E402
from tests.lambda_cold import (  # noqa: E402
    ADAPTED,
    FUNCTIONS,
    LAYER,
    SECRET_NAME,
    Artifacts,
    ColdStart,
    cold_start,
    host_arch,
    lambda_environment,
    make_artifacts,
    served_cold_start,
)
from tests.samples import tone  # noqa: E402
from tools import lambda_build  # noqa: E402

# The commit this benchmark's work started from: the code as it was deployed before it.
BASELINE_REF = "d1e904d"
ONE_VCPU_MB = 1769
MEMORY_SIZES = (512, 1024, 1769)
# AWS Lambda, arm64, us-east-1 (first tier): duration and requests. Since August 2025 the Init phase
# of a managed runtime is billed like the invocation, so a cold start's imports are paid for too.
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
NAIVE = "naive eager"
VARIANTS = ("baseline", "baseline + bytecode", "no bytecode", "bytecode", NAIVE)
# Goals against the naive eager handler: a path's CPU with bytecode at most this fraction of the naive's.
NAIVE_GOALS = {"TTS 200": 0.8, "400 (TTS)": 0.3}
# The streaming function's paths, each against the TTS function's path it must be no worse than (issue 21, item 8).
STREAM_AGAINST_TTS = {"400 (stream)": "400 (TTS)", "speech 200 (stream)": "TTS 200"}
# Lambda's runtime client (the open-source one the managed Python runtimes are built on) and its dependencies, as
# PyPI has them: a buffered function's cold start runs it before the handler (the streaming function's does not:
# the adapter's bootstrap starts run.sh instead). Installed for this machine beside the build, then imported in
# each buffered cold start (tests/lambda_cold.py RUNNER).
RUNTIME_CLIENT = ("awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0")
# A day the fake upstream still serves tts-1 and whisper-1 (OpenAI retires them in 2027).
BEFORE_SHUTDOWNS = date(2026, 11, 25)


@dataclass(frozen=True)
class ColdPath:
    name: str
    function: str
    event: dict[str, Any]
    status: int


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    init_cpu: list[float] = field(default_factory=list)
    warm_cpu: list[float] = field(default_factory=list)

    def add(self, cold: ColdStart) -> None:
        self.wall.append(cold.wall)
        self.cpu.append(cold.cpu)
        self.init_cpu.append(cold.init_cpu)
        self.warm_cpu.extend(cold.warm_cpu)


def cold_paths() -> list[ColdPath]:
    upload = {"audio": ("hello.mp3", tone("mp3"), "audio/mpeg")}
    return [
        ColdPath("400 (TTS)", "tts", tts_event({"text": "hi", "voice": "nobody"}), 400),
        ColdPath(
            "TTS 200", "tts", tts_event({"text": "Hello, world!", "model": "tts-1", "voice": "alloy"}), 200
        ),
        ColdPath("STT 200", "stt", stt_event(multipart_body({"model": "whisper-1"}, upload)), 200),
        ColdPath(
            "400 (stream)",
            "stream",
            tts_event({"model": "tts-1", "input": "hi", "voice": "nobody"}, path="/v1/audio/speech"),
            400,
        ),
        ColdPath(
            "speech 200 (stream)",
            "stream",
            tts_event(
                {"model": "tts-1", "input": "Hello, world!", "voice": "alloy"}, path="/v1/audio/speech"
            ),
            200,
        ),
    ]


def memory_sizes(template: Path) -> dict[str, int]:
    """Each function's MemorySize as deployed with the template's defaults (a Ref to a parameter is resolved)."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            return {name: loader.construct_scalar(node)}
        return {name: loader.construct_sequence(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    loaded = yaml.load(template.read_text(), Loader=Loader)
    default = loaded["Globals"]["Function"].get("MemorySize", 128)
    sizes = {}
    for function, resource in FUNCTIONS.items():
        size = loaded["Resources"][resource]["Properties"].get("MemorySize", default)
        if isinstance(size, dict) and "Ref" in size:
            size = loaded["Parameters"][size["Ref"]]["Default"]
        sizes[function] = int(size)
    return sizes


def estimated_seconds(cpu: float, memory_mb: int) -> float:
    return cpu * ONE_VCPU_MB / min(memory_mb, ONE_VCPU_MB)


def cost(seconds: float, memory_mb: int) -> float:
    return seconds * memory_mb / 1024 * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST


# --- The artifacts of each variant --------------------------------------------------------------------------


def without_bytecode(source: Path, target: Path) -> None:
    """A copy (hard links) of `source` without its __pycache__ directories."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), copy_function=os.link)


def baseline_artifacts(built: Artifacts, ref: str, target: Path, *, bytecode: bool = False) -> Artifacts:
    """The built layer's third-party wheels with the code of `ref`, without bytecode (or all compiled, as built)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "layers/common/speech_common", "functions"],
        capture_output=True,
        check=True,
    ).stdout
    code = target / "code"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(code, filter="data")
    layer = target / LAYER / "python"
    without_bytecode(built.layer, layer)
    shutil.rmtree(layer / "speech_common")
    shutil.copytree(code / "layers" / "common" / "speech_common", layer / "speech_common")
    for name, resource in FUNCTIONS.items():
        if (code / "functions" / name).is_dir():  # a function the baseline did not have is not measured there
            shutil.copytree(code / "functions" / name, target / resource)
    shutil.rmtree(code)
    if bytecode:  # as the build compiles: tools/lambda_build.py
        lambda_build.compile_tree(target, "/")
    return Artifacts(target)


# What a TTS function written without care for cold starts looks like: everything imported and built at
# load. It answers the bench's two TTS events as the real handler does (400 for an unknown voice).
NAIVE_TTS_HANDLER = """
import os

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from openai import OpenAI

VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"}
secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["OPENAI_SECRET_NAME"])
client = OpenAI(api_key=secret["SecretString"], base_url=os.environ.get("OPENAI_BASE_URL") or None)
app = APIGatewayRestResolver()


@app.post("/api/tts/")
def tts() -> Response:
    body = app.current_event.json_body
    voice = body.get("voice", "alloy")
    if voice not in VOICES or not body.get("text"):
        return Response(400, "application/json", \'{"error": "bad request"}\')
    speech = client.audio.speech.create(
        model=body.get("model", "tts-1"), voice=voice, input=body["text"], response_format="mp3"
    )
    return Response(200, "audio/mpeg", speech.content)


def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def naive_artifacts(built: Artifacts, target: Path) -> Artifacts:
    """The built layer (linked) with NAIVE_TTS_HANDLER as the TTS function, compiled as the build compiles."""
    target.mkdir()
    (target / LAYER).symlink_to(built.root / LAYER, target_is_directory=True)
    task = target / FUNCTIONS["tts"]
    task.mkdir()
    (task / "app.py").write_text(NAIVE_TTS_HANDLER)
    lambda_build.compile_tree(task, "/var/task")
    return Artifacts(target)


@contextmanager
def variants(built: Artifacts, ref: str | None, *, quick: bool = False) -> Iterator[dict[str, Artifacts]]:
    with tempfile.TemporaryDirectory(prefix="variants-", dir=built.root.parent) as tmp:
        found = {"bytecode": built, NAIVE: naive_artifacts(built, Path(tmp) / "naive")}
        if quick:
            yield found
            return
        without_bytecode(built.root, Path(tmp) / "no-bytecode")
        found["no bytecode"] = Artifacts(Path(tmp) / "no-bytecode")
        if ref is not None:
            found["baseline"] = baseline_artifacts(built, ref, Path(tmp) / "baseline")
            found["baseline + bytecode"] = baseline_artifacts(
                built, ref, Path(tmp) / "baseline-bytecode", bytecode=True
            )
        yield found


# --- Measuring ----------------------------------------------------------------------------------------------


def runtime_client(build: Path) -> Path:
    """RUNTIME_CLIENT installed from the package index for this machine into `build`/Runtime (once a build), as
    /var/runtime holds it on Lambda."""
    target = build / "Runtime"
    if not (target / "awslambdaric").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--target",
                str(target),
                *RUNTIME_CLIENT,
            ],
            check=True,
        )
    return target


def measure(
    found: dict[str, Artifacts], paths: list[ColdPath], runs: int, memory: dict[str, int], runtime: Path
) -> dict[tuple[str, str], Samples]:
    """runs x (path x variant) cold starts, interleaved so that the machine's drift spreads evenly; the buffered
    functions' under Lambda's runtime client (in `runtime`), the adapted ones' through run.sh."""
    samples: dict[tuple[str, str], Samples] = {}
    with (
        FakeOpenAI(api_key="sk-bench", today=BEFORE_SHUTDOWNS) as upstream,
        FakeSecretsManager({SECRET_NAME: "sk-bench"}) as secrets,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as xray,
    ):
        xray.bind(("127.0.0.1", 0))
        for run in range(runs):
            for path in paths:
                for variant, artifacts in found.items():
                    if not artifacts.task(path.function).exists():  # the naive handler is TTS only
                        continue
                    env = lambda_environment(
                        path.function,
                        memory_mb=memory[path.function],
                        openai_base_url=upstream.base_url,
                        aws=secrets.client_environment(),
                        xray_port=xray.getsockname()[1],
                        task=artifacts.task(path.function),
                    )
                    event = copy.deepcopy(path.event)
                    if path.function in ADAPTED:
                        cold = served_cold_start(artifacts, path.function, event, env, warm=3)
                    else:
                        cold = cold_start(artifacts, path.function, event, env, warm=3, runtime=runtime)
                    if set(cold.statuses) != {path.status}:
                        raise RuntimeError(
                            f"{path.name} ({variant}) answered {cold.statuses}:\n{cold.log[-3000:]}"
                        )
                    samples.setdefault((path.name, variant), Samples()).add(cold)
            print(f"  run {run + 1}/{runs} done", file=sys.stderr)
    return samples


# --- Reporting ----------------------------------------------------------------------------------------------


def report_cold_starts(
    samples: dict[tuple[str, str], Samples], paths: list[ColdPath], memory: dict[str, int], ref: str | None
) -> None:
    print(
        f"{'cold path':<20} {'variant':<28} {'wall s':>7} {'CPU s':>7} {'(median)':>8} {'init CPU':>9}"
        "   estimated at memory"
    )
    for path in paths:
        for variant in VARIANTS:
            found = samples.get((path.name, variant))
            if found is None:
                continue
            label = variant.replace("baseline", f"baseline {ref}")
            cpu, mb = min(found.cpu), memory[path.function]
            print(
                f"{path.name:<20} {label:<28} {min(found.wall):7.3f} {cpu:7.3f} {statistics.median(found.cpu):8.3f} "
                f"{min(found.init_cpu):9.3f}   {estimated_seconds(cpu, mb):5.2f} s at {mb} MB"
            )


def ratios(samples: dict[tuple[str, str], Samples], paths: list[ColdPath], over: str) -> dict[str, float]:
    """Each path's median CPU with bytecode, as a fraction of the `over` variant's."""

    def cpu(name: str, variant: str) -> float:
        return min(samples[(name, variant)].cpu)

    return {p.name: cpu(p.name, "bytecode") / cpu(p.name, over) for p in paths if (p.name, over) in samples}


def report_memory_costs(
    samples: dict[tuple[str, str], Samples], paths: list[ColdPath], upstream_seconds: float
) -> None:
    print(
        f"\nCost at Lambda's arm64 price (${PRICE_PER_GB_SECOND} per GB-s, $0.20 per 1M requests; Init billed), "
        f"with bytecode,\nthe upstream's own {upstream_seconds:g} s billed at every size "
        f"(--upstream-seconds); time = CPU x 1,769 / MB + upstream:"
    )
    print(f"{'path':<20} {'MB':>5}   {'cold start':>10} {'cost':>11}   {'warm request':>12} {'cost':>11}")
    for path in (p for p in paths if p.status == 200):
        found = samples[(path.name, "bytecode")]
        cold_cpu, warm_cpu = min(found.cpu), statistics.median(found.warm_cpu)
        for mb in MEMORY_SIZES:
            cold = estimated_seconds(cold_cpu, mb) + upstream_seconds
            warm = estimated_seconds(warm_cpu, mb) + upstream_seconds
            print(
                f"{path.name:<20} {mb:>5}   {cold:9.2f}s ${cost(cold, mb):.7f}   "
                f"{warm:11.2f}s ${cost(warm, mb):.7f}"
            )


def recommend(
    samples: dict[tuple[str, str], Samples], paths: list[ColdPath], memory: dict[str, int], target: float
) -> None:
    """The smallest size whose cold 200 (its own work, upstream aside) takes at most `target` seconds.

    Below 1,769 MB a cold start's CPU costs the same GB-seconds at any size, so a larger size makes it
    faster for nothing; what a larger size costs more is the time spent waiting for the upstream.
    """
    print(f"\nSmallest size whose cold 200 takes at most {target:g} s of its own (--cold-target):")
    for path in (p for p in paths if p.status == 200):
        cpu = min(samples[(path.name, "bytecode")].cpu)
        fits = [mb for mb in MEMORY_SIZES if estimated_seconds(cpu, mb) <= target]
        chosen = fits[0] if fits else ONE_VCPU_MB
        note = (
            "the template's default"
            if chosen == memory[path.function]
            else f"template: {memory[path.function]}"
        )
        print(f"  {path.name}: {chosen} MB ({estimated_seconds(cpu, chosen):.2f} s; {note})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", default=host_arch(), help="the build's architecture: this machine's")
    parser.add_argument("--build", type=Path, help="where to build (default .aws-sam/bench-<arch>)")
    parser.add_argument("--reuse", action="store_true", help="measure the last build instead of building")
    parser.add_argument(
        "--runs",
        type=int,
        help="cold starts per path and variant, the least CPU counting (default 5; 1 --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one run of this tree and the naive handler only: no baseline, no variant without bytecode",
    )
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the baseline ('' for none)")
    parser.add_argument("--upstream-seconds", type=float, default=1.0, help="an upstream call's own time")
    parser.add_argument("--goal", type=float, default=0.6, help="exit 1 if a cold 200's CPU ratio is above")
    parser.add_argument(
        "--stream-goal",
        type=float,
        default=1.0,
        help="exit 1 if the streaming function's cold CPU over the TTS function's is above",
    )
    parser.add_argument(
        "--cold-target", type=float, default=2.5, help="seconds a cold 200 may take at the chosen size"
    )
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 5)
    if args.arch != host_arch():
        parser.error(
            f"a {args.arch} build cannot run on this {platform.machine()} machine: use --arch {host_arch()}"
        )

    build = args.build or REPO / ".aws-sam" / f"bench-{args.arch}"
    if not args.reuse:
        print(f"building the layer and both functions for {args.arch} into {build} ...", file=sys.stderr)
        shutil.rmtree(build, ignore_errors=True)
        make_artifacts(build, args.arch)
    memory = memory_sizes(REPO / "template.yaml")
    paths = cold_paths()
    ref = None if args.quick else args.baseline_ref or None
    if (
        ref is not None
        and subprocess.run(
            ["git", "-C", str(REPO), "cat-file", "-e", f"{ref}^{{commit}}"], capture_output=True
        ).returncode
    ):
        print(f"no commit {ref} in this clone: measuring without the baseline", file=sys.stderr)
        ref = None
    with variants(Artifacts(build), ref, quick=args.quick) as found:
        samples = measure(found, paths, runs, memory, runtime_client(build))

    print(
        f"\nCold starts of the built artifacts ({args.arch}, Python {platform.python_version()}), "
        f"{runs} fresh interpreter(s) each: the least wall and CPU\n(CPU only grows when other work shares "
        f"the machine; the median is shown too), ratios and estimates from the least CPU:"
    )
    report_cold_starts(samples, paths, memory, ref)
    bytecode_alone = ratios(samples, paths, "no bytecode")
    if bytecode_alone:
        print("\nbytecode alone (this tree, with / without .pyc), CPU: " + _ratios_text(bytecode_alone))
    goal_met = report_against_naive(samples, paths)
    goal_met = report_stream_against_tts(samples, args.stream_goal) and goal_met
    if ref is not None:
        goal_met = report_against_baseline(samples, paths, ref, args.goal) and goal_met
    report_memory_costs(samples, paths, args.upstream_seconds)
    recommend(samples, paths, memory, args.cold_target)
    # One run on a shared machine is noise against a goal: the quick run fails only when it breaks.
    if args.quick:
        return 0
    return 0 if goal_met else 1


def report_against_baseline(
    samples: dict[tuple[str, str], Samples], paths: list[ColdPath], ref: str, goal: float
) -> bool:
    """The imports cut since `ref`, and each cold 200's CPU over the baseline's, against `goal`; True if met."""
    lazier = ratios(samples, paths, "baseline + bytecode")
    print(f"imports cut since {ref} (both with .pyc), CPU: " + _ratios_text(lazier))
    against = {name: r for name, r in ratios(samples, paths, "baseline").items() if "200" in name}
    met = all(r <= goal for r in against.values())
    print(
        f"cold 200 CPU, this tree with bytecode / baseline {ref} without: {_ratios_text(against)}"
        f"  (goal <= {goal:.2f}x: {'met' if met else 'NOT met'})"
    )
    return met


def report_against_naive(samples: dict[tuple[str, str], Samples], paths: list[ColdPath]) -> bool:
    """Each TTS path's CPU with bytecode over the naive eager handler's, against NAIVE_GOALS; True if all met."""
    against = ratios(samples, paths, NAIVE)
    print("\nthis tree with bytecode / the naive eager handler (both with .pyc), CPU:")
    all_met = True
    for name, ratio in against.items():
        goal = NAIVE_GOALS.get(name)
        if goal is None:
            continue
        met = ratio <= goal
        all_met = all_met and met
        ours, naive = min(samples[(name, "bytecode")].cpu), min(samples[(name, NAIVE)].cpu)
        print(
            f"  cold {name:<10} {ours:.3f} s / {naive:.3f} s = {ratio:.2f}x"
            f"  (goal <= {goal:.2f}x: {'met' if met else 'NOT met'})"
        )
    return all_met


def report_stream_against_tts(samples: dict[tuple[str, str], Samples], goal: float) -> bool:
    """The streaming function's cold paths (an ASGI server's start included) over the TTS function's, both with
    bytecode; True if each is within `goal`."""
    print("\nthe streaming function (run.sh, uvicorn, over HTTP) / the TTS function (both with .pyc), CPU:")
    all_met = True
    for stream, tts in STREAM_AGAINST_TTS.items():
        if (stream, "bytecode") not in samples or (tts, "bytecode") not in samples:
            continue
        ours, theirs = min(samples[(stream, "bytecode")].cpu), min(samples[(tts, "bytecode")].cpu)
        init = min(samples[(stream, "bytecode")].init_cpu)
        met = ours / theirs <= goal
        all_met = all_met and met
        print(
            f"  cold {stream:<20} {ours:.3f} s / {tts} {theirs:.3f} s = {ours / theirs:.2f}x"
            f"  (goal <= {goal:.2f}x: {'met' if met else 'NOT met'}; ready after {init:.3f} s of CPU)"
        )
    return all_met


def _ratios_text(found: dict[str, float]) -> str:
    return ", ".join(f"{name} {ratio:.2f}x" for name, ratio in found.items())


if __name__ == "__main__":
    sys.exit(main())
