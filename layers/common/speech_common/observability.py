"""Logger, Metrics and Tracer for the whole layer. Never log request text, audio bytes or secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

from speech_common.parallel import built_once

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()

# At DEBUG these libraries log request bodies and headers (the text, the API key): never below INFO.
for _library in (
    "aws_lambda_powertools.event_handler",
    "openai",
    "httpx2",
    "httpcore2",
    "botocore",
    "websockets",
    "aws_xray_sdk",
):
    logging.getLogger(_library).setLevel(logging.INFO)


@built_once()
def tracer() -> Tracer:
    """Powertools' Tracer, built on the first upstream call.

    The X-Ray SDK loads botocore when imported (about 0.5 s of CPU): a cold start that answers a
    400 should not pay for it. With `Tracing: Active`, Lambda records each invocation itself; this
    adds what it cannot see, the upstream calls. Nothing is patched (auto_patch=False): the calls
    we make are traced by name, and no request data is ever attached to a trace.
    """
    from aws_lambda_powertools import Tracer

    return Tracer(auto_patch=False)


@contextmanager
def upstream_subsegment(engine: str, upstream_model: str) -> Iterator[None]:
    """An X-Ray subsegment around one upstream route attempt (a no-op where tracing is disabled)."""
    with tracer().provider.in_subsegment(f"## {engine}:{upstream_model}") as subsegment:
        subsegment.put_annotation("engine", engine)
        subsegment.put_annotation("upstream_model", upstream_model)
        yield
