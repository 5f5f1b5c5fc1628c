"""Answers whose body is sent as it is made: a route hands its body over, the streaming function sends it.

A route that streams returns its status and headers as usual (a Powertools Response with an empty body) and hands
the body over here; the streaming function's ASGI app takes it after the resolver returns and sends each chunk as
it comes. Errors found before the first chunk are ordinary answers (the route raises before handing anything over).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

_handed_over: ContextVar[Iterator[bytes] | None] = ContextVar("streamed_body", default=None)

SSE_CONTENT_TYPE = "text/event-stream"
# What an OpenAPI 3.1 document says of a text/event-stream answer: one event (schemathesis reads a stream's `schema`
# so before 3.2, as 3.2's `itemSchema` says it), its data one JSON object (OpenAI's event: its type, then its fields).
SSE_EVENT_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "data": {"type": "string", "description": "one JSON object: the event's type and fields"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


def hand_over(chunks: Iterator[bytes]) -> None:
    """The body of the answer being made: sent chunk by chunk once the route returns."""
    _handed_over.set(chunks)


def take_handed_over() -> Iterator[bytes] | None:
    """The body a route handed over in this thread's request (then forgotten), or None: the answer is whole."""
    chunks = _handed_over.get()
    _handed_over.set(None)
    return chunks


def sse_event(data: Mapping[str, Any]) -> bytes:
    """One server-sent event whose data is `data` as JSON (one line: JSON escapes newlines)."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
