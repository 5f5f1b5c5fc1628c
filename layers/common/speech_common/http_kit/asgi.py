"""Placeholder: the streaming function's ASGI app (replaced by the Lambda Web Adapter work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def asgi_app(handler: Callable[[dict, Any], dict]) -> Callable[..., Any]:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        raise NotImplementedError("the ASGI adapter is not written yet")

    return app
