"""Identical speech requests served from the bucket: no second upstream call, no second bill.

The key is a hash of what makes the audio (text, voice, format, speed), of the upstream that
made it (engine and upstream model), so a route that changes (tts-1 served by the realtime model
from 2027-01-06) never serves the old upstream's audio as the new one's, and of its owner (the
caller): one API key never reads another's entries, so neither a hit nor its speed tells one key
what another had read. The text is in neither the key nor a log. Entries live under cache/, expired
by the bucket's lifecycle rule. A cache that cannot be read or written is a miss, never a failed
request.
"""

from __future__ import annotations

import hashlib
import json

from speech_common.engines.base import SpeechRequest
from speech_common.model_routing import Route
from speech_common.observability import logger
from speech_common.settings import Settings

CACHE_PREFIX = "cache/"


def cache_key(request: SpeechRequest, route: Route, owner: str) -> str:
    identity = [
        owner,
        request.text,
        request.voice,
        request.response_format,
        round(request.speed, 4),
        str(route),
    ]
    digest = hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()
    return f"{CACHE_PREFIX}{digest}.{request.response_format}"


def enabled(settings: Settings) -> bool:
    return settings.tts_cache and bool(settings.speech_bucket)


def cached_audio(settings: Settings, key: str) -> bytes | None:
    from speech_common.storage import s3_client, s3_error_code

    try:
        data: bytes = s3_client().get_object(Bucket=settings.speech_bucket, Key=key)["Body"].read()
    except Exception as exc:  # a miss, or S3 unreachable: a miss either way
        if s3_error_code(exc) not in ("NoSuchKey", "404", "AccessDenied", "403"):
            logger.warning("speech cache unreadable", extra={"error_type": type(exc).__name__})
        return None
    return data or None


def keep(settings: Settings, key: str, audio: bytes) -> None:
    from speech_common.storage import s3_client

    try:
        s3_client().put_object(Bucket=settings.speech_bucket, Key=key, Body=audio)
    except Exception as exc:  # the answer is served anyway
        logger.warning("speech cache not written", extra={"error_type": type(exc).__name__})
