"""A fake OpenAI Realtime API (WebSocket) on loopback, for the real SDK to talk to.

Every client event is parsed with the SDK's own event models (a discriminated union over
`RealtimeClientEvent`'s members, unknown fields refused), and every server event is built from
the SDK's server event models, so the fake cannot drift from the protocol the SDK speaks.
Protocol problems are answered like the real API (an `error` event) and recorded in
`protocol_errors`, which a test fixture asserts is empty.

Behaviour, as observed from the real API:
- `GET /v1/realtime?model=X` with `Authorization: Bearer <key>`. A bad key: the upgrade succeeds,
  then an `error` event (invalid_request_error / invalid_api_key) and a close with code 3000 and
  reason "invalid_request_error.invalid_api_key". `auth_failure = "handshake"` instead refuses
  the upgrade with HTTP 401 and an OpenAI JSON error body (what a gateway in front may do).
- An unknown or retired model (`models`: name -> shutdown date or None, against the test clock
  `today`): an `error` event with code model_not_found, then a close 3000
  "invalid_request_error.model_not_found".
- `session.created` first; `session.update` answered with `session.updated` (voice and speed are
  validated like the real API: realtime voices only, speed 0.25-1.5).
- `response.create` "speaks" the input text: 24 kHz s16le tone (length grows with the text,
  pitch depends on it, so `pcm_for(text)` predicts it exactly) and an output audio transcript
  equal to the text; the first `reword_times` responses reword it. Concurrent responses run
  concurrently, so their events interleave.
- Pace (off by default): with `first_audio_seconds` and `seconds_per_input_char` set, a response's first
  audio delta comes that long after response.create, and its deltas are spread over
  `seconds_per_input_char` seconds a character of what it says, as OpenAI speaks (about 0.012 s a character).

Everything is bounded in time; `stop()` closes every connection and joins the thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import itertools
import json
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args
from urllib.parse import parse_qs, urlsplit

from openai.types.realtime import (
    RealtimeAudioConfig,
    RealtimeAudioConfigOutput,
    RealtimeClientEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeResponse,
    RealtimeSessionCreateRequest,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseCreateEvent,
    ResponseDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
    SessionUpdateEvent,
)
from openai.types.realtime.rate_limits_updated_event import RateLimit, RateLimitsUpdatedEvent
from openai.types.realtime.realtime_audio_formats import AudioPCM
from openai.types.realtime.realtime_conversation_item_assistant_message import Content as AssistantContent
from openai.types.realtime.realtime_response import Audio as ResponseAudio
from openai.types.realtime.realtime_response import AudioOutput as ResponseAudioOutput
from openai.types.realtime.realtime_response_status import Error as StatusError
from openai.types.realtime.realtime_response_status import RealtimeResponseStatus
from openai.types.realtime.response_content_part_added_event import Part as AddedPart
from openai.types.realtime.response_content_part_done_event import Part as DonePart
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

SAMPLE_RATE = 24_000
REALTIME_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)
DEFAULT_INSTRUCTIONS = "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI."
# Bounds: nothing in the fake waits longer than this, whatever a test does.
MAX_WAIT_SECONDS = 10.0
FRAME_BYTES = 9_600  # 0.2 s of 24 kHz s16le per audio delta

# The SDK's client event union, validated with its "type" field as the discriminator.
_CLIENT_EVENT_TYPES = get_args(get_args(RealtimeClientEvent)[0])
_CLIENT_EVENTS: TypeAdapter[Any] = TypeAdapter(
    Annotated[Union[_CLIENT_EVENT_TYPES], Field(discriminator="type")]  # noqa: UP007  (a runtime tuple)
)


def _unknown_fields(model: Any, path: str = "") -> list[str]:
    """Fields the SDK models do not declare (its models allow extras; the real API refuses them)."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{path}{name}" for name in (model.model_extra or {})]
        for name in type(model).model_fields:
            found += _unknown_fields(getattr(model, name), f"{path}{name}.")
    elif isinstance(model, list):
        for index, item in enumerate(model):
            found += _unknown_fields(item, f"{path}{index}.")
    return found


def pcm_for(text: str, *, speed: float = 1.0, seconds_per_char: float = 0.025, min_chars: int = 0) -> bytes:
    """The fake's "speech" for a transcript: a tone whose pitch depends on the text.

    As long as the transcript takes to say, or `min_chars` (what was read: "24" takes as long to say
    as "twenty-four"), at `seconds_per_char` (0.025: 40 characters a second, quick but plausible).
    """
    duration = max(0.2, max(len(text), min_chars) * seconds_per_char) / speed
    period = 24 + zlib.crc32(text.encode()) % 96  # samples per cycle: 250 Hz - 1 kHz
    cycle = bytearray()
    for n in range(period):
        # A triangle wave: integer maths, no numpy, exact to predict.
        phase = n / period
        level = 4 * phase - 1 if phase < 0.5 else 3 - 4 * phase
        cycle += int(level * 8_000).to_bytes(2, "little", signed=True)
    samples = int(duration * SAMPLE_RATE)
    return (bytes(cycle) * (samples // period + 1))[: samples * 2]


def chatty_rewording(text: str) -> str:
    """What a chatty voice model says instead of reading."""
    return f"Sure! Here is your text: {text}"


@dataclass
class Connection:
    """One WebSocket session as the fake saw it."""

    model: str
    authorized: bool
    voice: str = "marin"
    speed: float = 1.0
    instructions: str = DEFAULT_INSTRUCTIONS
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    session_updates: list[SessionUpdateEvent] = field(default_factory=list)


@dataclass
class Spoken:
    """One response the fake produced."""

    text: str
    transcript: str
    voice: str
    speed: float
    instructions: str
    conversation: str | None
    metadata: dict[str, str] | None
    pcm: bytes


class FakeRealtimeServer:
    def __init__(
        self,
        *,
        api_key: str = "sk-test",
        models: dict[str, date | None] | None = None,
        today: date = date(2026, 11, 15),
        seconds_per_char: float = 0.025,
    ) -> None:
        self.api_key = api_key
        # Model -> shutdown date (None: no date announced). The SDK's docs announce 2027-01-20
        # for gpt-realtime-mini; OpenAI names gpt-realtime-2.1-mini the tts-1 replacement.
        self.models: dict[str, date | None] = (
            models
            if models is not None
            else {"gpt-realtime-2.1-mini": None, "gpt-realtime-mini": date(2027, 1, 20)}
        )
        self.today = today
        self.seconds_per_char = seconds_per_char
        # OpenAI's pace: the first audio this long after response.create, the rest over this long a character.
        self.first_audio_seconds = 0.0
        self.seconds_per_input_char = 0.0
        self.auth_failure: Literal["event", "handshake"] = "event"
        self.reword_times = 0
        self.rewrite: Callable[[str], str] = chatty_rewording  # what the first `reword_times` responses say
        self.drop_times = 0  # the first n responses lose the connection halfway (no close frame)
        self.stall: Literal["handshake", "response"] | None = None
        self.response_failure: tuple[str, str] | None = None  # (code, type) of a failed response.done
        self.error_code: tuple[str, str] | None = None  # (code, type) of an error event on response.create
        self.interleave = True
        self.event_names: Literal["ga", "beta"] = "ga"  # "beta": Azure's names (response.audio.delta, ...)
        self.silent_times = 0  # the first n responses complete with their transcript but no audio
        self.preamble: str | None = None  # each response first speaks this as a commentary item
        self.max_active_responses: int | None = None  # more at once: an error tied to the response.create
        self.refused_responses = 0
        self.refuse_reasoning = False
        self.azure_api_version: str | None = (
            None  # Azure mode: /openai/realtime?api-version=&deployment=  # a session.update with `reasoning` is refused (a non-reasoning model)
        )

        self.received: list[Any] = []  # every client event, parsed into the SDK's models
        self.connections: list[Connection] = []
        self.spoken: list[Spoken] = []
        self.protocol_errors: list[str] = []
        self.handshakes = 0
        self.max_concurrent_responses = 0
        self._active_responses = 0

        self._ids = itertools.count(1)
        self._responses = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.port = 0

    # -- test-facing API ------------------------------------------------------------------------

    @property
    def reword(self) -> bool:
        return self.reword_times > 0

    @reword.setter
    def reword(self, value: bool) -> None:
        self.reword_times = 1_000_000 if value else 0

    @property
    def http_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def websocket_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def is_live(self, model: str) -> bool:
        if model not in self.models:
            return False
        shutdown = self.models[model]
        return shutdown is None or self.today < shutdown

    def events_of(self, kind: type[BaseModel]) -> list[Any]:
        return [event for event in self.received if isinstance(event, kind)]

    def pcm_for(self, text: str, *, speed: float = 1.0, min_chars: int = 0) -> bytes:
        return pcm_for(text, speed=speed, seconds_per_char=self.seconds_per_char, min_chars=min_chars)

    def start(self) -> FakeRealtimeServer:
        self._thread = threading.Thread(target=self._run, name="fake-realtime", daemon=True)
        self._thread.start()
        if not self._ready.wait(MAX_WAIT_SECONDS) or self._failure is not None:
            raise RuntimeError(f"the fake Realtime server did not start: {self._failure!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have just finished
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(MAX_WAIT_SECONDS)
            if self._thread.is_alive():
                raise RuntimeError("the fake Realtime server did not stop")
        if self._failure is not None:
            raise RuntimeError("the fake Realtime server failed") from self._failure

    def __enter__(self) -> FakeRealtimeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server ---------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()/stop()
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server: Server
        async with serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            max_size=None,
            compression=None,
            close_timeout=1,
            ping_interval=None,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stopping.wait()
            server.close()  # closes open connections (1001), then waits for every handler
            await asyncio.wait_for(server.wait_closed(), MAX_WAIT_SECONDS)

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            self.handshakes += 1
        if self.stall == "handshake":
            # Accept TCP, never answer the upgrade (until the server stops).
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), MAX_WAIT_SECONDS)
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "stalled\n")
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if self.azure_api_version is not None and url.path.rstrip("/") == "/openai/realtime":
            # Azure: the deployment and the API version in the query, the key in `api-key`.
            if query.get("api-version") != [self.azure_api_version] or not query.get("deployment"):
                return _json_response(connection, 404, "Resource not found", "invalid_request_error", "404")
            if not self._authorized(request.headers):
                return _json_response(
                    connection, 401, "Access denied due to invalid subscription key.", "", "401"
                )
            return None
        if url.path.rstrip("/") != "/v1/realtime":
            return _json_response(connection, 404, "Invalid URL", "invalid_request_error", None)
        if not query.get("model"):
            return _json_response(connection, 400, "Missing model", "invalid_request_error", "missing_model")
        if self.auth_failure == "handshake" and not self._authorized(request.headers):
            return _json_response(
                connection, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        return None

    def _authorized(self, headers: Headers) -> bool:
        if self.azure_api_version is not None and "api-key" in headers:
            return headers.get("api-key") == self.api_key
        return headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        model = (query.get("model") or query.get("deployment") or [""])[0]
        state = Connection(model=model, authorized=self._authorized(ws.request.headers))
        with self._lock:
            self.connections.append(state)
        if not state.authorized:
            await self._refuse(ws, "Incorrect API key provided.", "invalid_api_key")
            return
        if not self.is_live(model):
            message = f"The model `{model}` does not exist or you do not have access to it."
            await self._refuse(ws, message, "model_not_found")
            return
        await self._send(
            ws,
            SessionCreatedEvent(
                type="session.created", event_id=self._id("event"), session=self._session(state, model)
            ),
        )
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for raw in ws:
                event = self._parse(raw)
                if event is None:
                    await self._error(ws, "invalid_request_error", "invalid_value", "Invalid client event.")
                elif isinstance(event, SessionUpdateEvent):
                    await self._session_update(ws, state, event)
                elif isinstance(event, ResponseCreateEvent):
                    task = asyncio.create_task(self._respond_counted(ws, state, event))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    if not self.interleave:
                        await task
        except ConnectionClosed:
            pass
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=MAX_WAIT_SECONDS)

    async def _refuse(self, ws: ServerConnection, message: str, code: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._error(ws, "invalid_request_error", code, message)
            await ws.close(3000, f"invalid_request_error.{code}")

    def _parse(self, raw: str | bytes) -> Any | None:
        try:
            event = _CLIENT_EVENTS.validate_json(raw)
        except ValidationError as exc:
            self.protocol_errors.append(f"invalid client event: {exc.errors(include_url=False)}")
            return None
        unknown = _unknown_fields(event)
        if unknown:
            self.protocol_errors.append(f"{event.type}: unknown fields {unknown}")
            return None
        self.received.append(event)
        return event

    async def _session_update(
        self, ws: ServerConnection, state: Connection, event: SessionUpdateEvent
    ) -> None:
        session = event.session
        if not isinstance(session, RealtimeSessionCreateRequest):
            self.protocol_errors.append("session.update: not a realtime session")
            await self._error(ws, "invalid_request_error", "invalid_value", "Expected a realtime session.")
            return
        output = session.audio.output if session.audio else None
        if output is not None:
            if output.format is not None and not isinstance(output.format, AudioPCM):
                self.protocol_errors.append(f"session.update: output format {output.format.type}")
            if output.voice is not None:
                if not isinstance(output.voice, str) or output.voice not in REALTIME_VOICES:
                    # The real API refuses unknown voices (fable, onyx, nova do not exist here).
                    await self._error(
                        ws,
                        "invalid_request_error",
                        "invalid_value",
                        "Invalid value for voice.",
                        param="session.audio.output.voice",
                        event_id=event.event_id,
                    )
                    return
                state.voice = output.voice
            if output.speed is not None:
                if not 0.25 <= output.speed <= 1.5:
                    await self._error(
                        ws,
                        "invalid_request_error",
                        "decimal_above_max_value",
                        "Invalid speed.",
                        param="session.audio.output.speed",
                        event_id=event.event_id,
                    )
                    return
                state.speed = output.speed
        if self.refuse_reasoning and session.reasoning is not None:
            await self._error(
                ws,
                "invalid_request_error",
                "unknown_parameter",
                "Unknown parameter: 'session.reasoning'.",
                param="session.reasoning",
                event_id=event.event_id,
            )
            return
        if session.instructions is not None:
            state.instructions = session.instructions
        if session.output_modalities is not None:
            state.output_modalities = list(session.output_modalities)
        state.session_updates.append(event)
        await self._send(
            ws,
            SessionUpdatedEvent(
                type="session.updated", event_id=self._id("event"), session=self._session(state, state.model)
            ),
        )

    async def _respond_counted(
        self, ws: ServerConnection, state: Connection, event: ResponseCreateEvent
    ) -> None:
        self._active_responses += 1
        self.max_concurrent_responses = max(self.max_concurrent_responses, self._active_responses)
        try:
            await self._respond(ws, state, event)
        finally:
            self._active_responses -= 1

    async def _respond(self, ws: ServerConnection, state: Connection, event: ResponseCreateEvent) -> None:
        asked = _Asked.of(event.response, state)
        text, metadata, out_of_band = asked.text, asked.metadata, asked.out_of_band
        with self._lock:
            number = self._responses
            self._responses += 1
        if self.error_code is not None:
            code, kind = self.error_code
            await self._error(ws, kind, code, "Request failed.", event_id=event.event_id)
            return
        if self.max_active_responses is not None and self._active_responses > self.max_active_responses:
            with self._lock:
                self.refused_responses += 1
            await self._error(
                ws,
                "invalid_request_error",
                "conversation_already_has_active_response",
                "Too many active responses.",
                event_id=event.event_id,
            )
            return
        if self.stall == "response":
            # Say nothing: the client must give up on its own (bounded, ends when the socket does).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), MAX_WAIT_SECONDS)
            return

        transcript = self.rewrite(text) if number < self.reword_times else text
        pcm = self.pcm_for(transcript, speed=state.speed, min_chars=len(text))
        self.spoken.append(
            Spoken(
                text=text,
                transcript=transcript,
                voice=state.voice,
                speed=state.speed,
                instructions=asked.instructions,
                conversation=asked.conversation,
                metadata=metadata,
                pcm=pcm,
            )
        )
        response_id = self._id("resp")
        audio = ResponseAudio(
            output=ResponseAudioOutput(format=AudioPCM(type="audio/pcm", rate=24000), voice=state.voice)
        )

        def response(status: Any, output: list[Any], details: RealtimeResponseStatus | None = None) -> Any:
            return RealtimeResponse(
                id=response_id,
                object="realtime.response",
                status=status,
                status_details=details,
                output=output,
                output_modalities=["audio"],
                metadata=metadata,
                audio=audio,
                conversation_id=None if out_of_band else "conv_fake",
                max_output_tokens="inf",
            )

        await self._send(
            ws,
            ResponseCreatedEvent(
                type="response.created", event_id=self._id("event"), response=response("in_progress", [])
            ),
        )
        await self._send(ws, _rate_limits(self._id("event")))  # the real service interleaves these
        if self.response_failure is not None:
            code, kind = self.response_failure
            details = RealtimeResponseStatus(
                type="failed", error=StatusError(code=code, type=kind, message="The response failed.")
            )
            await self._send(
                ws,
                ResponseDoneEvent(
                    type="response.done", event_id=self._id("event"), response=response("failed", [], details)
                ),
            )
            return
        items = []
        if self.preamble is not None:  # a reasoning model's "One moment...", as its own item
            preamble_pcm = self.pcm_for(self.preamble, speed=state.speed)
            items.append(
                await self._speak_item(ws, response_id, 0, self.preamble, preamble_pcm, phase="commentary")
            )
        silent = number < self.silent_times
        spoken = await self._speak_item(
            ws,
            response_id,
            len(items),
            transcript,
            b"" if silent else pcm,
            phase="final_answer" if self.preamble is not None else None,
            drop=number < self.drop_times,
        )
        if spoken is None:
            return  # the connection was dropped halfway
        items.append(spoken)
        await self._send(
            ws,
            ResponseDoneEvent(
                type="response.done", event_id=self._id("event"), response=response("completed", items)
            ),
        )

    async def _speak_item(
        self,
        ws: ServerConnection,
        response_id: str,
        output_index: int,
        transcript: str,
        pcm: bytes,
        *,
        phase: str | None,
        drop: bool = False,
    ) -> Any:
        """One assistant message item: its events from added to done; None when dropped halfway."""
        item_id = self._id("item")
        extra = {"phase": phase} if phase is not None else {}  # Azure's realtime-2 field, not in the SDK yet

        def item(status: Any, content: list[AssistantContent]) -> RealtimeConversationItemAssistantMessage:
            return RealtimeConversationItemAssistantMessage(
                id=item_id,
                type="message",
                role="assistant",
                object="realtime.item",
                status=status,
                content=content,
                **extra,
            )

        where = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": output_index,
            "content_index": 0,
        }
        await self._send(
            ws,
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                event_id=self._id("event"),
                response_id=response_id,
                output_index=output_index,
                item=item("in_progress", []),
            ),
        )
        await self._send(
            ws,
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                event_id=self._id("event"),
                part=AddedPart(type="audio", transcript=""),
                **where,
            ),
        )
        if not await self._stream_deltas(ws, where, transcript, pcm, drop=drop):
            return None
        await self._send(
            ws, ResponseAudioDoneEvent(type="response.output_audio.done", event_id=self._id("event"), **where)
        )
        await self._send(
            ws,
            ResponseAudioTranscriptDoneEvent(
                type="response.output_audio_transcript.done",
                event_id=self._id("event"),
                transcript=transcript,
                **where,
            ),
        )
        await self._send(
            ws,
            ResponseContentPartDoneEvent(
                type="response.content_part.done",
                event_id=self._id("event"),
                part=DonePart(type="audio", transcript=transcript),
                **where,
            ),
        )
        done_item = item("completed", [AssistantContent(type="output_audio", transcript=transcript)])
        await self._send(
            ws,
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                event_id=self._id("event"),
                response_id=response_id,
                output_index=output_index,
                item=done_item,
            ),
        )
        return done_item

    async def _stream_deltas(
        self,
        ws: ServerConnection,
        where: dict[str, Any],
        transcript: str,
        pcm: bytes,
        *,
        drop: bool,
    ) -> bool:
        """Transcript and audio deltas, interleaved, at the fake's pace; False when the connection was dropped halfway."""
        words = _words(transcript)
        frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
        steps = max(len(frames), len(words))
        reading = self.seconds_per_input_char * len(transcript)  # what is said: the text, unless reworded
        await asyncio.sleep(self.first_audio_seconds)
        for index in range(steps):
            if index and reading:
                await asyncio.sleep(reading / max(steps - 1, 1))
            if drop and index >= max(len(frames), len(words)) // 2:
                assert ws.transport is not None
                ws.transport.abort()  # lost connection: no close frame
                return False
            if index < len(words):
                await self._send(
                    ws,
                    ResponseAudioTranscriptDeltaEvent(
                        type="response.output_audio_transcript.delta",
                        event_id=self._id("event"),
                        delta=words[index],
                        **where,
                    ),
                )
            if index < len(frames):
                await self._send(
                    ws,
                    ResponseAudioDeltaEvent(
                        type="response.output_audio.delta",
                        event_id=self._id("event"),
                        delta=base64.b64encode(frames[index]).decode(),
                        **where,
                    ),
                )
            await asyncio.sleep(0)  # let concurrent responses interleave
        return True

    def _session(self, state: Connection, model: str) -> RealtimeSessionCreateRequest:
        return RealtimeSessionCreateRequest(
            type="realtime",
            model=model,
            instructions=state.instructions,
            output_modalities=state.output_modalities,
            audio=RealtimeAudioConfig(
                output=RealtimeAudioConfigOutput(
                    format=AudioPCM(type="audio/pcm", rate=24000), voice=state.voice, speed=state.speed
                )
            ),
        )

    async def _error(
        self,
        ws: ServerConnection,
        kind: str,
        code: str,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        await self._send(
            ws,
            RealtimeErrorEvent(
                type="error",
                event_id=self._id("event"),
                error=RealtimeError(type=kind, code=code, message=message, param=param, event_id=event_id),
            ),
        )

    async def _send(self, ws: ServerConnection, event: BaseModel) -> None:
        data = event.model_dump(mode="json", exclude_none=True)
        if self.event_names == "beta":
            data["type"] = _BETA_NAMES.get(data["type"], data["type"])
        await ws.send(json.dumps(data))

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"


def _json_response(
    connection: ServerConnection, status: int, message: str, kind: str, code: str | None
) -> Response:
    body = {"error": {"message": message, "type": kind, "code": code, "param": None}}
    response = connection.respond(http.HTTPStatus(status), "")
    response.body = json.dumps(body).encode()
    # websockets' Headers append on assignment: replace, do not duplicate.
    del response.headers["Content-Type"], response.headers["Content-Length"]
    response.headers["Content-Type"] = "application/json"
    response.headers["Content-Length"] = str(len(response.body))
    return response


def _words(text: str) -> list[str]:
    """Transcript deltas: words with their trailing space, as the real API streams them."""
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + words[-1:]


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakeRealtimeServer]:
    fake = FakeRealtimeServer(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


@dataclass(frozen=True)
class _Asked:
    """What a response.create asked for, with the session's values where it names none."""

    text: str
    metadata: dict[str, str] | None
    instructions: str | None
    conversation: str | None
    out_of_band: bool

    @classmethod
    def of(cls, params: Any, state: Connection) -> _Asked:
        if params is None:
            return cls(
                text="", metadata=None, instructions=state.instructions, conversation=None, out_of_band=False
            )
        text = " ".join(
            part.text or ""
            for item in params.input or []
            if getattr(item, "role", None) == "user"
            for part in getattr(item, "content", [])
            if part.type == "input_text"
        )
        return cls(
            text=text,
            metadata=dict(params.metadata) if params.metadata else None,
            instructions=params.instructions or state.instructions,
            conversation=params.conversation,
            out_of_band=params.conversation == "none",
        )


# GA event name -> the beta name Azure's realtime service still sends.
_BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}


def _rate_limits(event_id: str) -> RateLimitsUpdatedEvent:
    return RateLimitsUpdatedEvent(
        type="rate_limits.updated",
        event_id=event_id,
        rate_limits=[
            RateLimit(name="requests", limit=1000, remaining=999, reset_seconds=0.06),
            RateLimit(name="tokens", limit=50000, remaining=49000, reset_seconds=1.2),
        ],
    )
