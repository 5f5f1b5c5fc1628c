"""Budgets under `make serve` (issue 24 item 1): `make serve PARAMS='BudgetCharactersPerDay=...'` applies the same
budgets to its one local caller as the deployed API applies to a key, seen by curl and by the official SDK."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer, server_env

pytestmark = pytest.mark.e2e

CHARACTERS_PER_DAY = 40


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-budgets") as fake:
        yield fake


@pytest.fixture(scope="module")
def budgeted_server(serve: StartServer, fake_openai: FakeOpenAI) -> LocalServer:
    """template.yaml as `make serve PARAMS='BudgetCharactersPerDay=40'` serves it, answering with the fake OpenAI."""
    env = server_env(OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    return serve(
        SPEECH_TEMPLATE, env, ["--parameter-overrides", f"BudgetCharactersPerDay={CHARACTERS_PER_DAY}"]
    )


def curl_json(*args: str) -> tuple[int, dict[str, str], dict]:
    """curl's status, headers (lower-case names) and JSON body."""
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--include", *args], capture_output=True, text=True, check=True
    )
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_the_local_caller_is_held_to_the_days_characters_on_both_doors(
    budgeted_server: LocalServer, fake_openai: FakeOpenAI
) -> None:
    # Given a server whose budget is 40 characters a day
    base = f"http://127.0.0.1:{budgeted_server.port}"
    tts = ["-X", "POST", f"{base}/api/tts/", "-H", "Content-Type: application/json"]
    # When curl asks for 30 characters of speech, then for 30 more
    first = curl_json(*tts, "-d", json.dumps({"text": "a" * 29 + "."}))
    calls = fake_openai.calls("/v1/audio/speech")
    second = curl_json(*tts, "-d", json.dumps({"text": "b" * 29 + "."}))
    # Then the first is served, the second refused as documented, with the wait until the day ends, and not sent
    assert first[0] == 200, first[2]
    status, headers, body = second
    assert (status, body["code"]) == (429, "budget_exceeded"), body
    assert 0 < int(headers["retry-after"]) <= 86_400
    assert fake_openai.calls("/v1/audio/speech") == calls
    # And GET /api/usage shows the caller its day: 30 of 40 characters spent
    status, _, usage = curl_json(f"{base}/api/usage")
    assert status == 200, usage
    assert usage["day"]["characters"] == {"used": 30, "limit": CHARACTERS_PER_DAY}
    assert usage["month"]["characters"]["used"] == 30
    # And the official SDK on /v1 gets OpenAI's insufficient_quota as a RateLimitError, nothing sent
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-local", max_retries=0)
    with pytest.raises(openai.RateLimitError) as refused:
        client.audio.speech.create(model="tts-1", voice="alloy", input="c" * 29 + ".")
    assert refused.value.code == "insufficient_quota"
    assert fake_openai.calls("/v1/audio/speech") == calls
