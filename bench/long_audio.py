"""Benchmark: a 30-minute recording transcribed in parallel pieces against one sequential pass.

    .venv/bin/python bench/long_audio.py                          # 30 min, upstream at 40 audio s/s
    .venv/bin/python bench/long_audio.py --minutes 10 --audio-seconds-per-second 30
    .venv/bin/python bench/long_audio.py --memory-minutes 120      # also: peak memory for 120 min of m4a
    .venv/bin/python bench/long_audio.py --quick                  # CI: 6 min, upstream at 100 audio s/s

The fake OpenAI server (tests/fakes, on loopback) takes time in proportion to each piece's audio, as
OpenAI's transcription does (roughly 30 to 60 audio seconds a second). The baseline, measured in the
same run, is the same core with one call at a time (STT_PARALLEL_CALLS=1). Prints both times, the
ratio, the decode-and-cut time per audio minute, and from those the longest recording the
synchronous route can finish inside its 27 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from quick import parse_args

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from speech_common import long_audio  # noqa: E402
from speech_common.audio import AudioUpload  # noqa: E402
from speech_common.core import TranscriptionJob, transcribe  # noqa: E402
from speech_common.deadline import Deadline  # noqa: E402
from speech_common.settings import get_settings  # noqa: E402
from speech_common.transcode import iter_decoded_pcm  # noqa: E402
from tests.samples import encode  # noqa: E402
from tests.tone_speech import RATE, WORDS, recording  # noqa: E402

BUDGET_SECONDS = 27.0


def make_recording(minutes: float, fmt: str) -> bytes:
    """Speech the fake can hear, as an upload format (mp3, m4a, ...: tests/samples.encode)."""
    words = [WORDS[i % len(WORDS)] for i in range(int(minutes * 60 / 1.2))]
    return encode(fmt, recording(words), RATE)


def timed(audio: bytes, parallel: int) -> float:
    os.environ["STT_PARALLEL_CALLS"] = str(parallel)
    get_settings.cache_clear()
    started = time.perf_counter()
    transcribe(TranscriptionJob(AudioUpload(audio, "mp3")), Deadline(3600))
    return time.perf_counter() - started


@contextlib.contextmanager
def fake_upstream(seconds_per_audio_second: float) -> Iterator[str]:
    code = f"""
import sys, time
sys.path[:0] = [{str(REPO)!r}, {str(REPO / "layers" / "common")!r}]
from tests.fakes.openai_server import FakeOpenAI
with FakeOpenAI(api_key="sk-bench") as fake:
    fake.seconds_per_audio_second = {seconds_per_audio_second!r}
    print(fake.base_url, flush=True)
    sys.stdin.read()
"""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def decode_and_cut_seconds(audio: bytes) -> float:
    started = time.perf_counter()
    pcm = b"".join(iter_decoded_pcm(audio, sample_rate=long_audio.PIECE_SAMPLE_RATE))
    long_audio.silences(pcm)
    return time.perf_counter() - started


def peak_memory_mb(minutes: float) -> float:
    """Peak RSS of a fresh interpreter that transcribes `minutes` of m4a, as the worker would.

    The file is made in another process and the fake upstream runs in a third, so that neither the
    making of the recording nor the fake's reading of the pieces counts.
    """
    paths = f"sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'layers' / 'common')!r}]"
    with tempfile.NamedTemporaryFile(suffix=".m4a") as file:
        # This file as the script it is (its imports beside it), not as bench.long_audio.
        make = f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r})\nfrom long_audio import make_recording\n"
        make += f"open({file.name!r}, 'wb').write(make_recording({minutes}, 'm4a'))"
        subprocess.run([sys.executable, "-c", make], check=True)
        measure = f"""
import os, resource, sys
{paths}
os.environ.update(POWERTOOLS_METRICS_NAMESPACE="b", POWERTOOLS_SERVICE_NAME="b", POWERTOOLS_LOG_LEVEL="ERROR")
from speech_common.audio import AudioUpload
from speech_common.core import TranscriptionJob, transcribe
from speech_common.deadline import Deadline
audio = open({file.name!r}, "rb").read()
transcribe(TranscriptionJob(AudioUpload(audio, "m4a")), Deadline(3600))
print(len(audio), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
        with fake_upstream(0.0) as base_url:
            env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": base_url}
            out = subprocess.run(
                [sys.executable, "-c", measure], capture_output=True, text=True, check=True, env=env
            )
    size, peak_kb = out.stdout.split()[-2:]
    print(f"  {minutes:g} min of m4a: {int(size) / 1e6:.0f} MB file, peak RSS {int(peak_kb) / 1024:.0f} MB")
    return int(peak_kb) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--audio-seconds-per-second", type=float, default=40.0)
    parser.add_argument("--memory-minutes", type=float, default=0, help="also measure peak memory (0: skip)")
    # Quick: just long enough to be cut (STT_SPLIT_ABOVE_SECONDS: 300), at a faster upstream.
    args = parse_args(parser, {"minutes": 6, "audio_seconds_per_second": 100.0})

    audio = make_recording(args.minutes, "mp3")
    seconds = args.minutes * 60
    # The fake runs in a process of its own, as a real upstream would: its CPU (reading each upload)
    # must not compete with ours for this interpreter.
    with fake_upstream(1 / args.audio_seconds_per_second) as base_url:
        os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=base_url)
        parallel = get_settings().stt_parallel_calls
        timed(make_recording(0.2, "mp3"), parallel)  # warm: the SDK, PyAV and the tracer are imported once
        chunked = timed(audio, parallel)
        sequential = timed(audio, 1)
    overhead = decode_and_cut_seconds(audio) / seconds  # local CPU per audio second
    upstream = 1 / args.audio_seconds_per_second  # upstream time per audio second, one call
    # In BUDGET s: decode and cut everything, then one round of `parallel` pieces at the upstream's pace.
    longest = BUDGET_SECONDS / (overhead + upstream / parallel * 1.1)

    print(
        f"recording: {args.minutes:g} min mp3 ({len(audio) / 1e6:.1f} MB); upstream {args.audio_seconds_per_second:g} audio s/s"
    )
    print(f"one call at a time (baseline): {sequential:7.2f} s")
    print(f"{parallel} parallel pieces:           {chunked:7.2f} s")
    print(f"speed-up:                      {sequential / chunked:7.2f}x (goal: >= 6x)")
    print(f"decode + cut:                  {overhead * 60:7.3f} s per audio minute on this machine")
    print(
        f"longest audio the synchronous route finishes in {BUDGET_SECONDS:g} s: about {longest / 60:.0f} min"
    )
    if args.memory_minutes:
        print("peak memory:")
        peak_memory_mb(args.memory_minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
