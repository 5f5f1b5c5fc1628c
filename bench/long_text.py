"""Benchmark: a 4,096-character TTS request, read in parallel chunks against one single call; and a
60,000-character speech job against one sequential pass over its pieces.

    .venv/bin/python bench/long_text.py                     # 0.004 s a character (OpenAI: ~0.012)
    .venv/bin/python bench/long_text.py --seconds-per-char 0.002 --runs 3 --parallel 4
    .venv/bin/python bench/long_text.py --job-chars 100000 --job-seconds-per-char 0.0005
    .venv/bin/python bench/long_text.py --memory-chars 100000 150000   # also: the worker's peak memory (wav)
    .venv/bin/python bench/long_text.py --quick             # CI: one run, a faster fake, a 3,000-character job

Goal: the chunked read takes at most 0.2x the single call's time (TTS_PARALLEL_CALLS=8, one round).
The job (the worker's synthesize_long_text, cache off) is timed at a lighter pace by default (0.001 s
a character: a minute for the sequential pass), and projected to OpenAI's pace against the worker's
900 s timeout.

The fake OpenAI server (tests/fakes, on loopback) takes time in proportion to the input, as
OpenAI's speech endpoint does. The baseline, measured in the same run, is the same engine with
chunking off (one call for the whole text, as a naive client would make). Prints both times, the
ratio, and what the real endpoint's ~0.012 s a character would mean against the 29 s gateway.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from quick import parse_args

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]

from speech_common import engines  # noqa: E402
from speech_common.core import (  # noqa: E402
    LONG_TEXT_PIECE_CHARS,
    SynthesisRequest,
    synthesize_long_text,
)
from speech_common.deadline import Deadline  # noqa: E402
from speech_common.engines import openai_engine  # noqa: E402
from speech_common.engines.base import SpeechRequest  # noqa: E402
from speech_common.settings import Settings, get_settings  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

OPENAI_SECONDS_PER_CHAR = 0.012  # 4,096 characters in 44-62 s (design.md)
GATEWAY_SECONDS = 29.0
WORKER_TIMEOUT_SECONDS = 900.0  # template.yaml: WorkerFunction


def timed(engine: openai_engine.OpenAITextToSpeech, request: SpeechRequest, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        engine.synthesize(request, upstream_model="tts-1", deadline=Deadline(600))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds-per-char", type=float, default=0.004)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--parallel", type=int, default=Settings().tts_parallel_calls, help="TTS_PARALLEL_CALLS"
    )
    parser.add_argument("--job-chars", type=int, default=60_000)
    parser.add_argument("--job-seconds-per-char", type=float, default=0.001)
    parser.add_argument("--memory-chars", type=int, nargs="*", default=[], help="also measure peak memory")
    # Quick: the same 4,096 characters and chunks at a faster pace, one run; a job of three pieces.
    quick = dict(
        seconds_per_char=0.0005, runs=1, job_chars=3 * LONG_TEXT_PIECE_CHARS, job_seconds_per_char=0.0002
    )
    args = parse_args(parser, quick)
    request_benchmark(args)
    job_benchmark(args)
    if args.memory_chars:
        print("\nspeech job, peak memory (wav, audio at a real pace of 15 characters a second):")
        for chars in args.memory_chars:
            job_peak_memory_mb(chars)
    return 0


def job_peak_memory_mb(chars: int) -> float:
    """Peak RSS of a fresh interpreter that reads a `chars`-character job as wav, as the worker would
    (the fake upstream, answering at full length, runs in this process, so its memory is not counted)."""
    paths = f"sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'layers' / 'common')!r}]"
    measure = f"""
import os, resource, sys
{paths}
os.environ.update(POWERTOOLS_METRICS_NAMESPACE="b", POWERTOOLS_SERVICE_NAME="b", POWERTOOLS_LOG_LEVEL="ERROR")
from speech_common.core import synthesize_long_text
from speech_common.deadline import Deadline
from speech_common.core import SynthesisRequest
sentence = "This sentence is part of a long document read aloud by a speech job. "
text = (sentence * ({chars} // len(sentence) + 1))[:{chars}].rsplit(" ", 1)[0] + "."
speech, _, seconds = synthesize_long_text(SynthesisRequest(text=text, response_format="wav"), Deadline(3600))
print(len(speech.audio), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    with FakeOpenAI(api_key="sk-bench") as fake:
        fake.max_speech_seconds = 3600.0
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url}
        for name in ("SPEECH_BUCKET", "OPENAI_SECRET_NAME"):
            env.pop(name, None)
        out = subprocess.run(
            [sys.executable, "-c", measure], capture_output=True, text=True, check=True, env=env
        )
    size, seconds, peak_kb = out.stdout.split()[-3:]
    print(
        f"  {chars:,} characters: {float(seconds) / 60:.0f} min of speech, {int(size) / 1e6:.0f} MB of wav, "
        f"peak RSS {int(peak_kb) / 1024:.0f} MB (the worker has 2048 MB)"
    )
    return int(peak_kb) / 1024


def request_benchmark(args: argparse.Namespace) -> None:

    text = ("This sentence is part of a long text read aloud by the speech API. " * 70)[:4096]
    request = SpeechRequest(text=text, voice="alloy", response_format="mp3")
    with FakeOpenAI(api_key="sk-bench") as fake:
        fake.seconds_per_input_char = args.seconds_per_char
        settings = Settings(
            openai_api_key="sk-bench",
            openai_base_url=fake.base_url,
            upstream_max_attempts=1,
            tts_parallel_calls=args.parallel,
        )
        engine = openai_engine.OpenAITextToSpeech(settings)
        chunked = timed(engine, request, args.runs)
        with mock.patch.object(openai_engine, "SPEECH_CHUNK_CHARS", 10_000):  # baseline: one call
            single = timed(engine, request, args.runs)

    ratio = single / chunked
    chunks = len(openai_engine.speech_chunks(text, args.parallel))
    print(
        f"text: {len(text)} characters, fake upstream {args.seconds_per_char:g} s/char, median of {args.runs}"
    )
    print(f"one call (baseline):  {single:6.2f} s")
    print(f"parallel chunks:      {chunked:6.2f} s  ({chunks} chunks, {args.parallel} parallel calls)")
    print(f"time ratio:           {chunked / single:6.2f}x of one call (goal: <= 0.20x)")
    print(f"speed-up:             {ratio:6.2f}x")
    real_single = len(text) * OPENAI_SECONDS_PER_CHAR
    print(
        f"at OpenAI's ~{OPENAI_SECONDS_PER_CHAR} s/char: one call ~{real_single:.0f} s, "
        f"chunks ~{real_single / ratio:.0f} s (gateway limit {GATEWAY_SECONDS:.0f} s)"
    )


def timed_job(text: str, parallel: int) -> float:
    """synthesize_long_text as the worker calls it, configured through its environment (no bucket: no cache)."""
    os.environ["TTS_PARALLEL_CALLS"] = str(parallel)
    get_settings.cache_clear()
    engines.built_engines.cache_clear()
    started = time.perf_counter()
    synthesize_long_text(SynthesisRequest(text=text), Deadline(WORKER_TIMEOUT_SECONDS))
    return time.perf_counter() - started


def job_benchmark(args: argparse.Namespace) -> None:
    sentence = "This sentence is part of a long document read aloud by a speech job. "
    text = (sentence * (args.job_chars // len(sentence) + 1))[: args.job_chars].rsplit(" ", 1)[0] + "."
    with FakeOpenAI(api_key="sk-bench") as fake:
        fake.seconds_per_input_char = args.job_seconds_per_char
        os.environ.update(
            {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.base_url, "UPSTREAM_MAX_ATTEMPTS": "1"}
        )
        for name in ("SPEECH_BUCKET", "OPENAI_SECRET_NAME"):
            os.environ.pop(name, None)
        parallel = timed_job(text, args.parallel)
        sequential = timed_job(text, 1)
    pieces = -(-len(text) // LONG_TEXT_PIECE_CHARS)
    print()
    print(
        f"speech job: {len(text)} characters (~{pieces} pieces), fake upstream {args.job_seconds_per_char:g} s/char"
    )
    print(f"one sequential pass (baseline): {sequential:6.2f} s")
    print(f"job, {args.parallel} pieces at once:    {parallel:6.2f} s")
    print(f"time ratio:                     {parallel / sequential:6.2f}x of the sequential pass")
    real = len(text) * OPENAI_SECONDS_PER_CHAR
    print(
        f"at OpenAI's ~{OPENAI_SECONDS_PER_CHAR} s/char: sequential ~{real:.0f} s, "
        f"job ~{real * parallel / sequential:.0f} s (worker timeout {WORKER_TIMEOUT_SECONDS:.0f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
