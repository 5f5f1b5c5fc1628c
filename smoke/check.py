"""Every configured route entry of every documented model, and each voice once, asked directly.

No Lambda, no route chain: each entry's engine is called as the chain would call it, so a dead entry
shows as dead instead of being skipped. Prints the estimated cost first, then one table line an
entry; exits 1 if any entry failed, 2 if nothing can be asked (no key for OpenAI routes).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO, get_args

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "common") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "common"))

from speech_common import model_routing  # noqa: E402
from speech_common.audio import AudioUpload, sniff_audio_format  # noqa: E402
from speech_common.deadline import Deadline  # noqa: E402
from speech_common.engines import stt_engine, tts_engine  # noqa: E402
from speech_common.engines.base import SpeechRequest, TranscriptionRequest  # noqa: E402
from speech_common.errors import SpeechError, UpstreamFailure  # noqa: E402
from speech_common.model_routing import Route  # noqa: E402
from speech_common.secrets import has_openai_key  # noqa: E402
from speech_common.settings import ConfigurationError, Settings, get_settings  # noqa: E402
from speech_common.vocabulary import DOCUMENTED_VOICES, SttModel, TtsModel  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog."
SECONDS_PER_CALL = 60.0
# Upper estimates in US dollars (check current prices): per character of TTS input, per minute of
# STT audio. Unknown models are counted at the highest rate of their kind, so the estimate errs high.
TTS_USD_PER_CHAR = {
    "tts-1": 15e-6,
    "tts-1-hd": 30e-6,
    "gpt-4o-mini-tts": 15e-6,
    "neural": 16e-6,
    "standard": 4e-6,
    "generative": 30e-6,
    "long-form": 100e-6,
    "gpt-realtime-2.1-mini": 40e-6,  # realtime audio output, about 15 characters a second
}
STT_USD_PER_MINUTE = {
    "whisper-1": 0.006,
    "gpt-transcribe": 0.0045,
    "gpt-4o-transcribe": 0.006,
    "gpt-4o-transcribe-diarize": 0.006,
}
FREE_ENGINES = {"local"}
OPENAI_ENGINES = {"openai", "openai-realtime"}
CLIP_SECONDS = 3.0  # the STT clip: a short spoken sentence


@dataclass(frozen=True)
class Probe:
    kind: str  # "tts" or "stt"
    public_model: str
    route: Route
    voice: str = "alloy"
    retired_since: date | None = None  # past its known shutdown date: the service skips it, so do we

    @property
    def label(self) -> str:
        voice = f" {self.voice}" if self.kind == "tts" else ""
        return f"{self.public_model} {self.route}{voice}"


@dataclass(frozen=True)
class Outcome:
    probe: Probe
    ok: bool
    status: str  # "ok" or the failure code
    seconds: float
    output: str  # audio bytes, or transcript words
    verbatim: str  # "passed", "failed" or "-" (entries without a verbatim check)
    audio: bytes | None = field(default=None, repr=False)  # a TTS entry's answer (the STT clip)


def plan(settings: Settings) -> list[Probe]:
    """Each route entry of each documented model once, and every voice once on tts-1's first live entry."""
    today = model_routing.utc_today()

    def retired(route: Route) -> date | None:
        gone = settings.model_shutdown_dates.get(route.upstream_model)
        return gone if gone is not None and today >= gone else None

    tables = (
        ("tts", get_args(TtsModel), settings.tts_model_routes),
        ("stt", get_args(SttModel), settings.stt_model_routes),
    )
    probes = [
        Probe(kind, model, route, retired_since=retired(route))
        for kind, models, table in tables
        for model in models
        for route in table[model]
    ]
    chain = settings.tts_model_routes["tts-1"]
    first = next((route for route in chain if retired(route) is None), chain[-1])
    probes += [Probe("tts", "tts-1", first, voice) for voice in DOCUMENTED_VOICES if voice != "alloy"]
    return probes


def estimated_cost_usd(probes: Iterable[Probe]) -> float:
    cost = 0.0
    for probe in probes:
        if probe.route.engine in FREE_ENGINES or probe.retired_since is not None:
            continue
        if probe.kind == "tts":
            rate = TTS_USD_PER_CHAR.get(probe.route.upstream_model, max(TTS_USD_PER_CHAR.values()))
            cost += len(SENTENCE) * rate
        else:
            rate = STT_USD_PER_MINUTE.get(probe.route.upstream_model, max(STT_USD_PER_MINUTE.values()))
            cost += CLIP_SECONDS / 60.0 * rate
    return cost


def run_probe(probe: Probe, settings: Settings, clip: Callable[[], AudioUpload]) -> Outcome:
    if probe.retired_since is not None:
        return Outcome(probe, True, f"retired {probe.retired_since}", 0.0, "-", "-")
    started = time.monotonic()
    verbatim = "-"
    try:
        if probe.kind == "tts":
            audio = tts_engine(probe.route.engine, settings).synthesize(
                SpeechRequest(text=SENTENCE, voice=probe.voice, response_format="mp3"),
                upstream_model=probe.route.upstream_model,
                deadline=Deadline(SECONDS_PER_CALL),
            )
            output = f"{len(audio)} bytes"
            if probe.route.engine == "openai-realtime":
                verbatim = "passed"
        else:
            audio = None
            text = (
                stt_engine(probe.route.engine, settings)
                .transcribe(
                    TranscriptionRequest(audio=clip()),
                    upstream_model=probe.route.upstream_model,
                    deadline=Deadline(SECONDS_PER_CALL),
                )
                .text
            )
            output = f"{len(text.split())} words"
    except UpstreamFailure as failure:
        if failure.code == UpstreamFailure.VERBATIM_MISMATCH:
            verbatim = "failed"
        return Outcome(probe, False, failure.code, time.monotonic() - started, "-", verbatim)
    except SpeechError as error:
        return Outcome(probe, False, error.code, time.monotonic() - started, "-", verbatim)
    return Outcome(probe, True, "ok", time.monotonic() - started, output, verbatim, audio=audio)


def table(outcomes: list[Outcome]) -> str:
    rows = [("route entry", "status", "seconds", "output", "verbatim")]
    rows += [(o.probe.label, o.status, f"{o.seconds:.1f}", o.output, o.verbatim) for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


def run(settings: Settings, out: TextIO) -> int:
    probes = plan(settings)
    needs_key = any(probe.route.engine in OPENAI_ENGINES and probe.retired_since is None for probe in probes)
    if needs_key and not has_openai_key(settings):
        print("smoke: the routes call OpenAI: set OPENAI_API_KEY (or OPENAI_SECRET_NAME) first", file=out)
        return 2
    asked = sum(1 for probe in probes if probe.retired_since is None)
    print(f"smoke: {asked} requests, estimated cost {estimated_cost_usd(probes) * 100:.2f} cents", file=out)
    spoken: list[bytes] = []

    def clip() -> AudioUpload:
        # The transcription clip: the sentence as the first TTS entry that answered spoke it (else silence).
        if not spoken:
            return AudioUpload(data=_tone_mp3(), format="mp3")
        return AudioUpload(data=spoken[0], format=sniff_audio_format(spoken[0]) or "mp3")

    outcomes = []
    for probe in probes:
        outcome = run_probe(probe, settings, clip)
        if outcome.audio and not spoken:
            spoken.append(outcome.audio)
        outcomes.append(outcome)
        print(f"  {outcome.probe.label}: {outcome.status}", file=out, flush=True)
    print(table(outcomes), file=out)
    failed = [o for o in outcomes if not o.ok]
    print(f"smoke: {len(outcomes) - len(failed)} of {len(outcomes)} entries answered or retired", file=out)
    return 1 if failed else 0


def _tone_mp3() -> bytes:
    from speech_common.transcode import encode_pcm

    samples = int(CLIP_SECONDS * 24_000)
    return encode_pcm(bytes(samples * 2), sample_rate=24_000, fmt="mp3")


def main() -> int:
    try:
        settings = get_settings()
    except ConfigurationError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2
    return run(settings, sys.stdout)
