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


def upstream_calls_traced() -> bool:
    """Whether upstream route attempts become X-Ray subsegments (TRACE_UPSTREAM_CALLS, settings; off by default).

    Off, nothing imports the X-Ray SDK (in maintenance mode since February 2026): on Lambda it costs a
    cold start about 40 ms of CPU, and about 0.3 s where no LAMBDA_TASK_ROOT is set (its sampler then
    loads botocore's session). Lambda's own active tracing (`Tracing: Active`) still records every
    invocation, its Init and its duration without any SDK.
    """
    from speech_common.settings import get_settings  # here: the authorizer logs without reading settings

    return get_settings().trace_upstream_calls


@built_once()
def tracer() -> Tracer:
    """Powertools' Tracer, built on the first traced upstream call.

    With `Tracing: Active`, Lambda records each invocation itself; this adds what it cannot see, the
    upstream calls. Nothing is patched (auto_patch=False): the calls we make are traced by name, and no
    request data is ever attached to a trace.
    """
    from aws_lambda_powertools import Tracer

    return Tracer(auto_patch=False)


def prepare_tracing() -> None:
    """Build the Tracer now (before a SnapStart snapshot) when upstream calls are traced."""
    if upstream_calls_traced():
        tracer()


@contextmanager
def upstream_subsegment(engine: str, upstream_model: str) -> Iterator[None]:
    """An X-Ray subsegment around one upstream route attempt; nothing unless upstream calls are traced."""
    if not upstream_calls_traced():
        yield
        return
    with tracer().provider.in_subsegment(f"## {engine}:{upstream_model}") as subsegment:
        subsegment.put_annotation("engine", engine)
        subsegment.put_annotation("upstream_model", upstream_model)
        yield
