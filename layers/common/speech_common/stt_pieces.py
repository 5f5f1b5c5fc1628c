"""A long recording's transcribed pieces, kept in the bucket as each is heard: a job whose worker died is resumed
by its next delivery from the pieces already paid for, and no piece is paid twice.

The key is a hash of the piece's audio (its bytes: the same cut of the same upload is the same FLAC), of the route
entry that heard it (engine and upstream model: another upstream's text is never served as this one's), of what
changes the answer (language, prompt, temperature, timings, word timings, speakers and the voices named) and of its owner (the API key: one key
never reads another's entries). Neither audio nor text is in the key or a log. Entries live under pieces/, expired
by the bucket's lifecycle rule with the uploads (UploadRetentionDays): the same job sent again within that time
resumes too. Jobs only (the worker): a synchronous request dies with its client, and writing each piece would
slow every answer for a retry that comes as a new request. A store that cannot be read or written is a miss,
never a failed job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from speech_common.engines.base import TimedSegment, TimedWord, TranscriptionRequest, TranscriptionResult
from speech_common.languages import iso_code
from speech_common.model_routing import Route
from speech_common.observability import logger
from speech_common.settings import Settings

PIECES_PREFIX = "pieces/"


def piece_key(request: TranscriptionRequest, route: Route, owner: str) -> str:
    identity = [
        owner,
        str(route),
        request.language,
        request.prompt,
        request.temperature,
        request.timings,
        request.words,
        hashlib.sha256(request.audio.data).hexdigest(),
    ]
    if request.diarize:  # speakers, and the voices named: another labelling is another answer
        identity += [
            "diarize",
            *(f"{s.name}:{hashlib.sha256(s.reference.encode()).hexdigest()}" for s in request.known_speakers),
        ]
    digest = hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()
    return f"{PIECES_PREFIX}{digest}.json"


def heard_piece(settings: Settings, key: str) -> TranscriptionResult | None:
    """The piece's result as kept; None when there is none (or it cannot be read)."""
    from speech_common.storage import s3_client, s3_error_code

    try:
        body = s3_client().get_object(Bucket=settings.speech_bucket, Key=key)["Body"].read()
        return _result_of(json.loads(body))
    except Exception as exc:  # a miss, S3 unreachable, or an entry of another shape: a miss either way
        if s3_error_code(exc) not in ("NoSuchKey", "404", "AccessDenied", "403"):
            logger.warning("piece store unreadable", extra={"error_type": type(exc).__name__})
        return None


def keep_piece(settings: Settings, key: str, result: TranscriptionResult) -> None:
    from speech_common.storage import s3_client

    try:
        body = json.dumps(asdict(result), ensure_ascii=False).encode()
        s3_client().put_object(Bucket=settings.speech_bucket, Key=key, Body=body)
    except Exception as exc:  # the job goes on; a retry would pay for this piece again
        logger.warning("piece not kept", extra={"error_type": type(exc).__name__})


def _result_of(kept: dict[str, Any]) -> TranscriptionResult:
    segments = kept.get("segments")
    words = kept.get("words")
    return TranscriptionResult(
        text=kept["text"],
        language=iso_code(kept.get("language")),  # kept before languages were codes: "english"
        duration=kept.get("duration"),
        segments=tuple(TimedSegment(**{**s, "tokens": tuple(s.get("tokens", ()))}) for s in segments)
        if segments is not None
        else None,
        words=tuple(TimedWord(**w) for w in words) if words is not None else None,
    )
