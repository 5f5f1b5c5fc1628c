"""The speech core: typed requests and a deadline in, typed results out. It knows nothing of HTTP.

Each door (/api, /v1) and the job worker converts its own request into the core's types
(SynthesisRequest, TranscriptionJob), builds the deadline, calls `transcribe` or `synthesize`, and shapes its own answer. The core picks
the public model's route chain, runs it through the engines, and turns an upstream failure into
OperationFailed with a documented code.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, cast

from aws_lambda_powertools.metrics import MetricUnit

from speech_common import diarization, model_routing, stt_pieces, tts_cache
from speech_common.audio import AudioUpload
from speech_common.deadline import Deadline
from speech_common.engines import stt_engine, tts_engine
from speech_common.engines.base import (
    KnownSpeaker,
    SpeechRequest,
    TimedSegment,
    TimedWord,
    TranscriptionRequest,
    TranscriptionResult,
)
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest, OperationFailed, UpstreamFailure
from speech_common.model_routing import Route, RoutePolicy, RouteTable, run_chain
from speech_common.observability import logger, metrics, upstream_subsegment
from speech_common.parallel import results_in_order, run_all
from speech_common.progress import PieceCount, ProgressReport
from speech_common.settings import Settings, get_settings

if TYPE_CHECKING:
    from speech_common.long_audio import Piece
    from speech_common.voice_activity import SpeechClock

STT_FAILED = "Transcription failed"
# A long recording decoded again (resampled) for its pieces may come out this much longer than it was counted.
RESAMPLED_SLACK_SECONDS = 1.0
TTS_FAILED = "Speech synthesis failed"
# A long text's pieces: each is one upstream call on every engine (OpenAI's and the realtime
# engine's single-call size, a third of Polly's), and many of them make a round of parallel calls.
LONG_TEXT_PIECE_CHARS = 1000
# A streamed text's first piece: a sentence or two, short so that its audio comes soon (the realtime engine gives
# a piece once its whole transcript is checked: about 1.3 s for 80 characters at OpenAI's pace).
FIRST_STREAM_PIECE_CHARS = 80
# A streamed text's other pieces: shorter ones cost more calls than they save time, and read less naturally.
MIN_STREAM_PIECE_CHARS = 250
# A cached answer is streamed in chunks of this size.
CACHED_CHUNK_BYTES = 64 * 1024
# How long past the deadline a stream waits for a piece whose reader did not end (a bug, not an upstream).
PIECE_WAIT_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class TranscriptionJob:
    audio: AudioUpload
    model: str = "whisper-1"
    language: str | None = None
    prompt: str | None = None  # text to guide the style and spelling (engines that cannot ignore it)
    temperature: float | None = None
    timings: bool = False  # segment timings (srt, vtt, verbose_json): only from route entries that give them
    words: bool = False  # word timings too
    # A job's owner: a long recording's pieces are kept under it as each is heard, and read back by a later run
    # (stt_pieces); None (a synchronous request): nothing kept.
    pieces_owner: str | None = None
    # Segments with their speaker, one label per voice across the whole recording (diarization.py).
    diarize: bool = False
    known_speakers: tuple[KnownSpeaker, ...] = ()  # voices the caller named (/v1's known_speaker_names[])


@dataclass(frozen=True)
class Transcript:
    text: str
    model: str  # the public model asked for; the Route says what served it
    language: str | None = None
    duration: float | None = None  # seconds
    segments: tuple[TimedSegment, ...] | None = None  # when timings were asked for
    words: tuple[TimedWord, ...] | None = None
    # The speech found and sent upstream (the voice-activity pass's), what a budget pays for; None: not measured.
    speech_seconds: float | None = None


@dataclass(frozen=True)
class SynthesisRequest:
    """What to say and how: each door converts its own body into this."""

    text: str
    model: str = "tts-1"
    voice: str = "alloy"
    response_format: str = "mp3"
    speed: float = 1.0
    # Whose speech cache entries it reads and adds to (doors pass the caller's id): owners never share one.
    owner: str = ""


@dataclass(frozen=True)
class Speech:
    audio: bytes
    model: str
    voice: str
    response_format: str
    cache: str | None = None  # "hit" or "miss" when the speech cache is on


@dataclass(frozen=True)
class SpeechStream:
    """Speech sent as it is made: `chunks` of audio in the asked format, in order, that together are the whole
    file. The first chunk is already made (a failure before it was raised by stream_speech, as synthesize raises
    it); a failure after it is raised by the iterator, and the audio is then incomplete."""

    chunks: Iterator[bytes]
    model: str
    voice: str
    response_format: str
    cache: str | None = None


@dataclass(frozen=True)
class TranscriptStream:
    """A transcript given as it is heard: `deltas` of its text, in order; "".join(deltas) is the whole text. The first
    delta is already made (a failure before it was raised by stream_transcription); a failure after it is raised by
    the iterator."""

    deltas: Iterator[str]
    model: str
    language: str | None = None
    speech_seconds: float | None = None  # as Transcript's: known before the first delta


def stream_speech(request: SynthesisRequest, deadline: Deadline) -> tuple[SpeechStream, Route]:
    """Speech as it is made: the text's short first piece is sent while the others are read.

    The text is cut into a short first piece (a sentence or two) and the rest at sentence ends; all are read at
    once (at most settings.tts_parallel_calls), asked as PCM, and sent in order through one encoder, so the chunks
    make one file of the asked format. The current piece's audio goes out as the upstream sends it (an engine that
    checks what it made, the realtime one, gives a piece once checked); later pieces wait in memory for their turn.

    Before the first chunk, the route chain works as for synthesize: an entry gone (or without the voice) passes the
    text to the next one, a failure raises OperationFailed. After it, the entry is kept: a failure ends the chunks
    with OperationFailed (logged and counted as synthesize's), and what was sent is incomplete. Closing the chunks
    (`close()`), or their failing, stops the pieces still being read. A cached answer is sent from the cache; an
    answer streamed to its end is kept there, under synthesize's key.
    """
    settings = get_settings()
    hits: list[bool] = []
    (first, rest), route = _serve(
        _chain(settings.tts_model_routes, request.model, TTS_FAILED),
        settings.route_policy,
        lambda route: _start_stream(request, route, deadline, hits),
        failure_detail=TTS_FAILED,
    )
    # Counted now: a handler's metrics are flushed when it returns, before its stream ends.
    metrics.add_metric(name="CharactersSynthesized", unit=MetricUnit.Count, value=len(request.text))
    cache = ("hit" if hits[-1] else "miss") if hits else None
    chunks = StreamedChunks(first, rest)
    return SpeechStream(chunks, request.model, request.voice, request.response_format, cache), route


class StreamedChunks(Iterator[bytes]):
    """A stream's chunks: the first one (made before the route was settled), then the rest as they are made.

    An upstream failure after the first chunk is raised as OperationFailed. `close()` stops the work still going on
    (a client gone), also before the first `next()`.
    """

    def __init__(self, first: bytes, rest: Generator[bytes]) -> None:
        self._first: bytes | None = first
        self._rest = rest

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        try:
            return next(self._rest)
        except UpstreamFailure as failure:
            raise _operation_failed(failure, TTS_FAILED) from None

    def close(self) -> None:
        self._first = None
        self._rest.close()


def _start_stream(
    request: SynthesisRequest, route: Route, deadline: Deadline, hits: list[bool]
) -> tuple[bytes, Generator[bytes]]:
    """The first chunk of `request`'s speech from one route entry (raising as the entry fails before it), and a
    generator of the rest. From the cache when it holds the answer; else read, and kept once sent whole."""
    settings = get_settings()
    if tts_cache.enabled(settings):
        speech = SpeechRequest(
            text=request.text,
            voice=request.voice,
            response_format=request.response_format,
            speed=request.speed,
        )
        key = tts_cache.cache_key(speech, route, request.owner)
        audio = tts_cache.cached_audio(settings, key)
        hits.append(audio is not None)
        if audio is not None:
            return audio[:CACHED_CHUNK_BYTES], _slices(audio, CACHED_CHUNK_BYTES, start=CACHED_CHUNK_BYTES)
        encoded = _kept_when_whole(_encoded_speech(request, route, deadline), settings, key)
    else:
        encoded = _encoded_speech(request, route, deadline)
    try:
        first = next(encoded)
    except BaseException:
        encoded.close()
        raise
    return first, encoded


def _slices(data: bytes, size: int, *, start: int = 0) -> Generator[bytes]:
    for offset in range(start, len(data), size):
        yield data[offset : offset + size]


def _kept_when_whole(chunks: Generator[bytes], settings: Settings, key: str) -> Generator[bytes]:
    """`chunks` passed on; their whole kept in the speech cache once the last has been sent (not when stopped)."""
    sent: list[bytes] = []
    try:
        for chunk in chunks:
            sent.append(chunk)
            yield chunk
    finally:
        chunks.close()
    tts_cache.keep(settings, key, b"".join(sent))


def _encoded_speech(request: SynthesisRequest, route: Route, deadline: Deadline) -> Generator[bytes]:
    """The text's pieces read by `route` in background threads, their PCM encoded in order as it comes (joined
    with the engine's gap, as synthesize_long_text joins them). Yields only non-empty chunks; the pieces still
    being read are stopped when this ends, fails or is closed."""
    from speech_common.engines.pcm import BYTES_PER_SAMPLE
    from speech_common.transcode import OUTPUT_SAMPLE_RATE, StreamingEncoder

    settings = get_settings()
    engine = tts_engine(route.engine, settings)
    parallel = settings.tts_parallel_calls
    pieces = stream_pieces(request.text, parallel)
    # Counted as the stream starts (before the first chunk): a handler's metrics are flushed when it returns.
    metrics.add_metric(name="TextPiecesSynthesized", unit=MetricUnit.Count, value=len(pieces))
    gap = bytes(round(engine.join_gap_seconds / request.speed * OUTPUT_SAMPLE_RATE) * BYTES_PER_SAMPLE)

    def read(piece: str) -> Iterator[bytes]:
        speech = SpeechRequest(text=piece, voice=request.voice, response_format="pcm", speed=request.speed)
        with upstream_subsegment(route.engine, route.upstream_model):
            yield from engine.speak_stream(speech, upstream_model=route.upstream_model, deadline=deadline)

    encoder = StreamingEncoder(request.response_format, sample_rate=OUTPUT_SAMPLE_RATE)
    reader = PieceReader(pieces, read, parallel=parallel, deadline=deadline)
    whole = False
    try:
        for index, piece_pcm in enumerate(reader.pieces()):
            for pcm in itertools.chain([gap] if index and gap else [], piece_pcm):
                if encoded := encoder.feed(pcm):
                    yield encoded
        tail = encoder.close()
        whole = True
        if tail:
            yield tail
    finally:
        reader.stop()
        if not whole:
            encoder.abort()


def stream_pieces(text: str, parallel: int) -> list[str]:
    """A streamed text's pieces: a short first one, then the rest cut at sentence ends for one round of the
    `parallel` calls left beside the first (it is read with them)."""
    from speech_common.text_chunks import one_round_chunk_chars, split_for_streaming

    rest_limit = one_round_chunk_chars(len(text), max(parallel - 1, 1))
    rest_limit = min(max(rest_limit, MIN_STREAM_PIECE_CHARS), LONG_TEXT_PIECE_CHARS)
    return split_for_streaming(text, FIRST_STREAM_PIECE_CHARS, rest_limit)


class PieceReader:
    """A text's pieces read at once in background threads (at most `parallel`, in the pieces' order), each into its
    own queue, and given back in order: the current piece's chunks as they arrive, a later one's as they were kept
    meanwhile. The first failure stops the other pieces (their audio is no longer wanted) and is raised where the
    consumer is. `stop()` drops the pieces not begun; those being read stop at their next chunk, or at the deadline.
    """

    _DONE: Final = object()
    _STOPPED: Final = object()

    def __init__(
        self, pieces: list[str], read: Callable[[str], Iterator[bytes]], *, parallel: int, deadline: Deadline
    ) -> None:
        self._read = read
        self._deadline = deadline
        self._stopped = threading.Event()
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._queues: list[queue.SimpleQueue[object]] = [queue.SimpleQueue() for _ in pieces]
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(parallel, len(pieces))), thread_name_prefix="speech-piece"
        )
        for piece, chunks in zip(pieces, self._queues, strict=True):
            self._pool.submit(self._read_piece, piece, chunks)

    def pieces(self) -> Iterator[Iterator[bytes]]:
        for chunks in self._queues:
            yield self._given(chunks)

    def stop(self) -> None:
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _given(self, chunks: queue.SimpleQueue[object]) -> Iterator[bytes]:
        while True:
            try:
                # Every reader ends by the deadline (the engines' watchdogs); the margin only guards against a bug.
                item = chunks.get(timeout=self._deadline.remaining() + PIECE_WAIT_MARGIN_SECONDS)
            except queue.Empty:
                raise UpstreamFailure(
                    UpstreamFailure.TIMEOUT, "a piece of the text was not read in time"
                ) from None
            if item is self._DONE:
                return
            if item is self._STOPPED:
                raise self._failure or UpstreamFailure(UpstreamFailure.ERROR, "the stream was stopped")
            yield cast("bytes", item)

    def _read_piece(self, piece: str, chunks: queue.SimpleQueue[object]) -> None:
        if self._stopped.is_set():
            chunks.put(self._STOPPED)
            return
        pcm = self._read(piece)
        try:
            for part in pcm:
                if self._stopped.is_set():
                    chunks.put(self._STOPPED)
                    return
                chunks.put(part)
        except BaseException as failure:  # raised where the consumer is, as it would have been in its thread
            with self._lock:
                if self._failure is None:
                    self._failure = failure
            self._stopped.set()
            for waiting in self._queues:  # wakes the consumer whichever piece it is waiting for
                waiting.put(self._STOPPED)
            return
        finally:
            close = getattr(pcm, "close", None)
            if close is not None:
                close()
        chunks.put(self._DONE)


def stream_transcription(job: TranscriptionJob, deadline: Deadline) -> tuple[TranscriptStream, Route]:
    """A transcript as it is heard: a short recording's text at once; a long one cut at silences, its pieces
    transcribed in parallel, each piece's text given as soon as it and every piece before it are done. Text only:
    a recording that needs timings is transcribed whole (`transcribe`)."""
    from speech_common import long_audio

    settings = get_settings()
    chain = _chain(settings.stt_model_routes, job.model, STT_FAILED)
    seconds = audio_seconds(job.audio)
    metrics.add_metric(name="AudioBytesTranscribed", unit=MetricUnit.Bytes, value=len(job.audio.data))
    # What the upstream bills, as counted by decoding; the AudioSecondsPerDayAlarm adds it up.
    metrics.add_metric(name="AudioSecondsTranscribed", unit=MetricUnit.Seconds, value=seconds)
    speech, clock = _speech_only(job, seconds)
    if not clock.spans:  # nothing to hear: no upstream call (a recogniser would make words up)
        return TranscriptStream(iter(("",)), job.model, speech_seconds=0.0), chain[0]
    if clock.speech_seconds <= _split_above(chain, settings):
        audio = job.audio if clock.is_whole else _flac(speech)
        result, route = _transcribe_once(job, audio, chain, deadline)
        stream = TranscriptStream(
            iter((result.text.strip(),)), job.model, result.language, speech_seconds=clock.speech_seconds
        )
        return stream, route
    pieces, uploads, _ = _cut_pcm_at_silences(speech)
    metrics.add_metric(name="AudioPiecesTranscribed", unit=MetricUnit.Count, value=len(pieces))
    heard = results_in_order(
        uploads,
        lambda upload: _transcribe_once(job, upload, chain, deadline),
        parallel=settings.stt_parallel_calls,
    )
    first, route = next(heard)  # a failure before the first text is the request's, with its status
    texts = itertools.chain((first.text,), (result.text for result, _ in heard))

    def deltas() -> Generator[str]:
        try:
            yield from long_audio.transcript_deltas(texts, pieces)
        finally:
            heard.close()  # closed early (a client gone): the pieces not yet begun are dropped

    return TranscriptStream(deltas(), job.model, first.language, speech_seconds=clock.speech_seconds), route


def transcribe(
    job: TranscriptionJob, deadline: Deadline, *, progress: ProgressReport | None = None
) -> tuple[Transcript, Route]:
    """One upstream call for a short recording; a long one is cut at silences and its pieces
    transcribed in parallel (each through the whole route chain), joined in order. `progress` is told the pieces
    heard of the pieces cut (a short recording is one piece)."""
    settings = get_settings()
    chain = _chain(settings.stt_model_routes, job.model, STT_FAILED)
    job, chain = with_speakers(job, chain)
    if job.timings or job.words:
        chain = timed_routes(job.model, chain, settings.route_policy)
    seconds = audio_seconds(job.audio)
    speech, clock = _speech_only(job, seconds)
    if not clock.spans:  # nothing to hear: no upstream call (a recogniser would make words up)
        PieceCount(0, progress)
        result, route = _no_speech(job, clock.total_seconds), chain[0]
    elif clock.speech_seconds > _split_above(chain, settings):
        result, route = _transcribe_in_pieces(job, chain, speech, deadline, progress)
    else:
        count = PieceCount(1, progress)
        result, route = _transcribe_once(job, job.audio if clock.is_whole else _flac(speech), chain, deadline)
        count.one_done()
    if not clock.is_whole:
        result = clock.on_recording(result)
    metrics.add_metric(name="AudioBytesTranscribed", unit=MetricUnit.Bytes, value=len(job.audio.data))
    metrics.add_metric(name="AudioSecondsTranscribed", unit=MetricUnit.Seconds, value=seconds)
    transcript = Transcript(
        text=result.text.strip(),
        model=job.model,
        # An engine that names none (gpt-4o-transcribe's json): the language asked for, when it was.
        language=result.language or job.language,
        duration=result.duration if result.duration is not None else seconds,
        segments=result.segments,
        words=result.words,
        speech_seconds=clock.speech_seconds,
    )
    return transcript, route


def with_speakers(
    job: TranscriptionJob, chain: tuple[Route, ...]
) -> tuple[TranscriptionJob, tuple[Route, ...]]:
    """A job that asks for speakers: timed (speakers are per segment), served by the chain's diarizing entries;
    400 unsupported_diarization, before any call, when none can or for what diarizing cannot do."""
    if not job.diarize:
        return job, chain
    for asked, why in ((job.prompt, "prompt"), (job.words, "word timings")):
        if asked:
            raise InvalidRequest(
                f"diarize: a diarizing model takes no {why}; send it without",
                code=ErrorCode.UNSUPPORTED_DIARIZATION,
                param="diarize",
            )
    settings = get_settings()
    return replace(job, timings=True), diarization.diarizing_routes(
        job.model, chain, settings, settings.route_policy
    )


def refuse_speakerless(model: str) -> None:
    """400 unsupported_diarization now when no entry of the model's chain tells speakers apart: a job that asks
    for them is refused before it is queued, not failed after."""
    settings = get_settings()
    chain = _chain(settings.stt_model_routes, model, STT_FAILED)
    diarization.diarizing_routes(model, chain, settings, settings.route_policy)


def _split_above(chain: tuple[Route, ...], settings: Settings) -> float:
    """How long a recording is sent whole: a diarizing model hears at most MAX_DIARIZED_SECONDS a request."""
    if diarization.chain_diarizes(chain, settings):
        return min(settings.stt_split_above_seconds, diarization.MAX_DIARIZED_SECONDS)
    return settings.stt_split_above_seconds


def refuse_untimed(model: str) -> None:
    """400 unsupported_response_format now when no entry of the model's chain gives timings: a job that asks for
    them is refused before it is queued, not failed after."""
    settings = get_settings()
    timed_routes(model, _chain(settings.stt_model_routes, model, STT_FAILED), settings.route_policy)


def timed_routes(model: str, chain: tuple[Route, ...], policy: RoutePolicy) -> tuple[Route, ...]:
    """The chain's entries that give segment timings and are not past their shutdown date, in order;
    400 unsupported_response_format (naming why) when there is none. No upstream is called: whether an
    entry gives timings is known from its engine and upstream model (gpt-transcribe gives none)."""
    settings = get_settings()
    timed = [r for r in chain if stt_engine(r.engine, settings).gives_timings(r.upstream_model)]
    today = model_routing.utc_today()
    live = tuple(r for r in timed if not model_routing.is_retired(r, policy, today))
    if live:
        return live
    why = "; ".join(
        f"{r} was shut down on {policy.shutdown_dates[r.upstream_model]}"
        if r in timed
        else f"{r} gives the text alone"
        for r in chain
    )
    raise InvalidRequest(
        f"response_format: {model} cannot give segment timings here ({why}); use json or text",
        code=ErrorCode.UNSUPPORTED_RESPONSE_FORMAT,
        param="response_format",
    )


def audio_seconds(audio: AudioUpload) -> float:
    """How long an upload plays: as measured (`measured`), else counted now up to the longest a job takes."""
    if audio.seconds is not None:
        return audio.seconds
    settings = get_settings()
    limit = max(settings.job_max_audio_seconds, settings.sync_max_audio_seconds)
    return measured(audio, limit, "a job takes").seconds or 0.0


def measured(audio: AudioUpload, limit: float, what: str) -> AudioUpload:
    """`audio` with its length, counted by decoding it (transcode.decoded_seconds: no header believed, decoding
    stopped once past `limit`), before any upstream call. 400 audio_too_long past `limit` seconds (`what` says which
    way takes it, or what the limit is); 400 unsupported_audio when it cannot be decoded (an unknown length is not
    taken) or its sample rate or channels are past the limits."""
    return replace(audio, seconds=counted_seconds(audio.data, limit, what))


def counted_seconds(
    source: bytes | str, limit: float, what: str, *, give_up_at: float | None = None
) -> float:
    """`measured`'s count, of bytes or of a file's path (an upload downloaded to /tmp), with its 400s; past
    `give_up_at` (time.monotonic()) before the end, transcode.OutOfTime."""
    from speech_common.transcode import AudioDecodeError, LongerThan, StreamOutOfBounds, decoded_seconds

    try:
        return decoded_seconds(source, limit=limit, give_up_at=give_up_at)
    except LongerThan:
        raise InvalidRequest(
            f"audio: the recording lasts more than {_minutes(limit)}, longer than {what}",
            code=ErrorCode.AUDIO_TOO_LONG,
        ) from None
    except StreamOutOfBounds as error:
        raise InvalidRequest(f"audio: the recording has {error}", code=ErrorCode.UNSUPPORTED_AUDIO) from None
    except AudioDecodeError:
        raise InvalidRequest(
            "audio: the file could not be decoded, so its length is unknown", code=ErrorCode.UNSUPPORTED_AUDIO
        ) from None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:g} s"


def _transcribe_once(
    job: TranscriptionJob,
    audio: AudioUpload,
    chain: tuple[Route, ...],
    deadline: Deadline,
    *,
    keep_pieces: bool = False,
    known_speakers: tuple[KnownSpeaker, ...] | None = None,
) -> tuple[TranscriptionResult, Route]:
    """`audio`: the job's whole recording, or one piece of it. For timings, `chain` holds only the
    entries that give them (timed_routes). With `keep_pieces` (a job's piece), each route entry's answer is read
    from the job owner's kept pieces when there, else kept as soon as it is heard."""
    settings = get_settings()
    request = TranscriptionRequest(
        audio=audio,
        language=job.language,
        prompt=job.prompt,
        temperature=job.temperature,
        timings=job.timings,
        words=job.words,
        diarize=job.diarize,
        known_speakers=job.known_speakers if known_speakers is None else known_speakers,
    )

    def hear(route: Route) -> TranscriptionResult:
        with upstream_subsegment(route.engine, route.upstream_model):
            return stt_engine(route.engine, settings).transcribe(
                request, upstream_model=route.upstream_model, deadline=deadline
            )

    def hear_or_recall(route: Route) -> TranscriptionResult:
        key = stt_pieces.piece_key(request, route, job.pieces_owner or "")
        kept = stt_pieces.heard_piece(settings, key)
        if kept is not None:
            metrics.add_metric(name="AudioPiecesResumed", unit=MetricUnit.Count, value=1)
            return kept
        result = hear(route)
        stt_pieces.keep_piece(settings, key, result)
        return result

    kept = keep_pieces and bool(settings.speech_bucket)
    return _serve(chain, settings.route_policy, hear_or_recall if kept else hear, failure_detail=STT_FAILED)


def _transcribe_in_pieces(
    job: TranscriptionJob,
    chain: tuple[Route, ...],
    speech: bytes,
    deadline: Deadline,
    progress: ProgressReport | None = None,
) -> tuple[TranscriptionResult, Route]:
    from speech_common import long_audio

    settings = get_settings()
    pieces, uploads, total = _cut_pcm_at_silences(speech)
    count = PieceCount(len(uploads), progress)

    def one(
        upload: AudioUpload, known: tuple[KnownSpeaker, ...] | None = None
    ) -> tuple[TranscriptionResult, Route]:
        keep = job.pieces_owner is not None
        heard = _transcribe_once(job, upload, chain, deadline, keep_pieces=keep, known_speakers=known)
        count.one_done()
        return heard

    if job.diarize:  # one label per voice across the pieces
        parallel = settings.stt_parallel_calls
        results = diarization.transcribed_with_speakers(uploads, one, job.known_speakers, parallel=parallel)
    else:
        results = run_all(uploads, one, parallel=settings.stt_parallel_calls)
    metrics.add_metric(name="AudioPiecesTranscribed", unit=MetricUnit.Count, value=len(pieces))
    heard = [result for result, _ in results]
    if job.timings or job.words:
        return long_audio.join_timed(heard, pieces, total), results[0][1]
    text = long_audio.join_transcripts((result.text for result in heard), pieces)
    language = long_audio.most_heard_language(heard, pieces)
    return TranscriptionResult(text=text, language=language, duration=total), results[0][1]


def _speech_only(job: TranscriptionJob, seconds: float) -> tuple[bytes, SpeechClock]:
    """The recording's speech (16 kHz PCM, the stretches without speech cut out, the rest joined) and where it
    lies on the recording's clock: what is sent upstream (voice_activity)."""
    from speech_common import voice_activity

    pcm = _decoded_pcm(job, seconds)
    if get_settings().stt_voice_activity:
        clock = voice_activity.speech_clock(pcm)
    else:
        clock = voice_activity.whole(pcm)
    # What the upstreams are sent (and bill), beside AudioSecondsTranscribed: the recordings' seconds.
    metrics.add_metric(name="SpeechSecondsSent", unit=MetricUnit.Seconds, value=clock.speech_seconds)
    return (pcm if clock.is_whole else clock.kept_pcm(pcm)), clock


def _no_speech(job: TranscriptionJob, seconds: float) -> TranscriptionResult:
    """What a recording without speech is heard as: no text, and no segments when timings were asked for."""
    return TranscriptionResult(
        text="",
        duration=seconds,
        segments=() if job.timings or job.words else None,
        words=() if job.words else None,
    )


def _flac(pcm: bytes) -> AudioUpload:
    """16 kHz PCM as a FLAC upload (see _cut_pcm_at_silences for why FLAC)."""
    from speech_common import long_audio
    from speech_common.transcode import encode_pcm

    data = encode_pcm(
        pcm, sample_rate=long_audio.PIECE_SAMPLE_RATE, fmt="flac", output_rate=long_audio.PIECE_SAMPLE_RATE
    )
    return AudioUpload(data=data, format="flac")


def _decoded_pcm(job: TranscriptionJob, seconds: float) -> bytes:
    """The recording as 16 kHz mono PCM, never more than was counted (`seconds`): memory stays bounded by the cap it
    was measured against."""
    from speech_common import long_audio
    from speech_common.transcode import AudioDecodeError, LongerThan, iter_decoded_pcm

    try:
        decoded = iter_decoded_pcm(
            job.audio.data,
            sample_rate=long_audio.PIECE_SAMPLE_RATE,
            max_seconds=seconds + RESAMPLED_SLACK_SECONDS,
        )
        pcm = b"".join(decoded)
    except (AudioDecodeError, LongerThan):
        raise InvalidRequest(
            "audio: the file could not be decoded as it was measured", code=ErrorCode.UNSUPPORTED_AUDIO
        ) from None
    return pcm


def _cut_pcm_at_silences(pcm: bytes) -> tuple[list[Piece], list[AudioUpload], float]:
    """16 kHz PCM's pieces (cut at silences, for one round of parallel calls), each as an upload, and its length in
    seconds."""
    from speech_common import long_audio
    from speech_common.transcode import encode_pcm

    settings = get_settings()
    total = len(pcm) / long_audio.BYTES_PER_SAMPLE / long_audio.PIECE_SAMPLE_RATE
    pieces = long_audio.plan_pieces(
        total, long_audio.silences(pcm), long_audio.piece_seconds_for(total, settings.stt_parallel_calls)
    )

    # FLAC at 16 kHz: lossless (nothing lost for the recogniser), about half of WAV (a ten-minute
    # piece of speech is about 10 MB, under every upstream's 25 MB), and fast to encode. Encoded here,
    # one after the other (a fraction of a second for an hour): encoders in parallel threads were
    # several times slower than that, and the round of calls starts at once afterwards.
    uploads = [
        AudioUpload(
            data=encode_pcm(
                long_audio.piece_pcm(pcm, piece),
                sample_rate=long_audio.PIECE_SAMPLE_RATE,
                fmt="flac",
                output_rate=long_audio.PIECE_SAMPLE_RATE,
            ),
            format="flac",
        )
        for piece in pieces
    ]
    return pieces, uploads, total


def synthesize(request: SynthesisRequest, deadline: Deadline) -> tuple[Speech, Route]:
    """Speech from the first route entry that serves; an identical earlier request's audio, when the
    cache holds it for that entry (no upstream call)."""
    settings = get_settings()
    speech = SpeechRequest(
        text=request.text, voice=request.voice, response_format=request.response_format, speed=request.speed
    )
    hits: list[bool] = []
    audio, route = _serve(
        _chain(settings.tts_model_routes, request.model, TTS_FAILED),
        settings.route_policy,
        lambda route: _speak(speech, route, deadline, hits, request.owner),
        failure_detail=TTS_FAILED,
    )
    metrics.add_metric(name="CharactersSynthesized", unit=MetricUnit.Count, value=len(request.text))
    cache = ("hit" if hits[-1] else "miss") if hits else None
    return Speech(audio, request.model, request.voice, request.response_format, cache), route


def synthesize_long_text(
    request: SynthesisRequest, deadline: Deadline, *, progress: ProgressReport | None = None
) -> tuple[Speech, Route, float]:
    """Speech of a text of any length (a job's): cut at sentence ends into pieces that each take one
    upstream call, read in parallel, joined as PCM and encoded once; also its length in seconds.

    Every piece is read by the same route entry, so that the voice does not change mid-text: when an
    entry is gone (or lacks the voice) the whole text moves to the next one. A piece that fails for
    good fails the text and stops the pieces not yet begun. Pieces are cached like requests (as PCM),
    so a text read again, or sharing pieces with an earlier one, pays only for what is new. `progress` is told the
    pieces read of the pieces cut (a cached piece counts as read).
    """
    from speech_common.engines.pcm import BYTES_PER_SAMPLE, join_pcm_releasing
    from speech_common.text_chunks import split_text
    from speech_common.transcode import OUTPUT_SAMPLE_RATE, encode_pcm

    settings = get_settings()
    pieces = split_text(request.text, LONG_TEXT_PIECE_CHARS)

    def read_all(route: Route) -> list[bytes]:
        count = PieceCount(len(pieces), progress)  # counted anew by the next entry when this one is gone

        def one(piece: str) -> bytes:
            speech = SpeechRequest(
                text=piece, voice=request.voice, response_format="pcm", speed=request.speed
            )
            audio = _speak(speech, route, deadline, [], request.owner)
            count.one_done()
            return audio

        return run_all(pieces, one, parallel=settings.tts_parallel_calls)

    parts, route = _serve(
        _chain(settings.tts_model_routes, request.model, TTS_FAILED),
        settings.route_policy,
        read_all,
        failure_detail=TTS_FAILED,
    )
    gap_seconds = tts_engine(route.engine, settings).join_gap_seconds / request.speed
    pcm = join_pcm_releasing(parts, gap_samples=round(gap_seconds * OUTPUT_SAMPLE_RATE))
    seconds = len(pcm) / BYTES_PER_SAMPLE / OUTPUT_SAMPLE_RATE
    audio = encode_pcm(pcm, sample_rate=OUTPUT_SAMPLE_RATE, fmt=request.response_format)
    metrics.add_metric(name="CharactersSynthesized", unit=MetricUnit.Count, value=len(request.text))
    metrics.add_metric(name="TextPiecesSynthesized", unit=MetricUnit.Count, value=len(pieces))
    speech = Speech(audio, request.model, request.voice, request.response_format)
    return speech, route, seconds


def _speak(speech: SpeechRequest, route: Route, deadline: Deadline, hits: list[bool], owner: str) -> bytes:
    """`speech` from one route entry: from `owner`'s cache when it holds it (no upstream call, no tracer),
    else from the upstream, kept for next time. Appends to `hits` whether the cache served it."""
    settings = get_settings()
    if not tts_cache.enabled(settings):
        return _upstream_speech(speech, route, deadline)
    key = tts_cache.cache_key(speech, route, owner)
    audio = tts_cache.cached_audio(settings, key)
    hits.append(audio is not None)
    if audio is None:
        audio = _upstream_speech(speech, route, deadline)
        tts_cache.keep(settings, key, audio)
    return audio


def _upstream_speech(speech: SpeechRequest, route: Route, deadline: Deadline) -> bytes:
    with upstream_subsegment(route.engine, route.upstream_model):
        return tts_engine(route.engine, get_settings()).synthesize(
            speech, upstream_model=route.upstream_model, deadline=deadline
        )


def _chain(table: RouteTable, public_model: str, failure_detail: str) -> tuple[Route, ...]:
    chain = table.get(public_model)
    if not chain:  # settings refuse a table without every documented model; kept for hand-built ones
        raise OperationFailed(failure_detail, code=UpstreamFailure.NOT_CONFIGURED)
    return chain


def _serve[T](
    chain: tuple[Route, ...], policy: RoutePolicy, call: Callable[[Route], T], *, failure_detail: str
) -> tuple[T, Route]:
    """Run the route chain; an upstream failure becomes OperationFailed (`failure_detail` as its detail)."""
    try:
        result, route = run_chain(chain, call, policy)
    except UpstreamFailure as failure:
        raise _operation_failed(failure, failure_detail) from None
    logger.append_keys(served_by=str(route))
    if route != chain[0]:
        metrics.add_metric(name="FallbackRouteUsed", unit=MetricUnit.Count, value=1)
    return result, route


def _operation_failed(failure: UpstreamFailure, failure_detail: str) -> OperationFailed:
    """An upstream failure as the caller sees it (logged and counted): `failure_detail`, and what to check."""
    logger.warning("upstream failure", extra={"code": failure.code, "reason": failure.message})
    metrics.add_metric(name="UpstreamFailures", unit=MetricUnit.Count, value=1)
    detail = f"{failure_detail}: {failure.client_hint}" if failure.client_hint else failure_detail
    return OperationFailed(detail, code=failure.code)
