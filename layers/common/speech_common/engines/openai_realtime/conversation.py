"""One Realtime session's exchange: session.update, then out-of-band responses until every chunk is read.

Each chunk of the text is one out-of-band response (`conversation: "none"`, the chunk as its only input
item), up to the plan's `max_parallel` at a time. What a response says is checked against its chunk
(the verbatim check, and audio long enough to say it); an answer that fails is asked for once more.

Client events sent: session.update, response.create.
Server events used: session.created, session.updated, error, response.created,
response.output_audio.delta, response.output_audio_transcript.delta/.done, response.done
(everything else is ignored).
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NoReturn, cast

from speech_common.engines.openai_realtime.failures import failure_of, short_code, warn
from speech_common.engines.openai_realtime.verbatim import same_words
from speech_common.engines.pcm import BYTES_PER_SAMPLE
from speech_common.engines.retry import RetryBudget
from speech_common.error_codes import ErrorCode
from speech_common.errors import UpstreamFailure

if TYPE_CHECKING:
    from openai.resources.realtime.realtime import RealtimeConnection
    from openai.types.realtime.realtime_response import RealtimeResponse
    from openai.types.realtime.realtime_server_event import RealtimeServerEvent
    from openai.types.realtime.session_update_event_param import Session

SAMPLE_RATE: Final = 24_000  # the Realtime API's only PCM rate
# The model is asked once more after a reworded answer; a second rewording fails the request.
MAX_VERBATIM_ATTEMPTS: Final = 2
# Faster than anyone speaks (about 15 characters a second is usual): shorter audio was cut or is silence.
MAX_CHARS_PER_SECOND: Final = 50.0


# One request's work, kept across sessions (a reconnect redoes only unfinished chunks)


@dataclass
class Chunk:
    index: int
    text: str
    failed_takes: int = 0  # answers that were reworded, silent or too short
    pcm: bytes | None = None


@dataclass
class _Part:
    """One content part of one output item: its audio and its transcript."""

    audio: list[bytes] = field(default_factory=list)
    transcript_parts: list[str] = field(default_factory=list)
    transcript: str | None = None

    def spoken_text(self) -> str:
        return self.transcript if self.transcript is not None else "".join(self.transcript_parts)


@dataclass
class _Take:
    """What one response produced so far, per output item and content part (in arrival order)."""

    chunk: int | None = None
    parts: dict[tuple[str, int], _Part] = field(default_factory=dict)

    def part(self, event: object) -> _Part:
        key = (str(getattr(event, "item_id", "") or ""), int(getattr(event, "content_index", 0) or 0))
        return self.parts.setdefault(key, _Part())

    def spoken(self, response: RealtimeResponse) -> tuple[str, bytes]:
        """Transcript and audio of what was said for the text: commentary (preamble) items left out."""
        output = response.output or []
        commentary = {
            getattr(item, "id", None) for item in output if getattr(item, "phase", None) == "commentary"
        }
        kept = [part for (item_id, _), part in self.parts.items() if item_id not in commentary]
        transcript = " ".join(filter(None, (part.spoken_text().strip() for part in kept)))
        if not transcript:  # last resort: response.done lists the output items with their transcripts
            transcript = " ".join(
                part.transcript or ""
                for item in output
                if getattr(item, "id", None) not in commentary
                for part in getattr(item, "content", None) or []
                if getattr(part, "transcript", None)
            )
        return transcript, b"".join(chunk for part in kept for chunk in part.audio)


# GA event names, and the beta names that Azure's realtime service still sends.
_AUDIO_DELTA: Final = frozenset({"response.output_audio.delta", "response.audio.delta"})
_TRANSCRIPT_DELTA: Final = frozenset(
    {"response.output_audio_transcript.delta", "response.audio_transcript.delta"}
)
_TRANSCRIPT_DONE: Final = frozenset(
    {"response.output_audio_transcript.done", "response.audio_transcript.done"}
)


def plausible_audio(text: str, pcm: bytes, speed: float) -> bool:
    """Whether `pcm` is long enough to say `text` at `speed` (silence or a clipped answer is not)."""
    seconds = len(pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE
    return seconds > 0 and seconds * MAX_CHARS_PER_SECOND * speed >= len(text)


class Conversation:
    """Drives one session: session.update, then out-of-band responses until every chunk is read.

    An error event tied to one of our response.create events leaves the session usable: that chunk
    goes back in the queue and the session asks for fewer responses at once (the service refused
    one more), within the request's retry budget. Any other error event ends the session.
    """

    def __init__(self, connection: RealtimeConnection, chunks: list[Chunk], plan: SessionPlan) -> None:
        self._connection = connection
        self._chunks = chunks
        self._plan = plan
        self._max_parallel = max(plan.max_parallel, 1)
        self._pending: deque[Chunk] = deque(chunk for chunk in chunks if chunk.pcm is None)
        self._in_flight: set[int] = set()
        self._unbound: deque[int] = deque()  # sent, response.created not seen yet
        self._event_chunks: dict[str, int] = {}  # our response.create event ids -> chunk
        self._takes: dict[str, _Take] = {}
        self._sent = 0

    def run(self) -> None:
        self._await("session.created")
        self._update_session()
        self._fill()
        while self._pending or self._in_flight:
            self._handle(self._connection.recv())

    def _await(self, kind: str, *, event_id: str | None = None) -> None:
        """Events until `kind`; an error before it ends the session (a bad key, model or session)."""
        while True:
            event = self._connection.recv()
            seen = getattr(event, "type", None)  # an event type newer than the SDK has no model
            if seen == kind:
                return
            if seen == "error":
                error = getattr(event, "error", None)
                if event_id is not None and getattr(error, "event_id", None) == event_id:
                    raise _SessionRefused(str(getattr(error, "param", "") or ""), event)
                self._raise_error(event)

    def _update_session(self) -> None:
        """session.update, and its answer before any response (so every response reads as told).

        A model that refuses the reasoning setting gets the session without it.
        """
        session = self._plan.session
        try:
            self._connection.session.update(session=session, event_id="tts_session")
            self._await("session.updated", event_id="tts_session")
        except _SessionRefused as refused:
            if "reasoning" not in refused.param or "reasoning" not in session:
                self._raise_error(refused.event)
            self._plan.reasoning_refused()
            without = cast("Session", {k: v for k, v in session.items() if k != "reasoning"})
            self._connection.session.update(session=without, event_id="tts_session_2")
            self._await("session.updated")

    def _fill(self) -> None:
        while self._pending and len(self._in_flight) < self._max_parallel:
            chunk = self._pending.popleft()
            self._sent += 1
            event_id = f"tts_{chunk.index}_{self._sent}"
            self._in_flight.add(chunk.index)
            self._unbound.append(chunk.index)
            self._event_chunks[event_id] = chunk.index
            self._connection.response.create(
                event_id=event_id,
                response={
                    "conversation": "none",  # out of band: nothing accumulates between chunks
                    "output_modalities": ["audio"],
                    "metadata": {"chunk": str(chunk.index)},
                    "input": [
                        {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": chunk.text}],
                        }
                    ],
                },
            )

    def _handle(self, event: RealtimeServerEvent) -> None:
        kind = getattr(event, "type", None)
        if kind == "error":
            self._on_error(event)
        elif kind == "response.created":
            self._bind(event.response)  # type: ignore[union-attr]
        elif kind in _AUDIO_DELTA:
            self._take(event).part(event).audio.append(base64.b64decode(getattr(event, "delta", "") or ""))
        elif kind in _TRANSCRIPT_DELTA:
            self._take(event).part(event).transcript_parts.append(str(getattr(event, "delta", "") or ""))
        elif kind in _TRANSCRIPT_DONE:
            self._take(event).part(event).transcript = str(getattr(event, "transcript", "") or "")
        elif kind == "response.done":
            self._finish(event.response)  # type: ignore[union-attr]

    def _take(self, event: object) -> _Take:
        return self._takes.setdefault(str(getattr(event, "response_id", "") or ""), _Take())

    def _on_error(self, event: RealtimeServerEvent) -> None:
        error = getattr(event, "error", None)
        index = self._event_chunks.get(str(getattr(error, "event_id", "") or ""))
        if index is None or index not in self._in_flight:
            self._raise_error(event)
        if not self._plan.budget.take():
            self._raise_error(event)
        # The service refused this one response (too many at once, a rate limit): ask again, fewer at once.
        warn(
            "realtime response refused; asking again",
            chunk=index,
            code=short_code(getattr(error, "code", None)),
        )
        self._in_flight.discard(index)
        with suppress(ValueError):
            self._unbound.remove(index)
        self._max_parallel = max(1, len(self._in_flight))
        self._pending.appendleft(self._chunks[index])
        self._fill()

    def _bind(self, response: RealtimeResponse) -> None:
        """Which chunk a response reads: our metadata, else the order responses were asked for."""
        take = self._takes.setdefault(response.id or "", _Take())
        index = self._chunk_index(response)
        if index is not None and index in self._unbound:
            self._unbound.remove(index)
        elif self._unbound:
            index = self._unbound.popleft()
        take.chunk = index

    @staticmethod
    def _chunk_index(response: RealtimeResponse) -> int | None:
        metadata = response.metadata or {}
        value = metadata.get("chunk") if isinstance(metadata, dict) else None
        return int(value) if isinstance(value, str) and value.isdigit() else None

    def _finish(self, response: RealtimeResponse) -> None:
        take = self._takes.pop(response.id or "", None) or _Take()
        index = take.chunk if take.chunk is not None else self._chunk_index(response)
        if index is None or index not in self._in_flight:
            return  # not one of ours (or already settled)
        self._in_flight.discard(index)
        if response.status != "completed":
            raise self._response_failure(response)
        chunk = self._chunks[index]
        transcript, pcm = take.spoken(response)
        if not same_words(chunk.text, transcript):
            self._failed_take(
                chunk, "realtime transcript differs from the text", UpstreamFailure.VERBATIM_MISMATCH
            )
        elif not plausible_audio(chunk.text, pcm, self._plan.speed):
            self._failed_take(chunk, "realtime audio is missing or too short", UpstreamFailure.ERROR)
        else:
            chunk.pcm = pcm
        self._fill()

    def _failed_take(self, chunk: Chunk, what: str, code: ErrorCode) -> None:
        """A completed answer that cannot be used: asked for once more, then the request fails."""
        chunk.failed_takes += 1
        warn(what, chunk=chunk.index, attempt=chunk.failed_takes, chars=len(chunk.text))  # lengths only
        if chunk.failed_takes >= MAX_VERBATIM_ATTEMPTS:
            raise UpstreamFailure(code, f"{what} ({chunk.failed_takes} attempts)")
        self._pending.appendleft(chunk)

    @staticmethod
    def _response_failure(response: RealtimeResponse) -> UpstreamFailure:
        details = response.status_details
        error = details.error if details else None
        if response.status == "failed" and error is not None:
            return failure_of(error.code, error.type, "the response failed")
        reason = details.reason if details else None
        return UpstreamFailure(
            UpstreamFailure.ERROR, f"the realtime response ended {response.status} ({short_code(reason)})"
        )

    @staticmethod
    def _raise_error(event: object) -> NoReturn:
        error = getattr(event, "error", None)
        raise failure_of(getattr(error, "code", None), getattr(error, "type", None), "answered with an error")


class _SessionRefused(Exception):
    """The service refused our session.update (`param` names the field)."""

    def __init__(self, param: str, event: object) -> None:
        super().__init__(param)
        self.param = param
        self.event = event


@dataclass
class SessionPlan:
    """What every session of one request uses, and what the request learns across sessions."""

    session: Session
    speed: float  # the speed the upstream applies (for the audio length check)
    max_parallel: int
    budget: RetryBudget
    reasoning_refused: Callable[[], None]
