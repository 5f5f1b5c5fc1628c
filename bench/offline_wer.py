"""Benchmark: word error rate of the offline recogniser (Whisper base) against pocketsphinx, in one run.

    .venv/bin/python bench/offline_wer.py [--takes 3]
    .venv/bin/python bench/offline_wer.py --quick     # CI: one take of the pangram in one voice, one human reading

The held set: our own TTS (the local engine's espeak-ng, as the mp3 a client gets) in three voices
reading two texts each, each synthesised `--takes` times (espeak-ng's audio varies a little from
call to call, and so does what is heard), and five sentences read by a human (LibriVox, public
domain: bench/held_set/README.md). The baseline, in the same run, is the engine Whisper replaced:
pocketsphinx 5.1.1 with its en-US model, fed the same 16 kHz audio the same way. Both are timed: the
model load once, then each transcription (2 cores here). Goal: under 15% mean WER on clean speech,
reported for each group: espeak-ng's robotic voice is clean but much harder to hear than a person.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "common")]

import jiwer  # noqa: E402
from quick import parse_args  # noqa: E402

from speech_common.audio import AudioUpload  # noqa: E402
from speech_common.deadline import Deadline  # noqa: E402
from speech_common.engines import local  # noqa: E402
from speech_common.engines.base import SpeechRequest, TranscriptionRequest  # noqa: E402
from speech_common.settings import get_settings  # noqa: E402
from speech_common.transcode import iter_decoded_pcm  # noqa: E402

LIBRIVOX = REPO / "bench" / "held_set" / "librivox"
VOICES = ("alloy", "onyx", "nova")  # the default, the deepest and the brightest of the six
TEXTS = {
    "pangram": "The quick brown fox jumps over the lazy dog.",
    # The first five of the Harvard sentences (IEEE 1969, list 1), read as one paragraph.
    "harvard": (
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
        "It's easy to tell the depth of a well. These days a chicken leg is a rare dish. "
        "Rice is often served in round bowls."
    ),
}
GOAL = 0.15
# Spellings that differ without a word being misheard (Whisper writes "Mr.", the transcripts "mister").
SAME_WORD = {"mr": "mister", "mrs": "missus"}


@dataclass(frozen=True)
class Sample:
    name: str
    group: str  # "own TTS" or "human"
    reference: str
    audio: bytes
    fmt: str


@dataclass(frozen=True)
class Heard:
    transcript: str
    wer: float
    seconds: float


def normalise(text: str) -> str:
    """Lower case, words only: "Ill-disposed, Mr." -> "ill disposed mister"."""
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    return " ".join(SAME_WORD.get(word, word) for word in words)


def word_error_rate(reference: str, transcript: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(transcript) or "<nothing>"))


def held_set(takes: int, voices: list[str], texts: list[str], human: int | None) -> list[Sample]:
    """`takes` of each text in each voice, then the first `human` human readings (None: all)."""
    tts = local.LocalTextToSpeech(get_settings())
    samples = [
        Sample(
            f"{voice}/{name}#{take}",
            "own TTS",
            text,
            tts.synthesize(
                SpeechRequest(text=text, voice=voice, response_format="mp3"),
                upstream_model="tts-1",
                deadline=Deadline(60),
            ),
            "mp3",
        )
        for voice in voices
        for name, text in TEXTS.items()
        if name in texts
        for take in range(1, takes + 1)
    ]
    for line in (LIBRIVOX / "transcription").read_text().splitlines()[:human]:
        words, file_id = re.fullmatch(r"<s>(.*)</s> \((.*)\)", line.strip()).groups()  # type: ignore[union-attr]
        audio = (LIBRIVOX / f"{file_id}.wav").read_bytes()
        samples.append(Sample(f"librivox/{file_id[-4:]}", "human", words.strip(), audio, "wav"))
    return samples


def pocketsphinx_engine() -> Callable[[Sample], str]:
    """The engine before Whisper, as it was: the default decoder, the upload decoded to 16 kHz PCM."""
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")

    def transcribe(sample: Sample) -> str:
        decoder.reinit_feat()
        decoder.start_utt()
        for chunk in iter_decoded_pcm(sample.audio, sample_rate=16_000):
            decoder.process_raw(chunk, no_search=False, full_utt=False)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    return transcribe


def whisper_engine() -> Callable[[Sample], str]:
    """The local engine as the API serves it, its model loaded here so that the load is timed alone."""
    with local._RECOGNISER_LOCK:
        local._recogniser_instance()
    stt = local.LocalSpeechToText(get_settings())

    def transcribe(sample: Sample) -> str:
        request = TranscriptionRequest(AudioUpload(sample.audio, sample.fmt))
        return stt.transcribe(request, upstream_model="whisper-1", deadline=Deadline(120)).text

    return transcribe


def run(load: Callable[[], Callable[[Sample], str]], samples: list[Sample]) -> tuple[float, list[Heard]]:
    started = time.perf_counter()
    transcribe = load()
    load_seconds = time.perf_counter() - started
    heard = []
    for sample in samples:
        started = time.perf_counter()
        transcript = transcribe(sample)
        heard.append(
            Heard(transcript, word_error_rate(sample.reference, transcript), time.perf_counter() - started)
        )
    return load_seconds, heard


def audio_seconds(sample: Sample) -> float:
    return sum(len(chunk) for chunk in iter_decoded_pcm(sample.audio, sample_rate=16_000)) / 32_000


def summarise(samples: list[Sample], old: list[Heard], new: list[Heard]) -> list[str]:
    """Per group: mean WER of the samples, and WER over all their words; the goal's verdicts."""
    verdicts = []
    for group in ("own TTS", "human", None):
        picked = [i for i, sample in enumerate(samples) if group is None or sample.group == group]
        if not picked:  # --human 0, or no TTS text
            continue
        references = [normalise(samples[i].reference) for i in picked]
        means, pooled = [], []
        for heard in (old, new):
            means.append(statistics.mean(heard[i].wer for i in picked))
            pooled.append(
                jiwer.wer(references, [normalise(heard[i].transcript) or "<nothing>" for i in picked])
            )
        ratio = f"{means[0] / means[1]:.1f}x fewer errors" if means[1] else "no error left"
        label = group or "all"
        print(
            f"{label:7} ({len(picked):2} samples): mean WER pocketsphinx {means[0]:5.1%}, whisper {means[1]:5.1%}"
            f" ({ratio}); over all words {pooled[0]:5.1%} and {pooled[1]:5.1%}"
        )
        verdicts.append(f"{label} {means[1]:.1%} {'met' if means[1] < GOAL else 'NOT met'}")
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--takes", type=int, default=3, help="syntheses of each TTS text and voice")
    parser.add_argument("--voices", nargs="+", choices=VOICES, default=list(VOICES))
    parser.add_argument("--texts", nargs="+", choices=list(TEXTS), default=list(TEXTS))
    parser.add_argument("--human", type=int, help="human readings, the first N (default: all)")
    args = parse_args(parser, {"takes": 1, "voices": ["alloy"], "texts": ["pangram"], "human": 1})
    samples = held_set(args.takes, args.voices, args.texts, args.human)
    durations = [audio_seconds(sample) for sample in samples]
    old_load, old = run(pocketsphinx_engine, samples)
    new_load, new = run(whisper_engine, samples)

    print(f"{'sample':18} {'audio':>6}  {'pocketsphinx':>19}  {'whisper base':>19}")
    print(f"{'':18} {'':>6}  {'WER':>7} {'time':>11}  {'WER':>7} {'time':>11}")
    for sample, seconds, before, after in zip(samples, durations, old, new, strict=True):
        print(
            f"{sample.name:18} {seconds:5.1f}s  {before.wer:7.0%} {before.seconds:10.2f}s"
            f"  {after.wer:7.0%} {after.seconds:10.2f}s"
        )
    for sample, before, after in zip(samples, old, new, strict=True):
        print(f"  {sample.name}: said {sample.reference!r}")
        print(f"  {'':{len(sample.name)}}  pocketsphinx {before.transcript!r}")
        print(f"  {'':{len(sample.name)}}  whisper      {after.transcript!r}")

    print()
    verdicts = summarise(samples, old, new)
    total_audio = sum(durations)
    for name, load_seconds, heard in (("pocketsphinx", old_load, old), ("whisper base", new_load, new)):
        busy = sum(h.seconds for h in heard)
        print(
            f"{name}: model load {load_seconds:.2f} s; {busy:.1f} s to transcribe {total_audio:.1f} s of audio"
            f" ({busy / total_audio:.2f}x real time)"
        )
    print(f"goal, whisper under {GOAL:.0%} mean WER on clean speech: {'; '.join(verdicts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
