"""A transcription job whose worker process is killed mid-job under `make serve` (issue 24 item 6, locally): the
job's message comes back, the next delivery resumes it from the pieces already heard, and no piece heard before
the kill is paid twice. The fake OpenAI (in this process) is the upstream; its log is what was paid for. A client
polling the job with curl sees its progress (pieces heard of the pieces cut) move, never back, across the kill."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest

from speech_common.stt_pieces import PIECES_PREFIX
from speech_common.transcode import encode_pcm
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import BOUNDARY, multipart_body
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer, server_env
from tests.tone_speech import RATE, WORDS, hear, recording

pytestmark = pytest.mark.e2e

WORD_COUNT = 360  # 7.2 minutes: over the 5-minute split, so the job is cut into pieces
HEARD_BEFORE_KILL = 4  # pieces answered at once; the others wait until the worker is dead
HELD_AT_MOST_S = 60.0  # a held answer gives up after this (the worker is killed within seconds)
JOB_RETRY_SECONDS = 60  # the template's least: the resumed delivery comes within about this
STEP_WAIT_S = 60.0
JOB_WAIT_S = 150.0
TRANSCRIPTIONS = "/v1/audio/transcriptions"
FORM = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@cache
def long_recording() -> tuple[bytes, str]:
    """Seven minutes of tone words as Ogg Opus (small enough to post inline), and its words: in no repeating
    order, so that no two pieces are the same audio (one kept piece would serve both)."""
    words = random.Random(24).choices(WORDS, k=WORD_COUNT)
    return encode_pcm(recording(words), sample_rate=RATE, fmt="opus"), " ".join(words)


class Upstream:
    """The fake's transcriber: the first HEARD_BEFORE_KILL pieces heard at once, the rest held until the kill
    (a worker then dies with calls in flight), everything after it heard at once. Records what it answered."""

    def __init__(self) -> None:
        self.killed = threading.Event()
        self.answered_before_kill: set[str] = set()
        self._lock = threading.Lock()
        self._started = 0

    def __call__(self, data: bytes) -> str:
        with self._lock:
            self._started += 1
            at_once = self._started <= HEARD_BEFORE_KILL or self.killed.is_set()
        if not at_once:
            self.killed.wait(HELD_AT_MOST_S)
        text = hear(data)
        with self._lock:
            if not self.killed.is_set():
                self.answered_before_kill.add(digest(data))
        return text


def digest(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-job-resume") as fake:
        yield fake


@pytest.fixture(scope="module")
def resuming_server(serve: StartServer, fake_openai: FakeOpenAI) -> LocalServer:
    """template.yaml as `make serve PARAMS='JobRetrySeconds=60'` serves it, answering with the fake OpenAI."""
    env = server_env(OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    return serve(SPEECH_TEMPLATE, env, ["--parameter-overrides", f"JobRetrySeconds={JOB_RETRY_SECONDS}"])


def worker_pids(server: LocalServer) -> list[int]:
    """The server's worker processes (local/pool.py spawns `python local/worker.py <spec>`) that run the
    WorkerFunction's job handler, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        spec = cmdline[2] if len(cmdline) > 2 else ""
        if (
            parent == server.proc.pid
            and any(arg.endswith("local/worker.py") for arg in cmdline)
            and '"app.lambda_handler"' in spec
            and re.search(r"functions/worker|WorkerFunction", spec)
        ):
            found.append(int(entry.name))
    return found


def kept_pieces(server: LocalServer) -> int:
    """How many pieces the embedded S3 holds (speech_common.stt_pieces keeps each as it is heard)."""
    endpoint = re.search(r"Embedded AWS .* at (http://127\.0\.0\.1:\d+)", server.stdout)
    assert endpoint, server.stdout
    s3 = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint.group(1))
    listed = s3.list_objects_v2(Bucket="speechbucket", Prefix=PIECES_PREFIX)
    return int(listed.get("KeyCount", 0))


def until(check: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.2)
    return found


def curled_job(server: LocalServer, job_id: str) -> dict[str, Any]:
    """GET /api/jobs/{id} as a client's curl asks it."""
    url = f"http://127.0.0.1:{server.port}/api/jobs/{job_id}"
    done = subprocess.run(["curl", "--silent", "--fail", url], capture_output=True, text=True, check=True)
    job: dict[str, Any] = json.loads(done.stdout)
    return job


def wait_for_job(server: LocalServer, job_id: str, progress: list[dict[str, int]]) -> dict[str, Any]:
    """The job once it has ended, polled with curl; each progress seen meanwhile appended to `progress`."""
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        job = curled_job(server, job_id)
        if job["progress"] is not None:
            progress.append(job["progress"])
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(1.0)


def test_a_job_whose_worker_process_is_killed_resumes_and_pays_no_heard_piece_twice(
    resuming_server: LocalServer, fake_openai: FakeOpenAI
) -> None:
    # Given a seven-minute recording sent as a transcription job, whose upstream hears a few pieces at once and
    # holds the others
    upstream = Upstream()
    fake_openai.transcriber = upstream
    audio, words = long_recording()
    body = multipart_body({"model": "whisper-1"}, {"audio": ("speech.ogg", audio, "audio/ogg")})
    queued = resuming_server.post("/api/stt/jobs/", body, headers=FORM)
    assert queued.status == 202, queued.body
    job_id = queued.json()["job_id"]
    # When its worker process is killed (SIGKILL, as Lambda's end) once those pieces were kept, and a client's curl
    # saw them counted, calls in flight
    until(lambda: kept_pieces(resuming_server) >= HEARD_BEFORE_KILL, STEP_WAIT_S, "pieces kept")
    until(
        lambda: (curled_job(resuming_server, job_id)["progress"] or {"done": 0})["done"] >= HEARD_BEFORE_KILL,
        STEP_WAIT_S,
        "the pieces heard in the job's progress",
    )
    pids = until(lambda: worker_pids(resuming_server), STEP_WAIT_S, "the job's worker process")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    upstream.killed.set()
    # Counted once the process is gone and what it had sent has arrived: a call begun just before the kill (its
    # pool's slot freed by the last answer) is in flight too
    time.sleep(0.5)
    in_flight = fake_openai.calls(TRANSCRIPTIONS) - len(upstream.answered_before_kill)
    heard_before = set(upstream.answered_before_kill)
    assert len(heard_before) == HEARD_BEFORE_KILL and in_flight > 0
    # And the job is left to the queue's next delivery, polled with curl until it ends
    progress: list[dict[str, int]] = []
    job = wait_for_job(resuming_server, job_id, progress)
    # Then it succeeded with every word, in order
    assert job["status"] == "succeeded", (job, resuming_server.log[-4000:])
    assert job["result"]["transcript"] == words
    # And its progress never went below the pieces heard before the kill, and ended with every piece done
    total = job["progress"]["total"]
    assert total > HEARD_BEFORE_KILL and job["progress"] == {"done": total, "total": total}
    assert all(HEARD_BEFORE_KILL <= seen["done"] <= total for seen in progress), progress
    assert [seen["done"] for seen in progress] == sorted(seen["done"] for seen in progress), progress
    # And the upstream was asked for each piece heard before the kill once; again only for those in flight at
    # the kill (asked again at all: the killed process was the job's, and the next delivery resumed it)
    calls = [digest(r.file_bytes) for r in fake_openai.requests if r.path == TRANSCRIPTIONS]
    assert all(calls.count(piece) == 1 for piece in heard_before), calls
    assert len(set(calls)) < len(calls) <= len(set(calls)) + in_flight
    assert max(calls.count(piece) for piece in calls) <= 2
