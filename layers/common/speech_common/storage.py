"""The private bucket: uploads that clients send straight to S3 (presigned POST), read back by owner.

Uploads live under `uploads/`, expired by the bucket's lifecycle rule (and refused here once older
than UPLOAD_TTL). An upload belongs to the API key that asked for it: the presigned POST makes S3
store that owner in the object's metadata, and only the same owner may use it.
boto3 is imported inside the functions: a 400 answer must not pay for it.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from speech_common.audio import SPEECH_CONTENT_TYPES, AudioUpload, sniff_audio_format
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest, OperationFailed
from speech_common.observability import logger
from speech_common.parallel import built_once
from speech_common.settings import Settings

UPLOADS_PREFIX = "uploads/"
RESULTS_PREFIX = "results/"
OWNER_METADATA = "x-amz-meta-owner"
_UPLOAD_ID_CHARS = 32


@dataclass(frozen=True)
class PresignedUpload:
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int


def new_upload_id() -> str:
    return secrets.token_urlsafe(24)[:_UPLOAD_ID_CHARS]  # unguessable: 192 bits


def presign_upload(settings: Settings, owner: str, content_type: str | None) -> PresignedUpload:
    """A presigned POST for one object of at most settings.max_upload_object_bytes (S3 enforces it)."""
    upload_id = new_upload_id()
    fields = {OWNER_METADATA: owner}
    conditions: list[Any] = [
        ["content-length-range", 1, settings.max_upload_object_bytes],
        {OWNER_METADATA: owner},
    ]
    if content_type:
        fields["Content-Type"] = content_type
        conditions.append({"Content-Type": content_type})
    try:
        post = s3_client().generate_presigned_post(
            Bucket=_bucket(settings),
            Key=UPLOADS_PREFIX + upload_id,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=settings.upload_url_expires_seconds,
        )
    except Exception as exc:  # botocore: credentials, region
        raise OperationFailed("Upload failed", code=ErrorCode.STORAGE_ERROR) from exc
    return PresignedUpload(
        upload_id=upload_id,
        url=str(post["url"]),
        fields={str(k): str(v) for k, v in post["fields"].items()},
        expires_in=settings.upload_url_expires_seconds,
        max_bytes=settings.max_upload_object_bytes,
    )


def store_upload(settings: Settings, owner: str, audio: AudioUpload) -> str:
    """Keep audio that came inline (a job's small file) as an upload of `owner`; its id."""
    upload_id = new_upload_id()
    s3_client().put_object(
        Bucket=_bucket(settings),
        Key=UPLOADS_PREFIX + upload_id,
        Body=audio.data,
        Metadata={"owner": owner},
    )
    return upload_id


def _unknown_upload() -> InvalidRequest:
    return InvalidRequest(
        "upload_id: no such upload (unknown, expired, made with another API key, or its file was never sent)",
        code=ErrorCode.UNKNOWN_UPLOAD,
    )


def check_upload(settings: Settings, owner: str, upload_id: str) -> int:
    """The size of a completed upload of `owner` (from its headers). Unknown, foreign, expired or
    unfinished: a 400."""
    from botocore.exceptions import ClientError

    if not upload_id or len(upload_id) > 64 or not upload_id.replace("-", "").replace("_", "").isalnum():
        raise _unknown_upload()
    try:
        head = s3_client().head_object(Bucket=_bucket(settings), Key=UPLOADS_PREFIX + upload_id)
    except ClientError as exc:
        # 404 for a missing key; 403 too when a role may not list the bucket.
        if s3_error_code(exc) in (
            "NoSuchKey",
            "404",
            "NotFound",
            "403",
            "AccessDenied",
        ):
            raise _unknown_upload() from None
        raise OperationFailed("Reading the upload failed", code=ErrorCode.STORAGE_ERROR) from exc
    if head.get("Metadata", {}).get("owner") != owner:
        raise _unknown_upload()
    modified = head.get("LastModified")
    age = (datetime.now(UTC) - modified).total_seconds() if hasattr(modified, "tzinfo") else 0.0
    if age > settings.upload_retention_days * 86_400:
        raise _unknown_upload()
    return int(head.get("ContentLength", 0))


def read_upload(
    settings: Settings, owner: str, upload_id: str, *, max_bytes: int | None = None
) -> AudioUpload:
    """The audio of a completed upload of `owner`; larger than `max_bytes`: 400 audio_too_long."""
    size = check_upload(settings, owner, upload_id)
    if max_bytes is not None and size > max_bytes:
        raise InvalidRequest(
            f"upload_id: the file ({size / 1e6:.0f} MB) is larger than one request transcribes "
            f"({max_bytes / 1e6:.0f} MB); send it as a job: POST /api/stt/jobs/",
            code=ErrorCode.AUDIO_TOO_LONG,
        )
    obj = s3_client().get_object(Bucket=_bucket(settings), Key=UPLOADS_PREFIX + upload_id)
    data = obj["Body"].read()
    fmt = sniff_audio_format(data) if data else None
    if fmt is None:
        raise _not_audio()
    return AudioUpload(data=data, format=fmt)


# What is read from S3 between two looks at the time: a download that cannot finish in time stops soon.
_DOWNLOAD_CHUNK_BYTES = 1 << 20


def download_upload(settings: Settings, owner: str, upload_id: str, path: str, *, give_up_at: float) -> bool:
    """A completed upload of `owner` written to the file `path` a chunk at a time (never held in memory whole);
    False, with the file left partial, when the disk has no room for it or `give_up_at` (time.monotonic()) comes
    first. An upload that does not begin as audio in a supported format: 400 unsupported_audio."""
    import shutil
    import time

    size = check_upload(settings, owner, upload_id)
    if size >= shutil.disk_usage(os.path.dirname(path) or ".").free:
        return False
    obj = s3_client().get_object(Bucket=_bucket(settings), Key=UPLOADS_PREFIX + upload_id)
    with closing(obj["Body"]) as body, open(path, "wb") as file:
        for index, chunk in enumerate(body.iter_chunks(_DOWNLOAD_CHUNK_BYTES)):
            if index == 0 and sniff_audio_format(chunk) is None:
                raise _not_audio()
            file.write(chunk)
            if time.monotonic() > give_up_at:
                return False
    return True


def _not_audio() -> InvalidRequest:
    return InvalidRequest(
        "upload_id: the uploaded file is not audio in a supported format", code=ErrorCode.UNSUPPORTED_AUDIO
    )


def store_result(settings: Settings, owner: str, data: bytes, extension: str, content_type: str) -> str:
    """Keep a result (audio) under results/ and return a presigned GET for it (the lifecycle rule expires it)."""
    key = f"{RESULTS_PREFIX}{new_upload_id()}.{extension}"
    _put(settings, key, data, content_type, owner=owner, what="the audio")
    return presign_result(settings, key)


def store_job_audio(settings: Settings, job_id: str, owner: str, data: bytes, extension: str) -> str:
    """A speech job's audio under results/, in one put (never half-written); its key."""
    key = f"{RESULTS_PREFIX}{job_id}.{extension}"
    _put(settings, key, data, SPEECH_CONTENT_TYPES[extension], owner=owner, what="the audio")
    return key


def presign_result(settings: Settings, key: str) -> str:
    """A GET link to a result, valid for settings.result_url_expires_seconds."""
    try:
        url: str = s3_client().generate_presigned_url(
            "get_object",
            Params={"Bucket": _bucket(settings), "Key": key},
            ExpiresIn=settings.result_url_expires_seconds,
        )
    except OperationFailed:
        raise
    except Exception as exc:  # botocore: credentials
        raise OperationFailed("Signing the link to the audio failed", code=ErrorCode.STORAGE_ERROR) from exc
    return url


def store_text(settings: Settings, owner: str, text: str) -> str:
    """A speech job's text under uploads/ (the lifecycle rule expires it), until the worker reads it."""
    text_id = new_upload_id()
    _put(
        settings, _text_key(text_id), text.encode(), "text/plain; charset=utf-8", owner=owner, what="the text"
    )
    return text_id


def read_text(settings: Settings, owner: str, text_id: str) -> str:
    """A job's text; gone (expired before the worker came to it): 400 unknown_upload."""
    obj = _object_or_none(settings, _text_key(text_id))
    if obj is None or obj.get("Metadata", {}).get("owner") != owner:
        raise InvalidRequest("The job's text has expired; send it again", code=ErrorCode.UNKNOWN_UPLOAD)
    text: str = obj["Body"].read().decode()
    return text


def delete_text(settings: Settings, text_id: str) -> None:
    try:
        s3_client().delete_object(Bucket=_bucket(settings), Key=_text_key(text_id))
    except Exception:  # the lifecycle rule deletes it anyway
        logger.warning("a job's text was not deleted; the lifecycle rule will")


def _text_key(text_id: str) -> str:
    return f"{UPLOADS_PREFIX}{text_id}.txt"


def store_job_result(settings: Settings, job_id: str, result: dict[str, Any]) -> str:
    """A job's result as JSON under results/ (a transcript can outgrow a DynamoDB item); its key."""
    key = f"{RESULTS_PREFIX}{job_id}.json"
    _put(
        settings, key, json.dumps(result, ensure_ascii=False).encode(), "application/json", what="the result"
    )
    return key


def read_job_result(settings: Settings, key: str) -> dict[str, Any] | None:
    """A job's result; None once the bucket's lifecycle rule has deleted it."""
    obj = _object_or_none(settings, key)
    result: dict[str, Any] | None = json.loads(obj["Body"].read()) if obj is not None else None
    return result


def s3_error_code(exc: BaseException) -> str | None:
    """The error code S3 answered with (NoSuchKey, AccessDenied, ...); None when it did not answer."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _object_or_none(settings: Settings, key: str) -> dict[str, Any] | None:
    """get_object's answer, or None when there is no such object."""
    try:
        obj: dict[str, Any] = s3_client().get_object(Bucket=_bucket(settings), Key=key)
    except Exception as exc:
        if s3_error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    return obj


def _put(
    settings: Settings, key: str, body: bytes, content_type: str, *, what: str, owner: str | None = None
) -> None:
    """One object, whole; a failure is 500 storage_error ("Storing `what` failed")."""
    metadata = {"owner": owner} if owner is not None else {}
    try:
        s3_client().put_object(
            Bucket=_bucket(settings), Key=key, Body=body, ContentType=content_type, Metadata=metadata
        )
    except OperationFailed:
        raise
    except Exception as exc:  # botocore: credentials, network
        raise OperationFailed(f"Storing {what} failed", code=ErrorCode.STORAGE_ERROR) from exc


def _bucket(settings: Settings) -> str:
    if not settings.speech_bucket:
        raise OperationFailed("Storage is not configured", code=ErrorCode.STORAGE_NOT_CONFIGURED)
    return settings.speech_bucket


@built_once()
def s3_client() -> Any:
    """One S3 client per container (AWS_ENDPOINT_URL_S3, which make serve sets, points it at a local S3)."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4", connect_timeout=2, read_timeout=30, retries={"mode": "standard"}
    )
    return boto3.session.Session().client("s3", config=config)
