"""The engine interface: one per upstream (OpenAI, OpenAI Realtime, Amazon Polly, offline)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

from speech_common.audio import AudioUpload
from speech_common.deadline import Deadline
from speech_common.settings import Settings


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str  # a documented voice: alloy echo fable onyx nova shimmer
    response_format: str  # mp3 opus aac flac wav pcm
    speed: float = 1.0


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: AudioUpload
    language: str | None = None
    prompt: str | None = None  # OpenAI's prompt; engines without one ignore it
    temperature: float | None = None
    timings: bool = False  # segments with start and end times (srt, vtt, verbose_json)
    words: bool = False  # word timings too (verbose_json with timestamp_granularities[]=word)
    diarize: bool = False  # segments with the speaker of each (engines whose gives_speakers says so)
    # Voices to name as given (OpenAI's known_speaker_names[] and known_speaker_references[]), at most 4.
    known_speakers: tuple[KnownSpeaker, ...] = ()


@dataclass(frozen=True)
class KnownSpeaker:
    """A voice the upstream should call `name`: `reference` is a data URL of 2-10 s of it speaking."""

    name: str
    reference: str


@dataclass(frozen=True)
class TimedSegment:
    """A stretch of the transcript and when it is heard, in seconds from the recording's start.

    The other fields are Whisper's own, as OpenAI's verbose_json gives them (neutral values when an engine
    does not say)."""

    start: float
    end: float
    text: str
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0
    no_speech_prob: float = 0.0
    speaker: str | None = None  # who spoke it, when speakers were asked for ("A", "B", ... or a known name)


@dataclass(frozen=True)
class TimedWord:
    start: float
    end: float
    word: str


@dataclass(frozen=True)
class TranscriptionResult:
    """What an engine heard. `segments` (and `words`) are None unless the request asked for timings."""

    text: str
    language: str | None = None  # the ISO-639-1 code heard ("en": languages.iso_code), None when not said
    duration: float | None = None  # seconds
    segments: tuple[TimedSegment, ...] | None = None
    words: tuple[TimedWord, ...] | None = None


class TextToSpeechEngine(ABC):
    """Turns text into audio bytes in the requested format.

    Engines raise speech_common.errors.UpstreamFailure on any upstream problem and never
    import their SDK at module import time (a 400 answer must not pay for it).
    """

    name: ClassVar[str]
    # Silence put between pieces of one text read in separate calls: none where each piece keeps the
    # pause that ends its sentence; some where the upstream trims it.
    join_gap_seconds: ClassVar[float] = 0.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def synthesize(self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline) -> bytes: ...

    def speak_stream(
        self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline
    ) -> Iterator[bytes]:
        """`request`'s speech as raw PCM (24 kHz s16le mono, whatever its response_format) in chunks, as the
        upstream gives it. Here: the whole, once `synthesize` has it (an engine that checks what it made, or
        whose upstream answers at once); an engine whose upstream streams gives each chunk as it arrives.
        A failure before the first chunk may be retried; after it, it is raised."""
        pcm = replace(request, response_format="pcm")
        yield self.synthesize(pcm, upstream_model=upstream_model, deadline=deadline)


class SpeechToTextEngine(ABC):
    """Turns an audio upload into its transcript."""

    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def gives_timings(self, upstream_model: str) -> bool:
        """Whether this engine, serving `upstream_model`, answers a request with `timings` (checked by
        the route chain before any call: an entry that cannot is passed over)."""
        return False

    def gives_speakers(self, upstream_model: str) -> bool:
        """Whether this engine, serving `upstream_model`, tells speakers apart (segments with `speaker`): checked
        before any call, as gives_timings is."""
        return False

    @abstractmethod
    def transcribe(
        self, request: TranscriptionRequest, *, upstream_model: str, deadline: Deadline
    ) -> TranscriptionResult: ...
