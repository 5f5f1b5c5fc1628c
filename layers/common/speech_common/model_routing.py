"""Model routing: each public model is served by an ordered chain of (engine, upstream model).

Configured per deployment as "public=engine:upstream,engine:upstream;public=...", e.g.
    tts-1=openai:tts-1,openai-realtime:gpt-realtime-2.1-mini;tts-1-hd=openai:tts-1-hd,...
and parsed when the settings are read (a malformed chain is a start-up error). When an upstream
answers that a model does not exist or is retired, the chain moves on to the next entry and skips
that entry for the rest of the container's life. When it cannot serve one request's voice, the
chain moves on for that request only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from speech_common.errors import UpstreamFailure


@dataclass(frozen=True)
class Route:
    engine: str
    upstream_model: str

    def __str__(self) -> str:
        return f"{self.engine}:{self.upstream_model}"


type RouteTable = dict[str, tuple[Route, ...]]


class RouteConfigError(ValueError):
    """The route configuration cannot be parsed (a deployment mistake, not a client one)."""


def parse_routes(spec: str) -> RouteTable:
    routes: RouteTable = {}
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        public, sep, chain = entry.partition("=")
        if not sep or not public.strip():
            raise RouteConfigError(f"route entry {entry!r} is not 'model=engine:upstream,...'")
        steps = []
        for step in filter(None, (part.strip() for part in chain.split(","))):
            engine, sep, upstream = step.partition(":")
            if not sep or not engine.strip() or not upstream.strip():
                raise RouteConfigError(f"route step {step!r} is not 'engine:upstream_model'")
            steps.append(Route(engine.strip(), upstream.strip()))
        if not steps:
            raise RouteConfigError(f"model {public.strip()!r} has an empty route")
        if public.strip() in routes:
            raise RouteConfigError(f"model {public.strip()!r} has two routes")
        routes[public.strip()] = tuple(steps)
    return routes


_unavailable: set[Route] = set()
_unavailable_lock = threading.Lock()


def mark_unavailable(route: Route) -> None:
    with _unavailable_lock:
        _unavailable.add(route)


def forget_unavailable() -> None:
    """A new container starts with nothing remembered (tests start each one so)."""
    with _unavailable_lock:
        _unavailable.clear()


def live_routes(chain: tuple[Route, ...]) -> tuple[Route, ...]:
    with _unavailable_lock:
        return tuple(route for route in chain if route not in _unavailable)


def run_chain[T](chain: tuple[Route, ...], call: Callable[[Route], T]) -> tuple[T, Route]:
    """Call each live route in order until one serves; returns the result and the route used."""
    last_failure: UpstreamFailure | None = None
    for route in live_routes(chain):
        try:
            return call(route), route
        except UpstreamFailure as failure:
            if failure.code == UpstreamFailure.MODEL_UNAVAILABLE:
                mark_unavailable(route)
            elif failure.code != UpstreamFailure.VOICE_UNAVAILABLE:
                raise
            last_failure = failure
    raise last_failure or UpstreamFailure(
        UpstreamFailure.MODEL_UNAVAILABLE, "every upstream model of this route is unavailable"
    )
