"""SnapStart runtime hooks (template parameter SnapStart=true): the first request's set-up, done once before the snapshot.

With SnapStart, Lambda runs a function's Init when a version is published, snapshots the
execution environment, and starts every new environment from that snapshot. `before_snapshot`
therefore does what a first request would otherwise pay for: it reads the key (one Secrets Manager
call; the snapshot is encrypted by Lambda), builds the engine of each route's first entry and what
it calls OpenAI with (for the `openai` engine the HTTP client, httpx2, with its TLS context; for
`openai-realtime` the OpenAI SDK's client) and, when upstream calls are traced, the Tracer (the
X-Ray SDK). It sends nothing upstream, so the snapshot holds no connection to OpenAI.

Every restored copy starts from the same memory. `after_restore` redoes what must not be shared:
Python's random generator is seeded again (retry jitter would otherwise be the same in every copy,
so that their retries would arrive together), and connections pooled before the snapshot (the
Secrets Manager client's) are closed, to be opened anew by whoever needs them.

`register_hooks(kind)` is called by each handler at import. The hooks' registry is Lambda's
`snapshot_restore_py`, which the python3.12+ runtimes provide; elsewhere nothing is registered.
A hook never fails the snapshot: what it could not prepare is prepared by the first request.
"""

from __future__ import annotations

import random
from typing import Literal

from speech_common.observability import logger

Kind = Literal["stt", "tts"]


def register_hooks(kind: Kind) -> bool:
    """Register the hooks of a function serving `kind`; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, kind)
    register_after_restore(after_restore)
    return True


def before_snapshot(kind: Kind) -> None:
    try:
        _prepare(kind)
    except Exception:  # the snapshot goes ahead; the first request does what was left undone
        logger.exception("SnapStart: preparing before the snapshot failed")


def _prepare(kind: Kind) -> None:
    from speech_common.observability import prepare_tracing
    from speech_common.settings import get_settings

    settings = get_settings()
    prepare_tracing()
    table = settings.stt_model_routes if kind == "stt" else settings.tts_model_routes
    engines = {chain[0].engine for chain in table.values() if chain}
    for engine in sorted(engines):
        _build_engine(kind, engine)
    if "openai" in engines:
        _build_openai_clients(sdk=False)
    if "openai-realtime" in engines:
        _build_openai_clients(sdk=True)


def _build_engine(kind: Kind, engine: str) -> None:
    from speech_common.engines import stt_engine, tts_engine
    from speech_common.settings import get_settings

    (stt_engine if kind == "stt" else tts_engine)(engine, get_settings())


def _build_openai_clients(*, sdk: bool) -> None:
    """The key read and the HTTP client built (or the SDK imported and its client built), as the first
    upstream call would; no request is sent."""
    from speech_common.engines.openai_client import get_openai_client, http_client
    from speech_common.errors import UpstreamFailure
    from speech_common.secrets import openai_api_key
    from speech_common.settings import get_settings

    try:
        openai_api_key(get_settings())
    except UpstreamFailure as failure:  # no key, or the secret unreadable: the first request will say so
        logger.warning("SnapStart: no OpenAI client before the snapshot", extra={"reason": failure.message})
        return
    if not sdk:
        http_client()
        return
    client = get_openai_client(get_settings())
    # The realtime resource is built on first access (and imports its modules).
    _ = client.realtime


def after_restore() -> None:
    random.seed()  # from os.urandom: each restored copy its own sequence
    from speech_common import secrets

    if secrets.secrets_provider.cache_info().currsize:
        secrets.secrets_provider().client.close()  # botocore drops its pooled connections
