"""Benchmark: an identical TTS request answered from the speech cache, against the first (a miss).

    .venv/bin/python bench/tts_cache.py                      # OpenAI's pace: 0.012 s a character
    .venv/bin/python bench/tts_cache.py --seconds-per-char 0.004 --runs 20
    .venv/bin/python bench/tts_cache.py --quick              # CI: 2 runs

The fake OpenAI server and moto's S3 (server mode, real HTTP) run on loopback; the TTS handler is
called as Lambda would call it. The baseline, in the same run, is a miss: the upstream reads the
text. Goal: a hit at least 20x faster than a miss.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import sys
import time
from pathlib import Path

from quick import parse_args

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]
os.environ.update(
    POWERTOOLS_METRICS_NAMESPACE="Bench",
    POWERTOOLS_SERVICE_NAME="bench",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_DISABLED="true",  # the numbers below, not an EMF line per request
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
)

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.helpers import api_event, header, invoke  # noqa: E402

TEXT = "Your order has shipped and will arrive on Thursday. Thank you for shopping with us!"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds-per-char", type=float, default=0.012)
    parser.add_argument("--runs", type=int, default=10)
    args = parse_args(parser, {"runs": 2})

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request it answers
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.session.Session().client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        with FakeOpenAI(api_key="sk-bench") as fake:
            fake.seconds_per_input_char = args.seconds_per_char
            os.environ.update(
                AWS_ENDPOINT_URL_S3=endpoint,
                SPEECH_BUCKET="bench",
                OPENAI_API_KEY="sk-bench",
                OPENAI_BASE_URL=fake.base_url,
            )
            misses, hits = [], []
            for run in range(args.runs):
                body = json.dumps({"text": f"{TEXT} ({run})"})  # a new text each run: the first is a miss
                for kind in ("miss", "hit"):
                    started = time.perf_counter()
                    response = invoke("tts", api_event("POST", "/api/tts/", body=body))
                    elapsed = time.perf_counter() - started
                    assert header(response, "X-Speech-Cache") == kind, (kind, response["json"])
                    (misses if kind == "miss" else hits).append(elapsed)
    finally:
        s3.stop()
    miss, hit = statistics.median(misses), statistics.median(hits)
    print(
        f"text: {len(TEXT)} characters, fake upstream {args.seconds_per_char:g} s/char, median of {args.runs}"
    )
    print(f"miss (the upstream reads it, baseline): {miss * 1000:8.1f} ms")
    print(f"hit (the bucket's cache):               {hit * 1000:8.1f} ms")
    print(f"a hit is {miss / hit:.0f}x faster (goal: >= 20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
