"""Helpers shared by tests: API Gateway REST events and calling the handlers as Lambda would, a fresh
interpreter, a free port."""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from tools import handlers

ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).resolve().parent / "events"
BOUNDARY = "------------------------d74496d66958873e"
# A developer's own configuration that must never reach a test (a real key, routes, a profile).
DEVELOPER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_SECRET_NAME",
    "OPENAI_BASE_URL",
    "OPENAI_REALTIME_BASE_URL",
    "STT_MODEL_ROUTES",
    "TTS_MODEL_ROUTES",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "OPENAI_API_VERSION",
    "REALTIME_REASONING_EFFORT",
    "TTS_PARALLEL_CALLS",
    "MODEL_SHUTDOWN_DATES",
    "MODEL_GONE_RETRY_SECONDS",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)

# What /v1's speech answers must be, as the OpenAI SDK tests (Python and JS) check them.
V1_VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")
# Each format and the codec its answer decodes with (pcm is raw 16-bit samples, checked apart).
V1_SPEECH_CODECS = {
    "mp3": ("mp3", "mp3float"),
    "opus": ("opus",),
    "aac": ("aac",),
    "flac": ("flac",),
    "wav": ("pcm_s16le",),
}
V1_SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


@dataclass
class FakeLambdaContext:
    """What Powertools and our deadline read from the Lambda context."""

    remaining_ms: int = 30_000
    function_name: str = "speech-api-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:speech-api-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@cache
def load_handler(name: str) -> ModuleType:
    """functions/<name>/app.py (tools.handlers), imported once; load_handler.cache_clear() imports it afresh.
    Each test's own environment (moto's resources, or none) is what its requests then read."""
    return handlers.load_handler(name)


def _event(example: str, path: str | None, headers: dict[str, str] | None) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / example).read_text()))
    if path is not None:
        event["path"] = path
        event["requestContext"]["path"] = f"/Prod{path}"
    if headers is not None:
        event["headers"] = dict(headers)
    event["multiValueHeaders"] = {key: [value] for key, value in event["headers"].items()}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)  # received just now
    return event


def tts_event(
    body: str | dict[str, Any] | None,
    *,
    path: str = "/api/tts/",
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """The docs' TTS curl example as API Gateway delivers it, with another body or content type."""
    headers = dict(json.loads((EVENTS / "tts_docs_example.json").read_text())["headers"])
    headers.pop("Content-Type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    event = _event("tts_docs_example.json", path, headers)
    event["body"] = json.dumps(body) if isinstance(body, dict) else body
    event["isBase64Encoded"] = False
    return event


def multipart_body(
    fields: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    boundary: str = BOUNDARY,
) -> bytes:
    """A multipart/form-data body as curl -F writes it."""
    out = bytearray()
    for name, value in (fields or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, (filename, data, content_type) in (files or {}).items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def stt_event(
    body: bytes,
    *,
    path: str = "/api/stt/",
    content_type: str | None = f"multipart/form-data; boundary={BOUNDARY}",
    base64_encoded: bool = True,
) -> dict[str, Any]:
    """The docs' STT curl example as API Gateway delivers it (binary media type: base64 body)."""
    headers = dict(json.loads((EVENTS / "stt_docs_example.json").read_text())["headers"])
    headers.pop("Content-Type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    event = _event("stt_docs_example.json", path, headers)
    event["body"] = base64.b64encode(body).decode() if base64_encoded else body.decode("latin-1")
    event["isBase64Encoded"] = base64_encoded
    return event


def invoke(name: str, event: dict[str, Any], context: FakeLambdaContext | None = None) -> dict[str, Any]:
    """Call functions/<name>/app.lambda_handler; returns the proxy response with `json` parsed."""
    response: dict[str, Any] = load_handler(name).lambda_handler(event, context or FakeLambdaContext())
    response["json"] = json.loads(response["body"])
    return response


def streamed(name: str, event: dict[str, Any], context: FakeLambdaContext | None = None) -> dict[str, Any]:
    """functions/<name>'s proxy response with the body a route handed over joined into it (base64, as the
    streaming function's ASGI app would send those bytes), and its chunks as they came under "chunks"."""
    from speech_common.http_kit.streaming import take_handed_over

    response: dict[str, Any] = load_handler(name).lambda_handler(event, context or FakeLambdaContext())
    chunks = take_handed_over()
    if chunks is not None:
        response["chunks"] = list(chunks)
        response["body"] = base64.b64encode(b"".join(response["chunks"])).decode()
        response["isBase64Encoded"] = True
    return response


def header(response: dict[str, Any], name: str) -> str | None:
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return str(values[0])
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def api_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    content_type: str | None = "application/json",
    api_key_id: str | None = "key-a",
) -> dict[str, Any]:
    """Any route as API Gateway delivers it, from the deployed API's stage, with the caller's API key id."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    headers = {**json.loads((EVENTS / "tts_docs_example.json").read_text())["headers"], **headers}
    if content_type is None:
        headers.pop("Content-Type", None)
    event = _event("tts_docs_example.json", path, headers)
    event["httpMethod"] = method
    event["resource"] = path
    event["body"] = body
    event["isBase64Encoded"] = False
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    return event


def with_api_key(event: dict[str, Any], api_key_id: str | None) -> dict[str, Any]:
    event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    return event


def run_worker(aws: dict[str, str], context: FakeLambdaContext | None = None) -> int:
    """Deliver what is on the queue to the worker, as the event source mapping would; how many."""
    import boto3

    sqs = boto3.session.Session().client("sqs")
    messages = sqs.receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}
    load_handler("worker").lambda_handler(event, context or FakeLambdaContext(remaining_ms=120_000))
    return len(messages)


def job_status(job_id: str, api_key_id: str = "key-a") -> dict[str, Any]:
    return invoke("jobs", api_event("GET", f"/api/jobs/{job_id}", content_type=None, api_key_id=api_key_id))


def fresh_python(code: str, **env: str) -> str:
    """The last line `code` prints in a new interpreter (like a new Lambda container)."""
    pythonpath = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (the OS picks it; free until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
