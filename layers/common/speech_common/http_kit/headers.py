"""The header names the API sets on its answers and takes on requests (CORS lists them for pages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from speech_common.model_routing import Route

SERVED_BY = "X-Speech-Engine"  # the route entry (engine:upstream model) that served the answer
CACHE = "X-Speech-Cache"  # hit or miss, when the speech cache is on
RETRY_AFTER = "Retry-After"
# What a page may send (besides the simple headers) and read.
REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Api-Key")
EXPOSED_HEADERS = (SERVED_BY, CACHE, RETRY_AFTER)


def served_headers(route: Route, cache: str | None = None) -> dict[str, str]:
    """What served the answer (and, for speech, whether the speech cache had it)."""
    served = {SERVED_BY: str(route)}
    if cache is not None:
        served[CACHE] = cache
    return served
