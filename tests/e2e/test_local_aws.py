"""The uploads-and-jobs curl flow of docs/api.md over real HTTP against `make serve`, offline: no AWS account, the
bucket, table and queues in the embedded moto server, the worker fed from the queue by the local poller."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
import requests

from tests.audio_helpers import duration_seconds
from tests.local_server import LocalServer, Reply

JSON_HEADERS = {"Content-Type": "application/json"}
JOB_WAIT_S = 90.0  # the offline engine transcribes a few seconds of speech in well under this


def post_json(server: LocalServer, path: str, body: dict[str, Any]) -> Reply:
    return server.post(path, json.dumps(body).encode(), headers=JSON_HEADERS)


def post_form(server: LocalServer, path: str, fields: dict[str, str]) -> Reply:
    """As `curl -F name=value ...` sends it."""
    boundary = "----------------------localaws0123456789"
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        )
        + f"--{boundary}--\r\n".encode()
    )
    return server.post(path, body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def speech_wav(server: LocalServer, text: str) -> bytes:
    reply = post_json(server, "/api/tts/", {"text": text, "response_format": "wav"})
    assert reply.status == 200, reply.body
    return base64.b64decode(reply.json()["audio_base64"])


def embedded_endpoint(server: LocalServer) -> str:
    found = re.search(r"Embedded AWS .* at (http://127\.0\.0\.1:\d+)", server.stdout)
    assert found, f"make serve did not print where the embedded AWS services listen:\n{server.stdout}"
    return found.group(1)


def uploaded(server: LocalServer, audio: bytes) -> str:
    """An upload made and its file posted to the presigned URL with its fields, as docs/api.md's curl does."""
    reply = post_json(server, "/api/uploads/", {"filename": "speech.wav", "content_type": "audio/wav"})
    assert reply.status == 201, reply.body
    upload = reply.json()
    sent = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("speech.wav", audio, "audio/wav")}, timeout=30
    )
    assert sent.status_code == 204, sent.text
    return str(upload["upload_id"])


def wait_for_job(server: LocalServer, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        reply = server.request("GET", f"/api/jobs/{job_id}")
        assert reply.status == 200, reply.body
        job: dict[str, Any] = reply.json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_make_serve_prints_where_the_embedded_services_listen_and_presigns_urls_there(
    speech_server: LocalServer,
) -> None:
    # Given make serve started with no AWS account (no credentials, no endpoint in its environment)
    endpoint = embedded_endpoint(speech_server)
    # When an upload is asked for
    reply = post_json(speech_server, "/api/uploads/", {"filename": "a.wav", "content_type": "audio/wav"})
    # Then its presigned POST goes to the embedded S3, path-style, to the template's bucket
    assert reply.status == 201, reply.body
    assert reply.json()["url"] == f"{endpoint}/speechbucket"
    assert "SpeechBucket (AWS::S3::Bucket): speechbucket" in speech_server.stdout


def test_an_upload_is_transcribed_now_and_as_a_job_offline(speech_server: LocalServer) -> None:
    # Given speech uploaded straight to the embedded S3 with the presigned fields
    upload_id = uploaded(speech_server, speech_wav(speech_server, "hello world this is a test"))
    # When it is transcribed by its upload_id, then again as a job polled until it ends
    now = post_form(speech_server, "/api/stt/", {"upload_id": upload_id, "model": "whisper-1"})
    queued = post_form(speech_server, "/api/stt/jobs/", {"upload_id": upload_id, "model": "whisper-1"})
    assert now.status == 200, now.body
    assert queued.status == 202, queued.body
    assert queued.json()["status"] == "queued"
    job = wait_for_job(speech_server, queued.json()["job_id"])
    # Then the worker, fed from the queue, recorded the same transcript the request got, and the language heard
    assert job["status"] == "succeeded", job
    assert now.json()["transcript"].strip(), "the offline engine heard nothing"
    assert job["result"] == {**now.json(), "language": "en"}
    assert job["error"] is None


def test_an_unknown_job_is_a_404(speech_server: LocalServer) -> None:
    # Given the embedded jobs table
    # When a job nobody made is asked for
    reply = speech_server.request("GET", "/api/jobs/nosuchjob0123456789")
    # Then it is the documented 404
    assert reply.status == 404, reply.body
    assert reply.json()["code"] == "unknown_job"


def test_a_speech_job_reads_a_long_text_offline_and_links_its_audio(speech_server: LocalServer) -> None:
    # Given a text longer than one request takes (6,000 characters), sent as a speech job
    sentence = "The library opens at nine and closes at six on weekdays. "
    text = sentence * (6_000 // len(sentence) + 1)
    queued = post_json(speech_server, "/api/tts/jobs/", {"text": text, "response_format": "mp3"})
    assert queued.status == 202, queued.body
    # When the worker, fed from the embedded queue, reads it
    job = wait_for_job(speech_server, queued.json()["job_id"])
    # Then the job links mp3 audio in the embedded S3 as long as the result says (minutes of speech)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "tts"
    result = job["result"]
    audio = requests.get(result["audio_url"], timeout=30)
    assert audio.status_code == 200
    assert duration_seconds(audio.content) == pytest.approx(result["duration_seconds"], abs=0.2)
    assert result["duration_seconds"] > 120
