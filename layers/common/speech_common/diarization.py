"""Speakers: which route entries tell them apart, and one person one label across a long recording's pieces.

A diarizing upstream (OpenAI's gpt-4o-transcribe-diarize) names speakers per request, A, B, ... in order of
appearance, and hears at most about 1,400 s a request: the pieces of a long recording would each call the same person
something else. So the first piece is heard alone; from its answer, a clip of each speaker it found (their segments'
audio joined, 2-10 s) is sent with every other piece as `known_speaker_references[]` under `known_speaker_names[]`
(at most 4, the caller's own known speakers first), and those pieces are heard in parallel. The upstream then calls a
known voice by its given name, which is mapped back to the label the first piece gave it.

A voice first heard in a later piece is learnt the same way, in order: that piece gives it its label and a clip,
and the later pieces that heard an unknown voice are heard again with the clip (extra calls for those pieces only).

Limits (docs/api.md): a fifth voice (OpenAI takes 4 known speakers) gets a label of its own in each piece it
speaks in (two pieces cannot tell that it is the same voice), as does a voice whose segments in a piece add up to
less than 2 s (no clip).
"""

from __future__ import annotations

import base64
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from speech_common.audio import AudioUpload
from speech_common.engines.base import KnownSpeaker, TimedSegment, TranscriptionResult
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.parallel import run_all

if TYPE_CHECKING:
    from speech_common.model_routing import Route, RoutePolicy
    from speech_common.settings import Settings

# OpenAI's limits on known speakers (openai-python's transcription_create_params).
MAX_KNOWN_SPEAKERS: Final = 4
MIN_REFERENCE_SECONDS: Final = 2.0
MAX_REFERENCE_SECONDS: Final = 10.0
# gpt-4o-transcribe-diarize refuses more than 1,400 s in one request; the margin covers encoder padding.
MAX_DIARIZED_SECONDS: Final = 1380.0
# The names our reference clips are sent under: never a bare letter, which the upstream gives unknown voices.
REFERENCE_NAME_PREFIX: Final = "speaker_"
CLIP_SAMPLE_RATE: Final = 16_000
_BYTES_PER_SAMPLE: Final = 2

type Hear = Callable[[AudioUpload, tuple[KnownSpeaker, ...]], tuple[TranscriptionResult, Route]]


def diarizing_routes(
    model: str, chain: tuple[Route, ...], settings: Settings, policy: RoutePolicy
) -> tuple[Route, ...]:
    """The chain's entries that tell speakers apart and are not shut down, in order; 400 unsupported_diarization
    naming why when there is none (the offline engine, a model that gives text alone). No upstream is called."""
    from speech_common import model_routing
    from speech_common.engines import stt_engine

    able = [r for r in chain if stt_engine(r.engine, settings).gives_speakers(r.upstream_model)]
    today = model_routing.utc_today()
    live = tuple(r for r in able if not model_routing.is_retired(r, policy, today))
    if live:
        return live
    why = "; ".join(
        f"{r} was shut down on {policy.shutdown_dates[r.upstream_model]}"
        if r in able
        else f"{r} cannot tell speakers apart"
        for r in chain
    )
    raise InvalidRequest(
        f"diarize: {model} cannot give speaker labels here ({why})",
        code=ErrorCode.UNSUPPORTED_DIARIZATION,
        param="diarize",
    )


def chain_diarizes(chain: tuple[Route, ...], settings: Settings) -> bool:
    """Whether any entry is a diarizing model (whose request length is capped at MAX_DIARIZED_SECONDS)."""
    from speech_common.engines import stt_engine

    return any(stt_engine(r.engine, settings).gives_speakers(r.upstream_model) for r in chain)


def letters() -> Iterator[str]:
    """A, B, ..., Z, AA, AB, ...: labels in order of first appearance."""
    width = 1
    while True:
        for index in range(len(string.ascii_uppercase) ** width):
            label, rest = "", index
            for _ in range(width):
                rest, digit = divmod(rest, len(string.ascii_uppercase))
                label = string.ascii_uppercase[digit] + label
            yield label
        width += 1


class SpeakerBook:
    """The recording's speakers so far: the label each upstream name maps to, and the voices sent as known."""

    def __init__(self, given: tuple[KnownSpeaker, ...]) -> None:
        self.known: list[KnownSpeaker] = list(given[:MAX_KNOWN_SPEAKERS])
        self._given = {speaker.name for speaker in given}  # the caller's names are kept as they are
        self._label_of: dict[str, str] = {}  # one of our reference names -> its label
        self._letters = (label for label in letters() if label not in self._given)

    def relabelled(self, result: TranscriptionResult) -> tuple[TranscriptionResult, dict[str, str]]:
        """`result` with our labels, and what each upstream label not known before became (in this piece)."""
        new: dict[str, str] = {}

        def label(speaker: str | None) -> str | None:
            if speaker is None or speaker in self._given:
                return speaker
            if speaker in self._label_of:
                return self._label_of[speaker]
            if speaker not in new:
                new[speaker] = next(self._letters)
            return new[speaker]

        segments = tuple(replace(s, speaker=label(s.speaker)) for s in result.segments or ())
        return replace(result, segments=segments), new

    def learn(self, label: str, clip: bytes) -> bool:
        """A voice to send as known from now on, as `label`'s; False when there is no room left (4 known)."""
        if not self.has_room():
            return False
        name = REFERENCE_NAME_PREFIX + label
        self._label_of[name] = label
        self.known.append(KnownSpeaker(name=name, reference=data_url(clip)))
        return True

    def has_room(self) -> bool:
        return len(self.known) < MAX_KNOWN_SPEAKERS

    def hears_unknown(self, result: TranscriptionResult) -> bool:
        """Whether `result` holds a voice the upstream did not call by a known name."""
        return any(
            s.speaker is not None and s.speaker not in self._given and s.speaker not in self._label_of
            for s in result.segments or ()
        )


def transcribed_with_speakers(
    uploads: Sequence[AudioUpload], hear: Hear, given: tuple[KnownSpeaker, ...], *, parallel: int
) -> list[tuple[TranscriptionResult, Route]]:
    """Each piece heard with one label per voice across them all (module docstring): the first piece alone, then
    the others in parallel with clips of the voices it found. Then, in order, a piece that holds a voice new to the
    recording (while fewer than 4 are known) gives that voice its label and a clip, and the later pieces that also
    heard an unknown voice are heard again with it (in parallel): a voice first heard late keeps one label too."""
    book = SpeakerBook(given)
    heard: list[tuple[TranscriptionResult, Route]] = [hear(uploads[0], tuple(book.known))]
    labelled: list[tuple[TranscriptionResult, Route]] = []
    for index, upload in enumerate(uploads):
        result, route = heard[index]
        result, found = book.relabelled(result)
        labelled.append((result, route))
        learned = found and book.has_room() and _learn(book, upload, result, found)
        later = list(range(index + 1, len(uploads)))
        if index == 0 and later:
            heard += _heard_with(book, uploads, later, hear, parallel)
        elif learned:
            again = [j for j in later if book.hears_unknown(heard[j][0])]
            for j, answer in zip(again, _heard_with(book, uploads, again, hear, parallel), strict=True):
                heard[j] = answer
    return labelled


def _learn(
    book: SpeakerBook, upload: AudioUpload, result: TranscriptionResult, found: dict[str, str]
) -> bool:
    """Clips of the voices `found` in this piece (labels in order of appearance), while there is room."""
    pcm = _pcm_of(upload)
    learned = False
    for label in found.values():
        clip = reference_clip(pcm, [s for s in result.segments or () if s.speaker == label])
        if clip is not None:
            learned = book.learn(label, clip) or learned
    return learned


def _heard_with(
    book: SpeakerBook, uploads: Sequence[AudioUpload], indexes: list[int], hear: Hear, parallel: int
) -> list[tuple[TranscriptionResult, Route]]:
    known = tuple(book.known)
    return run_all([uploads[j] for j in indexes], lambda upload: hear(upload, known), parallel=parallel)


def reference_clip(pcm: bytes, segments: Sequence[TimedSegment]) -> bytes | None:
    """Up to MAX_REFERENCE_SECONDS of one speaker's voice (16 kHz s16le mono): their longest segments' audio
    joined, longest first; None when it adds up to less than MIN_REFERENCE_SECONDS."""
    clip = b""
    limit = int(MAX_REFERENCE_SECONDS * CLIP_SAMPLE_RATE) * _BYTES_PER_SAMPLE
    for segment in sorted(segments, key=lambda s: s.end - s.start, reverse=True):
        first = int(segment.start * CLIP_SAMPLE_RATE) * _BYTES_PER_SAMPLE
        last = int(segment.end * CLIP_SAMPLE_RATE) * _BYTES_PER_SAMPLE
        clip += pcm[first:last][: limit - len(clip)]
        if len(clip) >= limit:
            break
    seconds = len(clip) / _BYTES_PER_SAMPLE / CLIP_SAMPLE_RATE
    return clip if seconds >= MIN_REFERENCE_SECONDS else None


def data_url(clip: bytes) -> str:
    """A clip as OpenAI takes a known speaker's reference: a FLAC data URL."""
    from speech_common.transcode import encode_pcm

    flac = encode_pcm(clip, sample_rate=CLIP_SAMPLE_RATE, fmt="flac", output_rate=CLIP_SAMPLE_RATE)
    return "data:audio/flac;base64," + base64.b64encode(flac).decode("ascii")


def _pcm_of(upload: AudioUpload) -> bytes:
    from speech_common.transcode import iter_decoded_pcm

    return b"".join(iter_decoded_pcm(upload.data, sample_rate=CLIP_SAMPLE_RATE))
