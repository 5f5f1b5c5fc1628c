"""Model routing: each public model is served by an ordered chain of (engine, upstream model).

Configured per deployment as "public=engine:upstream,engine:upstream;public=...", e.g.
    tts-1=openai:tts-1,openai-realtime:gpt-realtime-2.1-mini;tts-1-hd=openai:tts-1-hd,...
and parsed when the settings are read (a malformed chain is a start-up error).

An entry whose upstream model is past its known shutdown date (MODEL_SHUTDOWN_DATES) is skipped
without a call. When an upstream answers that a model does not exist or is retired before that,
the chain moves on and skips the entry for a while (MODEL_GONE_RETRY_SECONDS), after which one
request tries it again: OpenAI gives the same answer for "no access to this model", which an owner
can fix. The last entry is always tried. When an upstream cannot serve one request's voice, the
chain moves on for that request only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

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


@dataclass(frozen=True)
class RoutePolicy:
    """What the chain knows of upstream models: their known shutdown dates, and how long to skip one
    that answered "gone" before its date (it may be a permission problem an owner fixes, or a blip)."""

    shutdown_dates: Mapping[str, date] = field(default_factory=dict)  # upstream model -> first day gone
    gone_skip_seconds: float = 600.0


def utc_today() -> date:
    return datetime.now(UTC).date()


class SkippedRoutes:
    """The routes that answered "model gone" before their shutdown date, and until when each is skipped.

    Like functools.lru_cache, `cache_clear()` forgets them all (as a new container starts).
    """

    def __init__(self) -> None:
        self._until: dict[Route, float] = {}  # route -> monotonic time until which it is skipped
        self._lock = threading.Lock()

    def skip_now(self, route: Route, policy: RoutePolicy, now: float) -> bool:
        """Whether to skip a route that answered "gone"; once its time is up, one request claims the retry."""
        with self._lock:
            until = self._until.get(route)
            if until is None:
                return False
            if until > now:
                return True
            self._until[route] = now + policy.gone_skip_seconds  # the others keep skipping meanwhile
            return False

    def gone(self, route: Route, policy: RoutePolicy) -> None:
        with self._lock:
            self._until[route] = time.monotonic() + policy.gone_skip_seconds

    def answered(self, route: Route) -> None:
        with self._lock:
            self._until.pop(route, None)  # it answered: it is back

    def cache_clear(self) -> None:
        with self._lock:
            self._until.clear()


skipped_routes = SkippedRoutes()


def is_retired(route: Route, policy: RoutePolicy, today: date) -> bool:
    gone_from = policy.shutdown_dates.get(route.upstream_model)
    return gone_from is not None and today >= gone_from


def routes_to_try(chain: tuple[Route, ...], policy: RoutePolicy) -> tuple[Route, ...]:
    """The entries this request tries, in order (claiming the retry of a skipped entry whose time
    is up). The last one is always tried: remembered state alone never fails a request."""
    today, now = utc_today(), time.monotonic()
    *head, last = chain
    live = (
        r for r in head if not is_retired(r, policy, today) and not skipped_routes.skip_now(r, policy, now)
    )
    return (*live, last)


def run_chain[T](
    chain: tuple[Route, ...], call: Callable[[Route], T], policy: RoutePolicy
) -> tuple[T, Route]:
    """Call each live route in order until one serves; returns the result and the route used."""
    last_failure: UpstreamFailure | None = None
    for route in routes_to_try(chain, policy):
        try:
            result = call(route)
        except UpstreamFailure as failure:
            if failure.code == UpstreamFailure.MODEL_UNAVAILABLE:
                skipped_routes.gone(route, policy)
            elif failure.code != UpstreamFailure.VOICE_UNAVAILABLE:
                raise
            last_failure = failure
            continue
        skipped_routes.answered(route)
        return result, route
    assert last_failure is not None  # the chain is never empty: its last entry is always tried
    raise last_failure
