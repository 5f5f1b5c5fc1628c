"""A fake OpenAI API on loopback that speaks the real wire protocol, for tests.

The real ``openai`` SDK runs against it unchanged (multipart encoding, auth header, retries,
timeouts, error mapping), so tests exercise the same code path as production. It serves
``POST /v1/audio/transcriptions``, ``POST /v1/audio/speech`` and ``GET /v1/models[/{id}]``,
answers with OpenAI's status codes and error bodies, and returns real audio.

Example::

    from datetime import date

    from openai import OpenAI

    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(api_key="sk-test") as fake:
        client = OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)

        fake.transcript = "turn left"
        result = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_bytes, "audio/wav"))
        assert result.text == "turn left"
        assert fake.last_request.form["model"] == "whisper-1"

        speech = client.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="wav")
        assert speech.content.startswith(b"RIFF")

        fake.fail_next(429, retry_after=1)  # the next request answers 429 with Retry-After: 1
        fake.delay_seconds = 2.0  # every answer waits 2 s (trigger client timeouts)
        fake.stream_chunk_delay = 0.5  # headers at once, then the body in 20 pieces 0.5 s apart
        fake.first_audio_seconds = 0.3  # speech as OpenAI streams it: its first bytes after 0.3 s, then
        fake.seconds_per_input_char = 0.012  # the rest at OpenAI's pace (4,096 characters in ~49 s)
        fake.fail_next(404, html=True)  # a proxy's bare HTML 404, no OpenAI error code
        fake.today = date(2027, 1, 6)  # tts-1 is shut down from that day: 404 model_not_found

Faults, delays and recordings apply to every path; ``reset()`` clears them between tests
(``reset(config=True)`` also restores the constructor's configuration, for a shared server).
Authorization headers are recorded redacted, and the fake never logs anything.
"""

from __future__ import annotations

import array
import base64
import dataclasses
import functools
import io
import json
import math
import secrets
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast
from urllib.parse import parse_qs, urlsplit

import av
import multipart

__all__ = [
    "DEFAULT_SPEECH_MODELS",
    "DEFAULT_TRANSCRIPTION_MODELS",
    "SPEECH_CONTENT_TYPES",
    "SPEECH_VOICES",
    "UPLOAD_EXTENSIONS",
    "FakeOpenAI",
    "RecordedRequest",
]

TRANSCRIPTIONS_PATH: Final = "/v1/audio/transcriptions"
SPEECH_PATH: Final = "/v1/audio/speech"
MODELS_PATH: Final = "/v1/models"

# Shutdown dates announced by OpenAI (see the SDK's deprecation notes); None = no date announced.
DEFAULT_TRANSCRIPTION_MODELS: Final[Mapping[str, date | None]] = {
    "whisper-1": date(2027, 2, 26),
    "gpt-4o-transcribe": date(2027, 2, 26),
    "gpt-4o-mini-transcribe": date(2027, 2, 26),
    "gpt-transcribe": None,
    "gpt-4o-transcribe-diarize": date(2027, 2, 26),
}
DEFAULT_SPEECH_MODELS: Final[Mapping[str, date | None]] = {
    "tts-1": date(2027, 1, 6),
    "tts-1-hd": date(2027, 1, 6),
    "gpt-4o-mini-tts": date(2027, 1, 6),
}

SPEECH_VOICES: Final = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx",
    "nova", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip
# Content-Type of each speech format, as OpenAI labels it.
SPEECH_CONTENT_TYPES: Final[Mapping[str, str]] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# OpenAI's own list in its 400 answer includes 'oga', so the fake accepts it too.
UPLOAD_EXTENSIONS: Final = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
TRANSCRIPTION_FORMATS: Final = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
# What each model accepts, from OpenAI's "is not compatible with model" answers.
_MODEL_TRANSCRIPTION_FORMATS: Final[Mapping[str, tuple[str, ...]]] = {
    "whisper-1": ("json", "text", "srt", "verbose_json", "vtt"),
    "gpt-4o-transcribe": ("json", "text"),
    "gpt-4o-mini-transcribe": ("json", "text"),
    "gpt-transcribe": ("json",),
    "gpt-4o-transcribe-diarize": ("json", "text", "diarized_json"),
}
DIARIZE_MODEL: Final = "gpt-4o-transcribe-diarize"
# gpt-4o-transcribe-diarize: the longest audio it hears in a request, and the longest without a chunking_strategy.
MAX_DIARIZED_SECONDS: Final = 1400.0
MAX_UNCHUNKED_DIARIZED_SECONDS: Final = 30.0
MAX_KNOWN_SPEAKERS: Final = 4
# A few of Whisper's language names (whisper-1's verbose_json names the language, never its code).
_LANGUAGE_NAMES: Final[Mapping[str, str]] = {
    "en": "english", "fr": "french", "de": "german", "es": "spanish", "jv": "javanese", "ja": "japanese",
}  # fmt: skip
MAX_SPEECH_INPUT: Final = 4096
MAX_UPLOAD_BYTES: Final = 26_214_400  # 25 MiB, OpenAI's request size limit for uploads

SAMPLE_RATE: Final = 24_000  # OpenAI's speech output rate (pcm is documented as 24 kHz s16le mono)
_CHARS_PER_SECOND: Final = 15.0  # about the pace of the real voices
_MAX_SPEECH_SECONDS: Final = 1.0  # keep tests fast whatever the input length
DEFAULT_STREAM_CHUNKS: Final = 20  # pieces of a slow-streamed body (see FakeOpenAI.stream_chunk_delay)
PACED_PIECE_BYTES: Final = 4096  # speech sent at a pace goes out in pieces of this size (pcm: 85 ms of audio)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (also the ones answered with an injected fault)."""

    method: str
    path: str
    headers: dict[str, str]  # lowercased names; the Authorization value is redacted
    model: str | None = None
    json: dict[str, Any] | None = None  # speech: the JSON body
    form: dict[str, str | list[str]] = field(default_factory=dict)  # transcriptions: "x[]" keys are lists
    file_name: str | None = None
    file_content_type: str | None = None
    file_bytes: bytes | None = None


@dataclass(frozen=True)
class _Config:
    api_key: str
    transcript: str
    clock: Callable[[], date]
    transcription_models: Mapping[str, date | None]
    speech_models: Mapping[str, date | None]
    max_upload_bytes: int


@dataclass(frozen=True)
class _Fault:
    status: int | None  # None: close the connection without answering
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    path: str | None = None  # None: the next request on any path
    html: bool = False  # an HTML page, as a proxy or an ingress answers, instead of OpenAI's JSON
    body: bytes | None = None  # with status 200: this body instead of the real answer
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # speech audio is streamed by OpenAI (no Content-Length)
    # Slow stream: the body goes out in `pieces` pieces, each after `piece_delay` seconds; setting
    # `wake` (reset or stop) ends the answer early, like a dropped connection.
    piece_delay: float = 0.0
    pieces: int = 1
    first_piece_at_once: bool = False  # a paced speech answer: its first piece with the headers
    wake: threading.Event | None = None


class _ApiError(Exception):
    """An answer in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def response(self) -> _Response:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return _Response(self.status, _json_bytes({"error": error}), "application/json", self.headers)


class FakeOpenAI:
    """An OpenAI API stand-in on 127.0.0.1 (random port), run in a daemon thread.

    Configuration (plain attributes, change them at any time): ``api_key``, ``transcript``,
    ``today`` / ``clock``, ``transcription_models`` and ``speech_models`` (name -> shutdown date or
    None; a model answers 404 from its shutdown date on), ``custom_voices`` (ids accepted as
    ``voice={"id": ...}``), ``delay_seconds``, ``max_upload_bytes``. ``reset(config=True)`` puts
    the constructor's values back, for a server shared by several tests.

    Speech at OpenAI's pace: with ``first_audio_seconds`` set, a speech answer sends its headers and first
    bytes after that many seconds, then the rest of its audio spread over ``seconds_per_input_char`` seconds a
    character of its input (instead of all of it at once after that time), chunked, as OpenAI streams speech
    while it speaks. Lift ``max_speech_seconds`` for audio of a real length. ``reset()`` turns it off.

    Slow streams: with ``stream_chunk_delay`` > 0, every successful answer sends its headers at
    once, then its body in ``stream_chunks`` pieces, each after ``stream_chunk_delay`` seconds (as
    OpenAI streams speech while it is generated). ``reset()`` turns it off.
    """

    def __init__(
        self,
        api_key: str = "sk-test-fake",
        *,
        transcript: str = "hello from the fake",
        today: date | None = None,
        clock: Callable[[], date] | None = None,
        transcription_models: Mapping[str, date | None] | None = None,
        speech_models: Mapping[str, date | None] | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        if today is not None and clock is not None:
            raise ValueError("pass today or clock, not both")
        fixed_clock: Callable[[], date] | None = (lambda: today) if today is not None else None
        self._initial = _Config(
            api_key=api_key,
            transcript=transcript,
            clock=clock or fixed_clock or date.today,
            transcription_models=dict(
                DEFAULT_TRANSCRIPTION_MODELS if transcription_models is None else transcription_models
            ),
            speech_models=dict(DEFAULT_SPEECH_MODELS if speech_models is None else speech_models),
            max_upload_bytes=max_upload_bytes,
        )
        self._apply(self._initial)
        self.delay_seconds = 0.0
        # Speech takes time in proportion to its input, as OpenAI's does (~0.012 s a character).
        self.seconds_per_input_char = 0.0
        # Speech streamed at a pace: its first bytes after this many seconds (None: all at once, after the above).
        self.first_audio_seconds: float | None = None
        # Speech answers are capped at this many seconds to keep tests fast; benchmarks of memory lift it.
        self.max_speech_seconds = _MAX_SPEECH_SECONDS
        # Transcriptions: a function of the uploaded file instead of the fixed `transcript`, and time
        # taken in proportion to the audio's duration.
        self.transcriber: Callable[[bytes], str] | None = None
        # verbose_json's segments, (start, end, text) in seconds, from the file (None: one segment, all of it).
        self.segmenter: Callable[[bytes], list[tuple[float, float, str]]] | None = None
        # Diarization (gpt-4o-transcribe-diarize): (start, end, text, speaker) segments of the file, given the known
        # speakers' (name, reference clip) pairs (None: one segment of the transcript, speaker "A").
        self.diarizer: (
            Callable[[bytes, list[tuple[str, bytes]]], list[tuple[float, float, str, str]]] | None
        ) = None
        # Fields left out of verbose_json answers, as some OpenAI-compatible servers do ("segments", "duration").
        self.verbose_json_without: frozenset[str] = frozenset()
        # verbose_json's language, as whisper-1 names it, from the file (None: the one asked for, else english).
        self.language_heard: Callable[[bytes], str] | None = None
        self.seconds_per_audio_second = 0.0
        # Whisper on silence: set, an upload heard whole as silence is answered with this text, and one with
        # silences of HALLUCINATED_SILENCE_SECONDS or more gets it added once for each (None: silence is silence).
        self.hallucination: str | None = None
        # Azure OpenAI mode: the API version its deployment paths must name (None: plain OpenAI only).
        self.azure_api_version: str | None = None
        self.azure_requests: list[tuple[str, str | None]] = []  # (deployment, api-version) as received
        self.stream_chunk_delay = 0.0
        self.stream_chunks = DEFAULT_STREAM_CHUNKS

        self._lock = threading.Lock()
        self._first_audio_sent: list[float] = []
        self._audio_finished: list[float] = []
        self._requests: list[RecordedRequest] = []
        self._calls: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._errors: list[str] = []
        # Set to wake delayed handlers (on reset or stop): their answer belongs to a finished test.
        self._wake = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _apply(self, config: _Config) -> None:
        self.api_key = config.api_key
        self.transcript = config.transcript
        self.clock: Callable[[], date] = config.clock
        self.transcription_models: dict[str, date | None] = dict(config.transcription_models)
        self.speech_models: dict[str, date | None] = dict(config.speech_models)
        self.custom_voices: set[str] = set()
        self.max_upload_bytes = config.max_upload_bytes

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            return self
        self._wake = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        # Wake handlers sleeping in delay_seconds first, so nothing outlives the test.
        self._wake.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running: call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- configuration ------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self.clock()

    @today.setter
    def today(self, value: date) -> None:
        self.clock = lambda: value

    def live_models(self) -> list[str]:
        """Known models not yet shut down, both endpoints, sorted."""
        catalog = {**self.transcription_models, **self.speech_models}
        return sorted(name for name in catalog if self._is_live(catalog, name))

    # -- fault injection ----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        code: str | None = None,
        *,
        message: str | None = None,
        path: str | None = None,
        html: bool = False,
    ) -> None:
        """Answer the next ``times`` requests (on ``path``, or any) with ``status`` in OpenAI's shape.

        429 gives a rate-limit body (``code="insufficient_quota"`` gives the quota one), 502 an
        HTML gateway page like Cloudflare's, other 5xx a ``server_error``; other 4xx carry
        ``code`` (None by default: ``fail_next(404)`` is a bare 404, not ``model_not_found``).
        ``html=True`` answers an nginx-style HTML page instead, as a proxy or an ingress would.
        ``retry_after`` (seconds) sets the Retry-After header, which the SDK honours between retries.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be 4xx or 5xx, not {status}")
        self._queue(_Fault(status, retry_after, code, message, path, html), times)

    def answer_next_with(
        self, body: bytes, content_type: str, times: int = 1, *, path: str | None = None
    ) -> None:
        """Answer the next ``times`` requests ``200`` with ``body``: an HTML page a proxy serves with a
        200, an empty body, or audio of another format, where the real answer was expected."""
        self._queue(_Fault(200, path=path, body=body, content_type=content_type), times)

    def drop_connection_next(self, times: int = 1, *, path: str | None = None) -> None:
        """Close the connection without answering (the SDK raises APIConnectionError)."""
        self._queue(_Fault(None, path=path), times)

    def _queue(self, fault: _Fault, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.extend([fault] * times)

    # -- recorded state -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("the fake has received no request")
            return self._requests[-1]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of the fake's own failures (each also answered 500): tests may assert it is empty."""
        with self._lock:
            return list(self._errors)

    @property
    def first_audio_sent(self) -> list[float]:
        """When (time.monotonic()) each speech answer's first bytes were sent, in that order."""
        with self._lock:
            return list(self._first_audio_sent)

    @property
    def audio_finished(self) -> list[float]:
        """When (time.monotonic()) each speech answer's last bytes were sent, in that order."""
        with self._lock:
            return list(self._audio_finished)

    def _sent_first_audio(self) -> None:
        with self._lock:
            self._first_audio_sent.append(time.monotonic())

    def _sent_all_audio(self) -> None:
        with self._lock:
            self._audio_finished.append(time.monotonic())

    def calls(self, path: str | None = None) -> int:
        """How many requests reached ``path`` (e.g. "/v1/audio/speech"), or any path; faults included."""
        with self._lock:
            return self._calls[path] if path is not None else sum(self._calls.values())

    def reset(self, *, config: bool = False) -> None:
        """Forget recordings, counts, queued faults and delays, and drop answers still delayed.

        The configuration stays, unless ``config=True``: then the constructor's values come back.
        """
        with self._lock:
            self._requests.clear()
            self._first_audio_sent.clear()
            self._audio_finished.clear()
            self._calls.clear()
            self._faults.clear()
            self._errors.clear()
            self.delay_seconds = 0.0
            self.seconds_per_input_char = 0.0
            self.first_audio_seconds = None
            self.max_speech_seconds = _MAX_SPEECH_SECONDS
            self.seconds_per_audio_second = 0.0
            self.transcriber = None
            self.hallucination = None
            self.segmenter = None
            self.diarizer = None
            self.verbose_json_without = frozenset()
            self.language_heard = None
            self.azure_api_version = None
            self.azure_requests.clear()
            self.stream_chunk_delay = 0.0
            self.stream_chunks = DEFAULT_STREAM_CHUNKS
            self._wake.set()
            self._wake = threading.Event()
            if config:
                self._apply(self._initial)

    # -- request handling (called from the server's threads) ----------------------------------

    def _as_openai_request(self, raw_path: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        """An Azure OpenAI request (``azure_api_version`` set) as the OpenAI request it stands for.

        Azure serves ``/openai/deployments/{deployment}/audio/speech?api-version=...`` and takes the
        key in an ``api-key`` header (a ``Bearer`` key is refused). Any other path is taken as it is.
        """
        url = urlsplit(raw_path)
        prefix = "/openai/deployments/"
        if self.azure_api_version is None or not url.path.startswith(prefix):
            return url.path, headers
        deployment, _, rest = url.path.removeprefix(prefix).partition("/")
        version = parse_qs(url.query).get("api-version", [None])[0]
        with self._lock:
            self.azure_requests.append((deployment, version))
        translated = {
            name: value for name, value in headers.items() if name not in ("authorization", "api-key")
        }
        if "api-key" in headers and version == self.azure_api_version:
            translated["authorization"] = f"Bearer {headers['api-key']}"
        return f"/v1/{rest}", translated

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Response | None:
        """The answer to one request, or None to drop the connection."""
        # A fault is taken as the request arrives and answered without the reading time: OpenAI
        # refuses before it speaks, and a sibling call then cannot finish first by chance.
        fault = self._take_fault(path)
        with self._lock:
            self._calls[path] += 1
            wake, delay = self._wake, self.delay_seconds
            reading = self.seconds_per_input_char * _speech_input_length(path, body) if fault is None else 0.0
            paced = self.first_audio_seconds is not None and path == SPEECH_PATH and fault is None
            delay += (self.first_audio_seconds or 0.0) if paced else reading
            piece_delay, pieces = self.stream_chunk_delay, self.stream_chunks
        if delay > 0 and wake.wait(delay):
            return None  # reset or stopped meanwhile: neither record nor answer into the next test
        response = self._answer(method, path, headers, body, fault)
        if response is not None and response.status == 200 and paced:
            # The first piece now, the others spread over the reading time.
            count = max(2, -(-len(response.body) // PACED_PIECE_BYTES))
            response = dataclasses.replace(
                response, piece_delay=reading / (count - 1), pieces=count, wake=wake, first_piece_at_once=True
            )
        elif response is not None and response.status == 200 and piece_delay > 0:
            response = dataclasses.replace(
                response, piece_delay=piece_delay, pieces=max(1, pieces), wake=wake
            )
        return response

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, fault: _Fault | None
    ) -> _Response | None:
        if fault is not None and fault.status is None:
            return None
        try:
            # Record first, so faulted and rejected requests are visible too; raise parse errors
            # only after auth, in the order OpenAI checks them.
            parse_error: _ApiError | None = None
            try:
                recorded = self._parse(method, path, headers, body)
            except _ApiError as error:
                recorded, parse_error = RecordedRequest(method, path, _redact(headers)), error
            with self._lock:
                self._requests.append(recorded)
            if fault is not None:
                return _fault_response(fault, recorded.model)
            self._check_auth(headers)
            if parse_error is not None:
                raise parse_error
            return self._route(method, path, recorded)
        except _ApiError as error:
            return error.response()
        except Exception:  # a bug in the fake: answer like OpenAI would, keep the traceback for the test
            with self._lock:
                self._errors.append(traceback.format_exc())
            return _server_error(500).response()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path is None or fault.path == path:
                    return self._faults.pop(index)
        return None

    def _parse(self, method: str, path: str, headers: dict[str, str], body: bytes) -> RecordedRequest:
        redacted = _redact(headers)
        content_type = headers.get("content-type", "")
        if method != "POST":
            return RecordedRequest(method, path, redacted)
        if content_type.startswith("multipart/form-data"):
            if path == TRANSCRIPTIONS_PATH and len(body) > self.max_upload_bytes:
                raise _ApiError(
                    413,
                    f"Maximum content size limit ({self.max_upload_bytes}) exceeded ({len(body)} bytes read)",
                    type_="server_error",
                )
            form, file_part = _parse_multipart(content_type, body)
            model = form.get("model")
            return RecordedRequest(
                method,
                path,
                redacted,
                model=model if isinstance(model, str) else None,
                form=form,
                file_name=file_part[0] if file_part else None,
                file_content_type=file_part[1] if file_part else None,
                file_bytes=file_part[2] if file_part else None,
            )
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise _ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
                "not valid JSON.)",
            ) from None
        if not isinstance(data, dict):
            return RecordedRequest(method, path, redacted)
        model = data.get("model")
        model_name = model if isinstance(model, str) else None
        return RecordedRequest(method, path, redacted, model=model_name, json=data)

    def _check_auth(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
                "https://platform.openai.com/account/api-keys.",
            )
        if not secrets.compare_digest(token.encode(), self.api_key.encode()):
            raise _ApiError(
                401,
                f"Incorrect API key provided: {_mask_key(token)}. "
                "You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _route(self, method: str, path: str, recorded: RecordedRequest) -> _Response:
        if method == "POST" and path == TRANSCRIPTIONS_PATH:
            return self._transcribe(recorded)
        if method == "POST" and path == SPEECH_PATH:
            return self._speak(recorded)
        if method == "GET" and path == MODELS_PATH:
            data = [_model_object(name) for name in self.live_models()]
            return _json_response({"object": "list", "data": data})
        if method == "GET" and path.startswith(MODELS_PATH + "/"):
            name = path.removeprefix(MODELS_PATH + "/")
            if name not in self.live_models():
                raise _model_not_found(name)
            return _json_response(_model_object(name))
        raise _ApiError(404, f"Invalid URL ({method} {path})")

    def _is_live(self, catalog: Mapping[str, date | None], name: str) -> bool:
        if name not in catalog:
            return False
        shutdown = catalog[name]
        return shutdown is None or self.today < shutdown

    def _require_model(self, model: object, catalog: Mapping[str, date | None]) -> str:
        if not isinstance(model, str) or not model:
            raise _ApiError(400, "you must provide a model parameter")
        # Retired, unknown and wrong-endpoint models all get the same 404, as on OpenAI.
        if not self._is_live(catalog, model):
            raise _model_not_found(model)
        return model

    def _transcription_request(self, recorded: RecordedRequest) -> tuple[str, str]:
        """The model and response_format of a transcription request, refused as OpenAI refuses them."""
        form = recorded.form
        model = self._require_model(form.get("model"), self.transcription_models)
        if recorded.file_bytes is None:
            raise _missing("file")
        _, dot, extension = (recorded.file_name or "").rpartition(".")
        extension = extension.lower() if dot else ""
        if extension not in UPLOAD_EXTENSIONS:
            raise _ApiError(400, f"Invalid file format. Supported formats: {list(UPLOAD_EXTENSIONS)}")
        response_format = form.get("response_format", "json")
        if response_format not in TRANSCRIPTION_FORMATS:
            raise _invalid_value("response_format", response_format, TRANSCRIPTION_FORMATS)
        allowed = _MODEL_TRANSCRIPTION_FORMATS.get(model, TRANSCRIPTION_FORMATS[:-1])
        if response_format not in allowed:
            raise _ApiError(
                400,
                f"response_format '{response_format}' is not compatible with model '{model}'. "
                f"Use {_or_join(allowed)} instead.",
                param="response_format",
                code="unsupported_value",
            )
        if form.get("stream") == "true" and model != "whisper-1":  # whisper-1 ignores stream
            raise _ApiError(400, "The fake OpenAI server does not implement streamed transcriptions.")
        return model, response_format

    def _transcribe(self, recorded: RecordedRequest) -> _Response:
        model, response_format = self._transcription_request(recorded)
        assert recorded.file_bytes is not None
        seconds = _audio_seconds(recorded.file_bytes)
        if model == DIARIZE_MODEL:
            return self._diarize(recorded, response_format, seconds)
        if self.seconds_per_audio_second and seconds:
            time.sleep(seconds * self.seconds_per_audio_second)  # OpenAI hears ~30-60 audio seconds a second
        text = self.transcriber(recorded.file_bytes) if self.transcriber is not None else self.transcript
        if self.hallucination is not None:
            text = _hallucinated(recorded.file_bytes, text, self.hallucination)
        usage = {"type": "duration", "seconds": math.ceil(seconds)} if seconds is not None else None
        duration = seconds or 0.0
        if response_format == "text":
            return _Response(200, f"{text}\n".encode(), "text/plain; charset=utf-8")
        if response_format == "srt":
            srt = f"1\n00:00:00,000 --> {_timestamp(duration, ',')}\n{text}\n\n"
            return _Response(200, srt.encode(), "text/plain; charset=utf-8")
        if response_format == "vtt":
            vtt = f"WEBVTT\n\n00:00:00.000 --> {_timestamp(duration, '.')}\n{text}\n\n"
            return _Response(200, vtt.encode(), "text/vtt; charset=utf-8")
        payload: dict[str, Any] = {"text": text}
        if response_format == "verbose_json":
            payload = self._verbose(recorded, text, duration)
        if usage is not None:
            payload["usage"] = usage
        return _json_response(payload)

    def _diarize(self, recorded: RecordedRequest, response_format: str, seconds: float | None) -> _Response:
        """gpt-4o-transcribe-diarize: refuses what it does not take, then labels speakers per request (A, B, ... in
        order of appearance, a known speaker's voice under its given name)."""
        form = recorded.form
        for param in ("prompt", "timestamp_granularities[]"):
            if param in form:
                raise _ApiError(
                    400,
                    f"'{param}' is not supported for model '{DIARIZE_MODEL}'.",
                    param=param,
                    code="unsupported_value",
                )
        known = _known_speakers(form)
        duration = seconds or 0.0
        chunked = "chunking_strategy" in form or "chunking_strategy[type]" in form
        if duration > MAX_UNCHUNKED_DIARIZED_SECONDS and not chunked:
            raise _ApiError(
                400,
                f"chunking_strategy is required for model '{DIARIZE_MODEL}' when the audio is longer than "
                f"{MAX_UNCHUNKED_DIARIZED_SECONDS:g} seconds.",
                param="chunking_strategy",
                code="invalid_value",
            )
        if duration > MAX_DIARIZED_SECONDS:
            raise _ApiError(
                400,
                f"audio duration {duration:g} seconds is longer than {MAX_DIARIZED_SECONDS:g} seconds which is the "
                "maximum for this model",
                param="file",
                code="invalid_value",
            )
        if self.seconds_per_audio_second and seconds:
            time.sleep(seconds * self.seconds_per_audio_second)
        if self.diarizer is not None:
            segments = self.diarizer(recorded.file_bytes or b"", known)
        else:
            text = (
                self.transcriber(recorded.file_bytes or b"")
                if self.transcriber is not None
                else self.transcript
            )
            segments = [(0.0, duration, text, "A")]
        text = " ".join(segment_text for _, _, segment_text, _ in segments)
        if response_format == "text":
            return _Response(200, f"{text}\n".encode(), "text/plain; charset=utf-8")
        usage = {"type": "duration", "seconds": math.ceil(duration)}
        if response_format == "json":
            return _json_response({"text": text, "usage": usage})
        return _json_response(
            {
                "task": "transcribe",
                "duration": duration,
                "text": text,
                "segments": [
                    {
                        "type": "transcript.text.segment",
                        "id": f"seg_{number}",
                        "start": start,
                        "end": end,
                        "text": segment_text,
                        "speaker": speaker,
                    }
                    for number, (start, end, segment_text, speaker) in enumerate(segments)
                ],
                "usage": usage,
            }
        )

    def _verbose(self, recorded: RecordedRequest, text: str, duration: float) -> dict[str, Any]:
        """verbose_json, as whisper-1's, less the fields this server is told to leave out."""
        payload = {
            "task": "transcribe",
            "language": self._language(recorded),
            "duration": duration,
            "text": text,
        }
        payload.update(self._timings(recorded, text, duration))
        return {key: value for key, value in payload.items() if key not in self.verbose_json_without}

    def _language(self, recorded: RecordedRequest) -> str:
        """Whisper's name of the language heard: the one asked for (OpenAI's answer names it), else detected."""
        if self.language_heard is not None:
            return self.language_heard(recorded.file_bytes or b"")
        asked = recorded.form.get("language")
        return _LANGUAGE_NAMES.get(asked, "english") if isinstance(asked, str) else "english"

    def _timings(self, recorded: RecordedRequest, text: str, duration: float) -> dict[str, Any]:
        """verbose_json's segments (unless only words were asked for) and words (when they were), as whisper-1's:
        without a segmenter, one segment of the whole file, its words spread evenly over it."""
        granularities = recorded.form.get("timestamp_granularities[]", [])
        granularities = [granularities] if isinstance(granularities, str) else granularities
        timed = (
            self.segmenter(recorded.file_bytes or b"")
            if self.segmenter is not None
            else [(0.0, duration, text)]
        )
        timings: dict[str, Any] = {}
        if not granularities or "segment" in granularities:
            timings["segments"] = [
                {
                    "id": number,
                    "seek": 0,
                    "start": start,
                    "end": end,
                    "text": segment_text,
                    "tokens": [50364],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 1.0,
                    "no_speech_prob": 0.0,
                }
                for number, (start, end, segment_text) in enumerate(timed)
            ]
        if "word" in granularities:
            timings["words"] = [
                {
                    "word": word,
                    "start": start + (end - start) * i / len(words),
                    "end": start + (end - start) * (i + 1) / len(words),
                }
                for start, end, segment_text in timed
                for words in [segment_text.split()]
                for i, word in enumerate(words)
            ]
        return timings

    def _speak(self, recorded: RecordedRequest) -> _Response:
        data = recorded.json
        if data is None:
            raise _ApiError(400, "The request body must be a JSON object.")
        model = self._require_model(data.get("model"), self.speech_models)
        text = data.get("input")
        if text is None:
            raise _missing("input")
        if not isinstance(text, str):
            raise _invalid_type("input", "a string", text)
        if not text:
            raise _ApiError(
                400,
                "Invalid 'input': empty string. Expected a string with minimum length 1, "
                "but got an empty string instead.",
                param="input",
                code="empty_string",
            )
        if len(text) > MAX_SPEECH_INPUT:
            raise _ApiError(
                400,
                "Invalid 'input': string too long. Expected a string with maximum length "
                f"{MAX_SPEECH_INPUT}, but got a string with length {len(text)} instead.",
                param="input",
                code="string_above_max_length",
            )
        voice = data.get("voice")
        if voice is None:
            raise _missing("voice")
        custom_id = voice.get("id") if isinstance(voice, dict) else None
        if voice not in SPEECH_VOICES and custom_id not in self.custom_voices:
            raise _invalid_value("voice", voice, SPEECH_VOICES)
        response_format = data.get("response_format", "mp3")
        if response_format not in SPEECH_CONTENT_TYPES:
            raise _invalid_value("response_format", response_format, tuple(SPEECH_CONTENT_TYPES))
        speed = data.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise _invalid_type("speed", "a decimal", speed)
        if speed < 0.25:
            raise _ApiError(
                400,
                "Invalid 'speed': decimal below minimum value. "
                f"Expected a value >= 0.25, but got {speed} instead.",
                param="speed",
                code="decimal_below_min_value",
            )
        if speed > 4.0:
            raise _ApiError(
                400,
                "Invalid 'speed': decimal above maximum value. "
                f"Expected a value <= 4, but got {speed} instead.",
                param="speed",
                code="decimal_above_max_value",
            )
        stream_format = data.get("stream_format", "audio")
        if stream_format == "sse":
            if model in ("tts-1", "tts-1-hd"):
                raise _ApiError(
                    400, f"stream_format 'sse' is not supported for model '{model}'.", param="stream_format"
                )
            raise _ApiError(400, "The fake OpenAI server does not implement stream_format 'sse'.")
        if stream_format != "audio":
            raise _invalid_value("stream_format", stream_format, ("sse", "audio"))

        audio = _tone(response_format, round(speech_seconds(text, speed, cap=self.max_speech_seconds) * 10))
        return _Response(200, audio, SPEECH_CONTENT_TYPES[response_format], chunked=True)


# -- HTTP plumbing ---------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for a handler still sleeping or holding a keep-alive socket

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up mid-answer is expected here, not a failure.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every answer has a length or chunks
    server_version = "fake-openai"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end on their own

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: test output should not fill with access lines (nor ever show a header)."""

    def _serve(self) -> None:
        fake = cast(_Server, self.server).fake
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        path, headers = fake._as_openai_request(self.path, headers)
        response = fake._respond(self.command, path, headers, body)
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("x-request-id", f"req_{secrets.token_hex(16)}")
        self.send_header("openai-processing-ms", "1")
        self.send_header("openai-version", "2020-10-01")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        for number, piece in enumerate(_pieces(response)):
            delay = 0.0 if number == 0 and response.first_piece_at_once else response.piece_delay
            if response.wake is not None and response.wake.wait(delay):
                # Reset or stopped meanwhile: end the answer unfinished rather than feed the next test.
                self.close_connection = True
                return
            self.wfile.write(b"%X\r\n%s\r\n" % (len(piece), piece) if response.chunked else piece)
            if number == 0 and path == SPEECH_PATH and response.status == 200:
                self.wfile.flush()
                fake._sent_first_audio()
        if response.chunked:
            self.wfile.write(b"0\r\n\r\n")
        if path == SPEECH_PATH and response.status == 200:
            self.wfile.flush()
            fake._sent_all_audio()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


# -- helpers -----------------------------------------------------------------------------------------


def _pieces(response: _Response) -> list[bytes]:
    """The body as it goes on the wire: 4 KiB chunks, or `pieces` pieces for a slow stream."""
    body = response.body
    size = -(-len(body) // response.pieces) if response.wake is not None else 4096
    return [body[start : start + size] for start in range(0, len(body), max(size, 1))]


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str | list[str]], tuple[str | None, str, bytes] | None]:
    """Form fields ("x[]" names always as lists) and the `file` part as (filename, content type, bytes)."""
    _, options = multipart.parse_options_header(content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise _ApiError(400, "Invalid multipart/form-data request: the Content-Type has no boundary.")
    form: dict[str, str | list[str]] = {}
    file_part: tuple[str | None, str, bytes] | None = None
    parser = multipart.MultipartParser(io.BytesIO(body), boundary, content_length=len(body))
    try:
        for part in parser:
            if part.name == "file" and file_part is None:
                file_part = (part.filename, part.content_type, part.raw)
            elif part.name.endswith("[]"):
                values = form.setdefault(part.name, [])
                cast(list[str], values).append(part.value)
            else:
                form[part.name] = part.value
            part.close()
    except (multipart.MultipartError, UnicodeDecodeError) as error:
        raise _ApiError(400, f"Invalid multipart/form-data request: {error}") from None
    return form, file_part


def _known_speakers(form: Mapping[str, str | list[str]]) -> list[tuple[str, bytes]]:
    """known_speaker_names[] with their known_speaker_references[] (data URLs of 2-10 s of audio), checked as
    OpenAI documents them."""
    names = form.get("known_speaker_names[]", [])
    references = form.get("known_speaker_references[]", [])
    names = [names] if isinstance(names, str) else names
    references = [references] if isinstance(references, str) else references
    if len(names) != len(references):
        raise _ApiError(
            400,
            "known_speaker_names and known_speaker_references must have the same length.",
            param="known_speaker_references",
        )
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise _ApiError(
            400, f"At most {MAX_KNOWN_SPEAKERS} known speakers are supported.", param="known_speaker_names"
        )
    known = []
    for name, reference in zip(names, references, strict=True):
        head, comma, payload = reference.partition(",")
        if not (head.startswith("data:audio/") and head.endswith(";base64") and comma):
            raise _ApiError(
                400, "known_speaker_references must be data URLs of audio.", param="known_speaker_references"
            )
        clip = base64.b64decode(payload)
        clip_seconds = _audio_seconds(clip) or 0.0
        if not 2.0 <= clip_seconds <= 10.0:
            raise _ApiError(
                400,
                f"Each known speaker reference must be between 2 and 10 seconds long (got {clip_seconds:.1f}).",
                param="known_speaker_references",
            )
        known.append((name, clip))
    return known


def _speech_input_length(path: str, body: bytes) -> int:
    if not path.endswith("/audio/speech"):
        return 0
    try:
        text = json.loads(body).get("input")
    except (ValueError, AttributeError):
        return 0
    return len(text) if isinstance(text, str) else 0


def _fault_response(fault: _Fault, model: str | None) -> _Response:
    assert fault.status is not None
    if fault.body is not None:
        return _Response(fault.status, fault.body, fault.content_type)
    headers = {}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    if fault.html or (fault.status == 502 and fault.message is None):
        # OpenAI's edge answers 502 with an HTML page, not JSON; so do proxies and ingresses.
        title = f"{fault.status} {HTTPStatus(fault.status).phrase}".encode()
        server = b"nginx" if fault.html else b"cloudflare"
        page = (
            b"<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
            b"<center><h1>%s</h1></center>\r\n"
            b"<hr><center>%s</center>\r\n</body>\r\n</html>\r\n"
        ) % (title, title, server)
        return _Response(fault.status, page, "text/html", headers)
    if fault.status == 429 and fault.code == "insufficient_quota":
        error = _ApiError(
            429,
            fault.message
            or "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            type_="insufficient_quota",
            code="insufficient_quota",
        )
    elif fault.status == 429:
        error = _ApiError(
            429,
            fault.message
            or f"Rate limit reached for {model or 'requests'} in organization org-fake on requests per min "
            "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
            type_="requests",
            code=fault.code or "rate_limit_exceeded",
        )
    elif fault.status >= 500:
        error = _server_error(fault.status, fault.message, fault.code)
    else:
        message = fault.message or HTTPStatus(fault.status).phrase
        error = _ApiError(fault.status, message, code=fault.code)
    error.headers.update(headers)
    return error.response()


def _server_error(status: int, message: str | None = None, code: str | None = None) -> _ApiError:
    default = (
        "The server is overloaded or not ready yet."
        if status == 503
        else "The server had an error while processing your request. Sorry about that!"
    )
    return _ApiError(status, message or default, type_="server_error", code=code)


def _model_not_found(model: str) -> _ApiError:
    return _ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def _missing(param: str) -> _ApiError:
    return _ApiError(
        400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid_value(param: str, value: object, supported: tuple[str, ...]) -> _ApiError:
    return _ApiError(
        400,
        f"Invalid value: {_quote(value)}. Supported values are: {_and_join(supported)}.",
        param=param,
        code="invalid_value",
    )


def _invalid_type(param: str, expected: str, value: object) -> _ApiError:
    names = {str: "a string", int: "an integer", float: "a decimal", bool: "a boolean", list: "an array"}
    got = names.get(type(value), "an object")
    return _ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param=param,
        code="invalid_type",
    )


def _quote(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _and_join(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])}, and {quoted[-1]}"


def _or_join(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " or ".join(quoted)
    return f"{', '.join(quoted[:-1])}, or {quoted[-1]}"


def _mask_key(key: str) -> str:
    # OpenAI shows a prefix and the last 4 characters; a short key is hidden whole so none of it leaks.
    if len(key) < 20:
        return "*" * len(key)
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def _redact(headers: dict[str, str]) -> dict[str, str]:
    headers = {**headers, "api-key": _mask_key(headers["api-key"])} if "api-key" in headers else headers
    if "authorization" not in headers:
        return dict(headers)
    scheme, _, token = headers["authorization"].partition(" ")
    return {**headers, "authorization": f"{scheme} {_mask_key(token.strip())}"}


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_698_785_189, "owned_by": "system"}


def _json_bytes(payload: object) -> bytes:
    return json.dumps(payload, indent=2).encode()


def _json_response(payload: object) -> _Response:
    return _Response(200, _json_bytes(payload), "application/json")


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _audio_seconds(data: bytes) -> float | None:
    """Best-effort duration of an upload (None when PyAV cannot read it: tests may send dummy bytes)."""
    try:
        with av.open(io.BytesIO(data), "r") as container:
            return container.duration / 1_000_000 if container.duration is not None else None
    except (av.FFmpegError, ValueError, OSError):
        return None


HALLUCINATED_SILENCE_SECONDS: Final = 10.0
_QUIET_PEAK: Final = 100  # of 32767: about -50 dBFS
_HEARING_RATE: Final = 16_000


def _hallucinated(data: bytes, text: str, phrase: str) -> str:
    """`text` as Whisper hears a file with silence in it: only `phrase` when the file is silent throughout, else
    `text` with `phrase` added for each silence of HALLUCINATED_SILENCE_SECONDS or more (tenths of a second whose
    loudest sample is under _QUIET_PEAK)."""
    try:
        with av.open(io.BytesIO(data), "r") as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=_HEARING_RATE)
            frames = [*container.decode(container.streams.audio[0]), None]
            pcm = b"".join(
                bytes(f.planes[0])[: f.samples * 2] for frame in frames for f in resampler.resample(frame)
            )
    except (av.FFmpegError, ValueError, OSError, IndexError):
        return text
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    tenth = _HEARING_RATE // 10
    quiet = [
        max(map(abs, samples[i : i + tenth]), default=0) < _QUIET_PEAK for i in range(0, len(samples), tenth)
    ]
    if all(quiet):
        return phrase
    runs, run = 0, 0
    for is_quiet in [*quiet, False]:
        if is_quiet:
            run += 1
            continue
        runs += run / 10 >= HALLUCINATED_SILENCE_SECONDS
        run = 0
    return " ".join([text, *[phrase] * runs]).strip()


def _sine_pcm(samples: int) -> bytes:
    """A 440 Hz tone as s16le mono: audible, and easy to tell from silence."""
    second = _sine_second()  # a whole number of cycles: repeated, it is the same tone
    return (second * (samples // SAMPLE_RATE + 1))[: samples * 2]


@functools.cache
def _sine_second() -> bytes:
    step = 2 * math.pi * 440 / SAMPLE_RATE
    return array.array("h", (int(9000 * math.sin(step * i)) for i in range(SAMPLE_RATE))).tobytes()


_CONTAINERS: Final[Mapping[str, tuple[str, str]]] = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),  # OpenAI's opus is Ogg Opus
    "aac": ("adts", "aac"),  # and its aac is raw ADTS frames
    "flac": ("flac", "flac"),
    "wav": ("wav", "pcm_s16le"),
}


@functools.cache
def speech_seconds(text: str, speed: float = 1.0, *, cap: float = _MAX_SPEECH_SECONDS) -> float:
    """How long the fake's answer to `text` plays: real pace, capped (to keep tests fast), in tenths."""
    return round(min(cap, max(0.1, len(text) / _CHARS_PER_SECOND / speed)) * 10) / 10


def _tone(response_format: str, tenths: int) -> bytes:
    """Real audio of ``tenths`` tenths of a second in a speech format (cached: encoding is deterministic)."""
    pcm = _sine_pcm(SAMPLE_RATE * tenths // 10)
    if response_format == "pcm":
        return pcm
    container_format, codec = _CONTAINERS[response_format]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = cast(av.AudioStream, container.add_stream(codec, rate=SAMPLE_RATE, layout="mono"))
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
