"""A running job says how far it is (GET /api/jobs/{id} "progress": {"done", "total"}): a client polling it sees the
pieces heard (or read) move while the worker runs, never backwards, all of them once it succeeded, also across a
worker's death. Against moto's S3, DynamoDB and SQS and the fake OpenAI, which holds pieces to keep the job running."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from speech_common.jobs.progress import PROGRESS_WRITE_SECONDS
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import api_event, invoke, job_status, run_worker
from tests.integration.test_job_resume import (
    RETRY_SECONDS,
    WorkerKilled,
    deliver,
    killed_after_pieces,
    long_recording,
    receive,
    submit_long_job,
)
from tests.tone_speech import hear

HEARD_AT_ONCE = 2
WAIT_S = 30.0


class HeldUpstream:
    """The fake's transcriber: the first HEARD_AT_ONCE pieces heard at once, the others held until `release()`."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._started = 0

    def __call__(self, data: bytes) -> str:
        with self._lock:
            self._started += 1
            at_once = self._started <= HEARD_AT_ONCE
        if not at_once:
            self.released.wait(WAIT_S)
        return hear(data)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def jobs(aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Four pieces heard at once; a job's message held RETRY_SECONDS at a time (a dead worker's comes back soon)."""
    monkeypatch.setenv("STT_PARALLEL_CALLS", "4")
    monkeypatch.setenv("JOB_RETRY_SECONDS", str(RETRY_SECONDS))
    get_settings.cache_clear()
    return aws


class Poller:
    """A client polling GET /api/jobs/{id} in a thread until the job ends: every progress it saw, in order."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.seen: list[dict[str, int]] = []
        self.last: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        deadline = time.monotonic() + WAIT_S * 2
        while time.monotonic() < deadline:
            self.last = job_status(self.job_id)["json"]
            if self.last.get("progress") and self.last["progress"] not in self.seen[-1:]:
                self.seen.append(self.last["progress"])
            if self.last["status"] in ("succeeded", "failed"):
                return
            time.sleep(0.1)

    def until(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while not check(self.last):
            assert time.monotonic() < deadline, f"not within {WAIT_S:.0f} s: {what} ({self.last})"
            time.sleep(0.05)
        return self.last

    def join(self) -> None:
        self._thread.join(timeout=WAIT_S * 2)


def never_back(seen: list[dict[str, int]]) -> bool:
    return all(a["done"] <= b["done"] and a["total"] == b["total"] for a, b in itertools.pairwise(seen))


def test_a_client_polling_a_transcription_job_sees_its_pieces_heard_move(
    jobs: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a twenty-minute recording's job, cut into pieces heard four at once, of which the upstream answers two
    # and holds the others
    upstream = HeldUpstream()
    fake_openai.transcriber = upstream
    job_id = submit_long_job()
    assert job_status(job_id)["json"]["progress"] is None  # queued: not cut yet
    # When the worker runs it while a client polls the job
    (message,) = receive(jobs["queue_url"])
    worker = threading.Thread(target=deliver, args=([message],))
    worker.start()
    client = Poller(job_id)
    # Then the client sees the job running with the two pieces heard, of all its pieces
    running = client.until(
        lambda job: (job.get("progress") or {}).get("done") == HEARD_AT_ONCE, "two pieces heard"
    )
    assert running["status"] == "running" and running["progress"]["total"] > HEARD_AT_ONCE
    total = running["progress"]["total"]
    # And once the upstream answers the rest, the job succeeded with every piece done
    upstream.release()
    worker.join(timeout=WAIT_S)
    client.join()
    assert client.last["status"] == "succeeded", client.last
    assert client.last["progress"] == {"done": total, "total": total}
    assert client.last["result"]["transcript"] == long_recording()[1]
    # And what the client saw never went back
    assert client.seen[0]["done"] <= HEARD_AT_ONCE and never_back(client.seen), client.seen


def test_a_resumed_job_counts_the_pieces_kept_before_its_worker_died(
    jobs: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job heard one piece at a time, each taking longer than the progress is held back (its first piece's
    # count is then written at once), whose worker dies once its second piece was kept
    monkeypatch.setenv("STT_PARALLEL_CALLS", "1")
    get_settings.cache_clear()
    fake_openai.transcriber = lambda data: (time.sleep(PROGRESS_WRITE_SECONDS + 0.2), hear(data))[1]
    job_id = submit_long_job()
    (first,) = receive(jobs["queue_url"])
    with killed_after_pieces(2), pytest.raises(WorkerKilled):
        deliver([first])
    before = job_status(job_id)["json"]
    assert before["status"] == "running" and before["progress"]["done"] >= 1, before
    # When its message comes back and the next delivery resumes it, a client polling meanwhile
    time.sleep(RETRY_SECONDS + 0.5)
    (again,) = receive(jobs["queue_url"])
    client = Poller(job_id)
    deliver([again])
    client.join()
    # Then the client never saw fewer pieces done than the dead worker had reached (the resumed run counts its
    # kept pieces from 0 again: those counts are not written), and the job ends with all of them done
    assert all(seen["done"] >= before["progress"]["done"] for seen in client.seen), client.seen
    total = before["progress"]["total"]
    assert client.last["status"] == "succeeded"
    assert client.last["progress"] == {"done": total, "total": total}


def speech_job(text: str) -> str:
    body = json.dumps({"text": text, "voice": "nova"})
    accepted = invoke("tts", api_event("POST", "/api/tts/jobs/", body=body, api_key_id="key-a"))
    assert accepted["statusCode"] == 202, accepted["json"]
    return str(accepted["json"]["job_id"])


def test_a_client_polling_a_speech_job_sees_its_pieces_read_move(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a text of six pieces (none alike: none is read from the speech cache), read one at a time by an upstream that takes 0.4 s a piece
    monkeypatch.setenv("TTS_PARALLEL_CALLS", "1")
    get_settings.cache_clear()
    fake_openai.delay_seconds = 0.4
    sentences = (f"Sentence {n} of a text whose pieces are read one after the other." for n in range(80))
    job_id = speech_job(" ".join(sentences))
    # When the worker runs it while a client polls the job
    worker = threading.Thread(target=run_worker, args=(aws,))
    worker.start()
    client = Poller(job_id)
    worker.join(timeout=WAIT_S)
    client.join()
    # Then the job succeeded with its six pieces read, and the client saw it part-way, never going back
    assert client.last["status"] == "succeeded", client.last
    assert client.last["progress"] == {"done": 6, "total": 6}
    assert any(0 < seen["done"] < 6 for seen in client.seen), client.seen
    assert never_back(client.seen), client.seen


@pytest.fixture(autouse=True)
def _released(fake_openai: FakeOpenAI) -> Iterator[None]:
    yield
    fake_openai.reset()  # wakes a held answer of a test that failed
