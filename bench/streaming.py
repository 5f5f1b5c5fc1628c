"""Benchmark: streamed speech's first and last byte against today's buffered answer, on the openai and realtime routes.

    .venv/bin/python bench/streaming.py                    # 300, 2,500 and 4,096 characters at OpenAI's pace
    .venv/bin/python bench/streaming.py --sizes 2500 --runs 3 --format wav
    .venv/bin/python bench/streaming.py --quick            # CI: smaller texts, a faster upstream, no goals

Measured through `core.stream_speech` directly, as the /v1 door calls it (the HTTP layer and the streaming
function's ASGI app are measured elsewhere): the first byte is when stream_speech returns (its first chunk is
made), the last when its chunks end. The baseline, measured in the same run, is `core.synthesize` (today's
buffered answer: its first byte is its last).

The fake upstreams (tests/fakes, on loopback) stream as OpenAI does: the first audio after 0.3 s, then the rest
at OpenAI's pace (about 0.012 s a character of the input), audio of its real length (15 characters a second).
The HTTP fake notes when it sent each answer's first bytes: "upstream first" is the earliest of them.

Goals (exit 1 when one is missed, except with --quick): on the openai route the first byte within 0.1 s of the
upstream's own; on the realtime route at most 1.5 s for 2,500 characters; for 2,500 characters the first byte at
most 0.2x the last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from quick import parse_args

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]
os.environ.update(
    POWERTOOLS_METRICS_NAMESPACE="Bench",
    POWERTOOLS_SERVICE_NAME="bench",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_DISABLED="true",
)

from speech_common import engines  # noqa: E402
from speech_common.core import SynthesisRequest, stream_speech, synthesize  # noqa: E402
from speech_common.deadline import Deadline  # noqa: E402
from speech_common.engines.openai_client import client_for  # noqa: E402
from speech_common.settings import get_settings  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.realtime_server import FakeRealtimeServer  # noqa: E402

REALTIME_MODEL = "gpt-realtime-2.1-mini"
ROUTES = {
    "openai": "tts-1=openai:tts-1;tts-1-hd=openai:tts-1-hd",
    "realtime": f"tts-1=openai-realtime:{REALTIME_MODEL};tts-1-hd=openai-realtime:{REALTIME_MODEL}",
}
SPOKEN_CHARS_PER_SECOND = 15  # the fakes' audio lasts as long as real speech of the text
DEADLINE_SECONDS = 600.0  # a stream may run up to 15 minutes: the deadline is not what is measured
# What a voice app reads aloud: an assistant's answer, sentences of varied lengths.
PARAGRAPH = (
    "Thanks for getting in touch about your order. "
    "It left our warehouse this morning and should reach you on Thursday, between nine and noon. "
    "If nobody is home, the driver will leave a card with a number to call. "
    "You can also pick the parcel up yourself from the depot on Mill Road, which is open until eight. "
    "Is there anything else I can help you with today? "
)
GOAL_UPSTREAM_MARGIN = 0.1
GOAL_REALTIME_FIRST_BYTE = 1.5
GOAL_FIRST_TO_LAST = 0.2
GOAL_CHARS = 2500


def text_of(chars: int) -> str:
    """`chars` characters of the paragraph repeated, ending at a word."""
    text = (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]
    return text if len(text) < chars else text.rsplit(" ", 1)[0] + "."


@dataclass
class Timing:
    first: float
    last: float
    upstream_first: float | None = None  # the HTTP upstream's own first byte (openai route)


def use_route(route: str) -> None:
    os.environ["TTS_MODEL_ROUTES"] = ROUTES[route]
    get_settings.cache_clear()
    engines.built_engines.cache_clear()
    client_for.cache_clear()


def streamed(request: SynthesisRequest, fake: FakeOpenAI) -> Timing:
    earlier = len(fake.first_audio_sent)
    started = time.monotonic()
    stream, _ = stream_speech(request, Deadline(DEADLINE_SECONDS))
    first = time.monotonic() - started
    for _ in stream.chunks:
        pass
    last = time.monotonic() - started
    sent = fake.first_audio_sent[earlier:]
    return Timing(first, last, min(sent) - started if sent else None)


def buffered(request: SynthesisRequest) -> Timing:
    started = time.monotonic()
    synthesize(request, Deadline(DEADLINE_SECONDS))
    seconds = time.monotonic() - started
    return Timing(seconds, seconds)


def median(timings: list[Timing]) -> Timing:
    upstream = [t.upstream_first for t in timings if t.upstream_first is not None]
    return Timing(
        statistics.median(t.first for t in timings),
        statistics.median(t.last for t in timings),
        statistics.median(upstream) if upstream else None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 2500, 4096], help="text lengths")
    parser.add_argument("--runs", type=int, default=1, help="median of this many runs")
    parser.add_argument("--first-audio", type=float, default=0.3, help="the upstream's first bytes (s)")
    parser.add_argument("--seconds-per-char", type=float, default=0.012, help="the upstream's pace")
    parser.add_argument("--format", default="mp3", help="response_format")
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES))
    quick = dict(sizes=[300, 1000], seconds_per_char=0.002, first_audio=0.05)
    args = parse_args(parser, quick)

    with (
        FakeOpenAI(api_key="sk-bench") as http_fake,
        FakeRealtimeServer(api_key="sk-bench", seconds_per_char=1 / SPOKEN_CHARS_PER_SECOND) as realtime_fake,
    ):
        http_fake.first_audio_seconds = args.first_audio
        http_fake.seconds_per_input_char = args.seconds_per_char
        http_fake.max_speech_seconds = 3600.0
        realtime_fake.first_audio_seconds = args.first_audio
        realtime_fake.seconds_per_input_char = args.seconds_per_char
        for name in ("SPEECH_BUCKET", "OPENAI_SECRET_NAME", "AZURE_OPENAI_ENDPOINT"):
            os.environ.pop(name, None)  # no speech cache: every answer is read
        os.environ.update(
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=http_fake.base_url,
            OPENAI_REALTIME_BASE_URL=realtime_fake.websocket_base_url,
            UPSTREAM_MAX_ATTEMPTS="1",
        )
        print(
            f"fake upstreams: first audio after {args.first_audio:g} s, then {args.seconds_per_char:g} s a character; "
            f"{args.format}, median of {args.runs}, through core.stream_speech (baseline: core.synthesize)"
        )
        print(
            f"{'route':9} {'chars':>6} {'upstream 1st':>12} {'stream 1st':>10} {'stream last':>11} "
            f"{'buffered':>9} {'1st/last':>8} {'1st/buffered':>12}"
        )
        missed: list[str] = []
        for route in args.routes:
            use_route(route)
            request = SynthesisRequest(text=text_of(300), response_format=args.format)
            streamed(request, http_fake)  # warm: imports, connections, the encoder
            for chars in args.sizes:
                request = SynthesisRequest(text=text_of(chars), response_format=args.format)
                stream = median([streamed(request, http_fake) for _ in range(args.runs)])
                whole = median([buffered(request) for _ in range(args.runs)])
                upstream = (
                    f"{stream.upstream_first:12.2f}"
                    if route == "openai" and stream.upstream_first
                    else " " * 12
                )
                print(
                    f"{route:9} {chars:6,} {upstream} {stream.first:10.2f} {stream.last:11.2f} "
                    f"{whole.last:9.2f} {stream.first / stream.last:8.2f} {stream.first / whole.last:12.2f}"
                )
                missed += goals_missed(route, chars, stream)
    if missed:
        print("goals missed:\n  " + "\n  ".join(missed))
    else:
        print("goals met" if not args.quick else "goals not checked (--quick)")
    return 1 if missed and not args.quick else 0


def goals_missed(route: str, chars: int, stream: Timing) -> list[str]:
    missed = []
    if route == "openai" and stream.upstream_first is not None:
        late = stream.first - stream.upstream_first
        if late > GOAL_UPSTREAM_MARGIN:
            missed.append(
                f"openai, {chars} chars: first byte {late:.2f} s after the upstream's (goal {GOAL_UPSTREAM_MARGIN})"
            )
    if route == "realtime" and chars == GOAL_CHARS and stream.first > GOAL_REALTIME_FIRST_BYTE:
        missed.append(
            f"realtime, {chars} chars: first byte at {stream.first:.2f} s (goal {GOAL_REALTIME_FIRST_BYTE})"
        )
    if chars == GOAL_CHARS and stream.first > GOAL_FIRST_TO_LAST * stream.last:
        missed.append(
            f"{route}, {chars} chars: first byte {stream.first / stream.last:.2f}x the last (goal {GOAL_FIRST_TO_LAST})"
        )
    return missed


if __name__ == "__main__":
    sys.exit(main())
