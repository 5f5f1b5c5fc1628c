"""The `openai` engine: /v1/audio/transcriptions and /v1/audio/speech over OpenAI's HTTP API (openai_client.py).

Time: a call's timeout is per network operation (connect, each read), not per call, and the
speech endpoint streams its audio while it is generated: a slow stream would outlive the gateway.
Both answers are therefore read as streams, checked against the deadline between chunks, and a
watchdog shuts the socket down at the deadline so that a read stalled in recv() ends then too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from typing import Any, Final

from speech_common.audio import AudioUpload, is_audio_of
from speech_common.deadline import Deadline
from speech_common.engines.base import (
    SpeechRequest,
    SpeechToTextEngine,
    TextToSpeechEngine,
    TimedSegment,
    TimedWord,
    TranscriptionRequest,
    TranscriptionResult,
)
from speech_common.engines.openai_client import post, post_streamed
from speech_common.engines.pcm import join_pcm, whole_samples
from speech_common.engines.retry import MIN_ATTEMPT_SECONDS, RetryBudget, retry_within_deadline
from speech_common.engines.upstream_errors import (
    OpenAIFailure,
    OpenAIHTTPError,
    UnexpectedAnswer,
    from_openai,
    openai_is_transient,
    openai_retry_after,
)
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest, UpstreamFailure
from speech_common.languages import iso_code
from speech_common.parallel import run_all
from speech_common.settings import Settings
from speech_common.text_chunks import one_round_chunk_chars, split_text
from speech_common.transcode import OUTPUT_SAMPLE_RATE, encode_pcm

# The speech endpoint reads ~80 characters a second: a 4,096-character text takes 44-62 s, past
# the gateway's 29 s. Texts longer than SPEECH_CHUNK_CHARS are cut at sentences into chunks sized
# so that all are read in one round of settings.tts_parallel_calls calls, then joined.
SPEECH_CHUNK_CHARS: Final = 1000
# Shorter chunks cost more calls than they save time, and read less naturally at the joins.
MIN_SPEECH_CHUNK_CHARS: Final = 250
# The transcription models that answer verbose_json (segment and word timings): gpt-4o-transcribe and
# gpt-4o-mini-transcribe answer json and text only, gpt-transcribe (whisper-1's replacement) json only.
TIMED_TRANSCRIPTION_MODELS: Final = frozenset({"whisper-1"})
# The transcription models that tell speakers apart: diarized_json's segments (speaker, start, end, text), no word
# timings, no prompt; they need a chunking_strategy for audio over 30 s and hear at most 1,400 s a request.
DIARIZING_TRANSCRIPTION_MODELS: Final = frozenset({"gpt-4o-transcribe-diarize"})
# A streamed answer's first bytes are checked before any is passed on: the length audio.is_audio_of reads.
SNIFF_BYTES: Final = 256


def speech_chunks(text: str, parallel: int) -> list[str]:
    """The calls a text is read in: whole when short, else sentence-cut chunks for one round of `parallel`."""
    if len(text) <= SPEECH_CHUNK_CHARS:
        return [text]
    size = one_round_chunk_chars(len(text), parallel)
    return split_text(text, min(max(size, MIN_SPEECH_CHUNK_CHARS), SPEECH_CHUNK_CHARS))


class _OpenAIEngine:
    settings: Settings

    def _call[T](
        self, attempt: Callable[[float], T], deadline: Deadline, budget: RetryBudget | None = None
    ) -> T:
        """`attempt(timeout)` retried within the deadline; its failures mapped to ours."""
        if deadline.remaining() < MIN_ATTEMPT_SECONDS:
            raise UpstreamFailure(UpstreamFailure.TIMEOUT, "no time left for the upstream call")
        try:
            return retry_within_deadline(
                attempt,
                deadline=deadline,
                max_attempts=self.settings.upstream_max_attempts,
                is_transient=openai_is_transient,
                retry_after=openai_retry_after,
                budget=budget,
            )
        except (OpenAIFailure, UnexpectedAnswer) as exc:
            raise self._map_error(exc) from None

    def _map_error(self, exc: Exception) -> Exception:
        return from_openai(exc)


class OpenAISpeechToText(_OpenAIEngine, SpeechToTextEngine):
    name = "openai"

    def gives_timings(self, upstream_model: str) -> bool:
        # A diarizing model's segments are timed (diarized_json), though it gives no word timings.
        return upstream_model in TIMED_TRANSCRIPTION_MODELS | DIARIZING_TRANSCRIPTION_MODELS

    def gives_speakers(self, upstream_model: str) -> bool:
        return upstream_model in DIARIZING_TRANSCRIPTION_MODELS

    def transcribe(
        self, request: TranscriptionRequest, *, upstream_model: str, deadline: Deadline
    ) -> TranscriptionResult:
        audio = request.audio
        timed = request.timings or request.words
        diarizing = upstream_model in DIARIZING_TRANSCRIPTION_MODELS
        # json: the only format every transcription model accepts; verbose_json from whisper-1 (not a diarizing
        # model: diarized_json), for the timings when asked, and for the language it heard (json names none).
        verbose = not diarizing and (timed or upstream_model in TIMED_TRANSCRIPTION_MODELS)
        fields: dict[str, str | list[str]] = {
            "model": upstream_model,
            "response_format": "verbose_json" if verbose else "json",
        }
        if diarizing:
            fields |= _diarizing_fields(request, timed=timed)
        elif timed:
            fields["timestamp_granularities[]"] = ["segment", "word"] if request.words else ["segment"]
        if request.language:
            fields["language"] = request.language
        if request.prompt:
            fields["prompt"] = request.prompt
        if request.temperature is not None:
            fields["temperature"] = str(request.temperature)

        def attempt(timeout: float) -> TranscriptionResult:
            body = post(
                self.settings,
                "/audio/transcriptions",
                model=upstream_model,
                timeout=timeout,
                deadline=deadline,
                fields=fields,
                file=(audio.filename, audio.data, audio.content_type),
            )
            try:
                answer = json.loads(body)
                if diarizing and timed:
                    return _diarized_result(answer, speakers=request.diarize)
                return _transcription_result(
                    answer, timed=timed, words=request.words, audio_seconds=lambda: _seconds_of(audio)
                )
            except (ValueError, TypeError, KeyError, AttributeError):
                raise UnexpectedAnswer("a transcript") from None

        return self._call(attempt, deadline)

    def _map_error(self, exc: Exception) -> Exception:
        # The upstream refusing the file itself is the client's problem, not ours.
        if (
            isinstance(exc, OpenAIHTTPError)
            and exc.status_code == 400
            and any(word in exc.message.lower() for word in ("audio", "file format", "decod", "corrupt"))
        ):
            return InvalidRequest(
                "The audio file could not be processed; send a valid audio file",
                code=ErrorCode.UNSUPPORTED_AUDIO,
            )
        return from_openai(exc)


def _diarizing_fields(request: TranscriptionRequest, *, timed: bool) -> dict[str, str | list[str]]:
    """A diarizing model's fields: diarized_json when segments are wanted (it has no verbose_json), "auto" chunking
    (required over 30 s, harmless under), and the known speakers' names and reference clips."""
    fields: dict[str, str | list[str]] = {"chunking_strategy": "auto"}
    if timed:
        fields["response_format"] = "diarized_json"
    if request.known_speakers:
        fields["known_speaker_names[]"] = [speaker.name for speaker in request.known_speakers]
        fields["known_speaker_references[]"] = [speaker.reference for speaker in request.known_speakers]
    return fields


def _diarized_result(answer: Any, *, speakers: bool) -> TranscriptionResult:
    """OpenAI's diarized_json: segments with their speaker (kept when `speakers` were asked for)."""
    text = answer["text"]
    if not isinstance(text, str):
        raise TypeError("text is not a string")
    segments = tuple(
        TimedSegment(
            start=float(item["start"]),
            end=float(item["end"]),
            text=str(item["text"]),
            speaker=str(item["speaker"]) if speakers else None,
        )
        for item in answer.get("segments") or ()
    )
    duration = None if answer.get("duration") is None else float(answer["duration"])
    return TranscriptionResult(text=text, duration=duration, segments=segments)


def _seconds_of(audio: AudioUpload) -> float | None:
    if audio.seconds is not None:  # measured before the call
        return audio.seconds
    from speech_common.long_audio import duration_seconds  # PyAV: only when the upstream gave no duration

    return duration_seconds(audio.data)


def _transcription_result(
    answer: Any, *, timed: bool, words: bool, audio_seconds: Callable[[], float | None] = lambda: None
) -> TranscriptionResult:
    """OpenAI's json or verbose_json answer; ValueError, TypeError, KeyError when it is neither.

    An OpenAI-compatible upstream may answer verbose_json with its text and no segments: the text is then
    one segment over the whole recording, from 0 to the `duration` the upstream gave, else to the upload's
    own duration (`audio_seconds`, read from its headers), else to 0. Its srt or vtt is one cue holding the
    whole text: coarse timings, rather than an empty file that loses the text.
    """
    text = answer["text"]
    if not isinstance(text, str):
        raise TypeError("text is not a string")
    language = iso_code(answer.get("language"))  # whisper-1 names it ("english"); json names none
    if not timed:
        return TranscriptionResult(text=text, language=language)
    segments = tuple(
        TimedSegment(
            start=float(item["start"]),
            end=float(item["end"]),
            text=str(item["text"]),
            seek=int(item.get("seek", 0)),
            tokens=tuple(int(token) for token in item.get("tokens", ())),
            temperature=float(item.get("temperature", 0.0)),
            avg_logprob=float(item.get("avg_logprob", 0.0)),
            compression_ratio=float(item.get("compression_ratio", 1.0)),
            no_speech_prob=float(item.get("no_speech_prob", 0.0)),
        )
        for item in answer.get("segments") or ()
    )
    heard = tuple(
        TimedWord(float(item["start"]), float(item["end"]), str(item["word"]))
        for item in answer.get("words") or ()
    )
    duration = None if answer.get("duration") is None else float(answer["duration"])
    if not segments and text.strip():
        if duration is None:
            duration = audio_seconds()
        segments = (TimedSegment(start=0.0, end=duration or 0.0, text=text),)
    return TranscriptionResult(
        text=text,
        language=language,
        duration=duration,
        segments=segments,
        words=heard if words else None,
    )


class OpenAITextToSpeech(_OpenAIEngine, TextToSpeechEngine):
    name = "openai"

    def synthesize(self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline) -> bytes:
        chunks = speech_chunks(request.text, self.settings.tts_parallel_calls)
        if len(chunks) <= 1:
            return self._speak(request.text, request, request.response_format, upstream_model, deadline)
        # One retry budget for the whole text, and the first chunk that fails for good stops the rest.
        budget = RetryBudget(retries=self.settings.upstream_max_attempts - 1)
        pcm_parts = run_all(
            chunks,
            lambda chunk: self._speak(chunk, request, "pcm", upstream_model, deadline, budget),
            parallel=self.settings.tts_parallel_calls,
            stop=budget.cancelled,
        )
        # Raw PCM joins cleanly; the whole is encoded once (also smaller than OpenAI's 128 kbps mp3).
        pcm = join_pcm(pcm_parts)
        return encode_pcm(pcm, sample_rate=OUTPUT_SAMPLE_RATE, fmt=request.response_format)

    def speak_stream(
        self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline
    ) -> Iterator[bytes]:
        """`request`'s text, whole, asked as PCM; its chunks as OpenAI sends them while it speaks. Retried within
        the deadline until the first chunk has come; a failure after it ends the stream (mapped, not retried)."""
        speech = self._speech_body(request.text, request, "pcm", upstream_model)

        def attempt(timeout: float) -> tuple[bytes, Generator[bytes]]:
            chunks = post_streamed(
                self.settings,
                "/audio/speech",
                model=upstream_model,
                timeout=timeout,
                deadline=deadline,
                json=speech,
                accept="application/octet-stream",
            )
            try:
                first = b""
                # Enough to tell audio from an error page (a proxy's HTML answered 200): seldom more than one chunk.
                while len(first) < SNIFF_BYTES and (chunk := next(chunks, None)) is not None:
                    first += chunk
                if not is_audio_of("pcm", whole_samples(first)):
                    raise UnexpectedAnswer("pcm audio")
            except BaseException:
                chunks.close()
                raise
            return first, chunks

        first, rest = self._call(attempt, deadline)
        try:
            yield first
            yield from rest
        except (OpenAIFailure, UnexpectedAnswer) as exc:
            raise self._map_error(exc) from None
        finally:
            rest.close()

    def _speech_body(
        self, text: str, request: SpeechRequest, response_format: str, upstream_model: str
    ) -> dict[str, Any]:
        return {
            "model": upstream_model,
            "voice": request.voice,
            "input": text,
            "response_format": response_format,
            "speed": request.speed,
        }

    def _speak(
        self,
        text: str,
        request: SpeechRequest,
        response_format: str,
        upstream_model: str,
        deadline: Deadline,
        budget: RetryBudget | None = None,
    ) -> bytes:
        speech = self._speech_body(text, request, response_format, upstream_model)

        def attempt(timeout: float) -> bytes:
            # Streamed: the audio comes as it is generated, and is read within the deadline.
            audio = post(
                self.settings,
                "/audio/speech",
                model=upstream_model,
                timeout=timeout,
                deadline=deadline,
                json=speech,
                accept="application/octet-stream",
            )
            if not is_audio_of(response_format, audio):
                raise UnexpectedAnswer(f"{response_format} audio")
            return audio

        return self._call(attempt, deadline, budget)
