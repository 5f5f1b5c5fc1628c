"""Webhooks and audio_url under `make serve`, over real HTTP (issue 22 items 3 and 4, locally): curl asks for a
transcription job whose audio a local file server serves and whose webhook a local receiver takes; the receiver
verifies each delivery with standardwebhooks and the secret make serve printed. The fake OpenAI is the upstream."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer, server_env
from tests.webhook_receiver import file_server, webhook_receiver

pytestmark = pytest.mark.e2e

RECORDING = Path(__file__).parents[2] / "samples" / "hello.mp3"
DELIVERY_WAIT_S = 90.0


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-webhooks") as fake:
        yield fake


@pytest.fixture(scope="module")
def hooked_server(serve: StartServer, fake_openai: FakeOpenAI) -> LocalServer:
    """template.yaml as make serve serves it (no WEBHOOK_SECRET given: it makes one), retries a second apart."""
    env = server_env(
        OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url, WEBHOOK_RETRY_DELAYS="1,1"
    )
    env.pop("WEBHOOK_SECRET", None)
    return serve(SPEECH_TEMPLATE, env)


def printed_secret(server: LocalServer) -> str:
    found = re.search(
        r"Webhooks: signed with a secret made for this run.*: (whsec_[A-Za-z0-9+/=]+)", server.stdout
    )
    assert found, server.stdout
    return found.group(1)


def curl(server: LocalServer, path: str, *args: str) -> Any:
    """curl's answer to a POST on the local server, as JSON, and its status."""
    done = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"http://127.0.0.1:{server.port}{path}", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def job_of(server: LocalServer, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = server.request("GET", f"/api/jobs/{job_id}").json()
    return answer


def test_a_job_by_audio_url_is_delivered_signed_to_a_local_receiver_after_a_retry(
    hooked_server: LocalServer, fake_openai: FakeOpenAI
) -> None:
    # Given a recording served by a local file server, and a receiver holding make serve's printed secret that
    # fails the first delivery
    secret = printed_secret(hooked_server)
    with (
        file_server({"/hello.mp3": RECORDING.read_bytes()}) as files,
        webhook_receiver(secret, [503]) as receiver,
    ):
        # When curl asks for a transcription job by audio_url with a webhook_url
        status, accepted = curl(
            hooked_server,
            "/api/stt/jobs/",
            "-d",
            f"audio_url={files}/hello.mp3?sig=s3cr3t",
            "-d",
            f"webhook_url={receiver.url}",
        )
        assert status == 202, accepted
        deliveries = receiver.wait_for(2, DELIVERY_WAIT_S)
    # Then the worker fetched the recording and transcribed it
    job_id = accepted["job_id"]
    assert fake_openai.requests[-1].file_bytes == RECORDING.read_bytes()
    # And the receiver got the job twice (the first answered 503), both verified by standardwebhooks, one id
    assert len(deliveries) == 2, (deliveries, hooked_server.log[-3000:])
    assert [d.headers["webhook-id"] for d in deliveries] == [f"msg_{job_id}"] * 2
    verified = [d.verified for d in deliveries]
    assert all(isinstance(v, dict) for v in verified), verified
    assert verified[1]["status"] == "succeeded"
    assert verified[1]["result"]["transcript"] == fake_openai.transcript
    # And the job says delivered on the second attempt
    until = time.monotonic() + 10
    while job_of(hooked_server, job_id)["webhook"]["state"] != "delivered" and time.monotonic() < until:
        time.sleep(0.2)
    webhook = job_of(hooked_server, job_id)["webhook"]
    assert (webhook["state"], webhook["attempts"], webhook["host"]) == ("delivered", 2, "127.0.0.1")
    # And no log line quoted the link's query
    assert "s3cr3t" not in hooked_server.log and "s3cr3t" not in hooked_server.stdout


def test_a_speech_job_webhook_is_delivered(hooked_server: LocalServer) -> None:
    # Given a receiver holding make serve's printed secret
    with webhook_receiver(printed_secret(hooked_server)) as receiver:
        # When curl asks for a speech job with a webhook_url (a JSON field)
        body = json.dumps({"text": "The library opens at nine.", "webhook_url": receiver.url})
        status, accepted = curl(
            hooked_server, "/api/tts/jobs/", "-H", "Content-Type: application/json", "-d", body
        )
        assert status == 202, accepted
        [delivery] = receiver.wait_for(1, DELIVERY_WAIT_S)
    # Then the delivery verifies and carries the succeeded job with its audio link
    assert isinstance(delivery.verified, dict), delivery.verified
    assert delivery.verified["job_id"] == accepted["job_id"] and delivery.verified["status"] == "succeeded"
    assert delivery.verified["result"]["audio_url"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data/"])
def test_a_private_or_metadata_address_is_refused_even_locally(hooked_server: LocalServer, url: str) -> None:
    # Given make serve (loopback allowed) and a private or metadata address
    # When curl asks for a job with it as webhook_url, and as audio_url
    answers = [
        curl(hooked_server, "/api/stt/jobs/", "-d", f"audio_url={url}"),
        curl(
            hooked_server,
            "/api/tts/jobs/",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps({"text": "Hi.", "webhook_url": url}),
        ),
    ]
    # Then both are 400 url_not_allowed
    assert [(status, body["code"]) for status, body in answers] == [(400, "url_not_allowed")] * 2
