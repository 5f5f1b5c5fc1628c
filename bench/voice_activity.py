"""Benchmark: only speech goes upstream. A 60-minute meeting with 20 minutes of silence in several gaps, transcribed
with the voice-activity pass and without it (the baseline, measured in the same run: STT_VOICE_ACTIVITY=false);
then the detector alone on real speech mixed with silence and noise.

    .venv/bin/python bench/voice_activity.py            # 60 min, 20 of them silent, in 8 gaps
    .venv/bin/python bench/voice_activity.py --quick    # CI: 12 min, 4 of them silent

The meeting's speech is the tests' voiced tones (tests/tone_speech.py), which the fake OpenAI server (tests/fakes, in
a process of its own) hears word for word; like Whisper, it also hears a phrase in every silence of 10 s or more
("the quick brown fox ..."). Printed for each way: the audio seconds sent upstream, the calls, the words recovered
(in order) and the words made up. Then the detector's findings on the held set's human sentences (bench/held_set)
and the offline engine's espeak-ng speech between stretches of silence and noise: how much of the speech is kept,
how much of the silence and noise is sent, and its CPU time per hour of audio.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import struct
import sys
import time
from pathlib import Path

from quick import parse_args

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from speech_common import voice_activity  # noqa: E402
from speech_common.audio import AudioUpload  # noqa: E402
from speech_common.core import TranscriptionJob, transcribe  # noqa: E402
from speech_common.deadline import Deadline  # noqa: E402
from speech_common.engines import local  # noqa: E402
from speech_common.engines.base import SpeechRequest  # noqa: E402
from speech_common.settings import get_settings  # noqa: E402
from speech_common.transcode import encode_pcm, iter_decoded_pcm  # noqa: E402
from tests.audio_helpers import duration_seconds  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.tone_speech import RATE, WORDS, hear, recording, silence  # noqa: E402

PHANTOM = "the quick brown fox jumps over the lazy dog"
LIBRIVOX = REPO / "bench" / "held_set" / "librivox"


def meeting(minutes: float, silent_minutes: float, gaps: int) -> tuple[bytes, list[str]]:
    """`minutes` of mp3: words, with `silent_minutes` of silence in `gaps` gaps of equal length between them."""
    speaking = (minutes - silent_minutes) * 60 / (gaps + 1)
    gap = silent_minutes * 60 / gaps
    words = [WORDS[(i * 3) % len(WORDS)] for i in range(int(speaking / 1.2))]
    turn = recording(words)
    pcm = turn + b"".join(silence(gap) + turn for _ in range(gaps))
    return encode_pcm(pcm, sample_rate=RATE, fmt="mp3", output_rate=RATE), words * (gaps + 1)


def transcribed(audio: bytes, *, pass_on: bool) -> str:
    os.environ["STT_VOICE_ACTIVITY"] = "true" if pass_on else "false"
    get_settings.cache_clear()
    transcript, _ = transcribe(TranscriptionJob(AudioUpload(audio, "mp3")), Deadline(3600))
    return transcript.text


def recovered(said: list[str], heard: list[str]) -> int:
    """Words of `said` heard, in order: the length of the longest common subsequence."""
    previous = [0] * (len(heard) + 1)
    for word in said:
        current = [0]
        for index, other in enumerate(heard):
            current.append(previous[index] + 1 if word == other else max(previous[index + 1], current[index]))
        previous = current
    return previous[-1]


def run_meeting(args: argparse.Namespace) -> None:
    audio, said = meeting(args.minutes, args.silent_minutes, args.gaps)
    print(
        f"meeting: {args.minutes:g} min mp3, {args.silent_minutes:g} min of it silent in {args.gaps} gaps, "
        f"{len(said)} words"
    )
    with FakeOpenAI(api_key="sk-bench") as fake:
        fake.transcriber = hear
        fake.hallucination = PHANTOM
        os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=fake.base_url)
        for name, pass_on in (("baseline (pass off)", False), ("voice activity pass", True)):
            fake.reset()
            fake.transcriber, fake.hallucination = hear, PHANTOM
            heard = transcribed(audio, pass_on=pass_on).split()
            sent = [duration_seconds(r.file_bytes or b"") for r in fake.requests]
            found = recovered(said, heard)
            print(
                f"  {name:20s} sent upstream {sum(sent) / 60:5.1f} min in {len(sent):2d} calls; "
                f"words recovered {found}/{len(said)}; words made up {len(heard) - found}"
            )


def noise(seconds: float, rms: float, rng: random.Random) -> bytes:
    count = int(seconds * RATE)
    return struct.pack(
        f"<{count}h", *(max(-32768, min(32767, round(rng.gauss(0, rms)))) for _ in range(count))
    )


def hum(seconds: float, peak: float) -> bytes:
    count = int(seconds * RATE)
    wave = (sum(math.sin(2 * math.pi * 50 * k * i / RATE) / k for k in range(1, 6)) for i in range(count))
    return struct.pack(f"<{count}h", *(round(peak / 2.3 * value) for value in wave))


def speech_clips(espeak: int) -> list[tuple[str, bytes]]:
    clips = [
        ("human", b"".join(iter_decoded_pcm(path.read_bytes(), sample_rate=RATE)))
        for path in sorted(LIBRIVOX.glob("*.wav"))
    ]
    tts = local.LocalTextToSpeech(get_settings())
    texts = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background."]
    for voice in ("alloy", "onyx", "nova")[:espeak]:
        for text in texts:
            wav = tts.synthesize(
                SpeechRequest(text=text, voice=voice, response_format="wav"),
                upstream_model="tts-1",
                deadline=Deadline(60),
            )
            clips.append(("espeak-ng", b"".join(iter_decoded_pcm(wav, sample_rate=RATE))))
    return clips


def run_detector(args: argparse.Namespace) -> None:
    """Each clip between 8 s stretches of each background; kept = inside the stretches the pass keeps."""
    rng = random.Random(1)
    backgrounds = {
        "digital silence": lambda s: silence(s),
        "hiss at -40 dBFS": lambda s: noise(s, 330, rng),
        "hiss at -30 dBFS": lambda s: noise(s, 1040, rng),
        "mains hum at -25 dBFS": lambda s: hum(s, 1850),
    }
    clips = speech_clips(args.espeak_voices)
    print(
        f"detector (WebRTC VAD, mode {voice_activity.AGGRESSIVENESS}) on {len(clips)} clips of real speech:"
    )
    cpu, audio_seconds = 0.0, 0.0
    for name, make in backgrounds.items():
        pcm, speech = b"", []
        for kind, clip in clips:
            pcm += make(8.0)
            at = len(pcm) / 2 / RATE
            speech.append((kind, at, at + len(clip) / 2 / RATE))
            pcm += clip
        pcm += make(8.0)
        started = time.process_time()
        clock = voice_activity.speech_clock(pcm)
        cpu += time.process_time() - started
        audio_seconds += len(pcm) / 2 / RATE
        kept = {kind: _overlap([(a, b) for k, a, b in speech if k == kind], clock.spans) for kind, _ in clips}
        said = {kind: sum(b - a for k, a, b in speech if k == kind) for kind, _ in clips}
        background = clock.speech_seconds - _overlap([(a, b) for _, a, b in speech], clock.spans)
        silent = len(pcm) / 2 / RATE - sum(said.values())
        shares = ", ".join(f"{kind} {kept[kind] / said[kind]:.0%}" for kind in said)
        print(f"  between {name:22s} speech kept: {shares}; background sent {background / silent:.0%}")
    print(f"  CPU: {cpu / audio_seconds * 3600:.1f} s per hour of audio (decoding aside)")


def _overlap(spans: list[tuple[float, float]], kept: tuple[tuple[float, float], ...]) -> float:
    return sum(max(0.0, min(b, d) - max(a, c)) for a, b in spans for c, d in kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--silent-minutes", type=float, default=20)
    parser.add_argument("--gaps", type=int, default=8)
    parser.add_argument("--espeak-voices", type=int, default=3)
    args = parse_args(parser, {"minutes": 12, "silent_minutes": 4, "gaps": 4, "espeak_voices": 1})
    run_meeting(args)
    run_detector(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
