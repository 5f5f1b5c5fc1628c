"""Text cleaned before it is read, under `make serve`, by clients nobody here wrote: the official `openai` SDK sends
`clean_text` with `extra_body`, curl posts /api/tts/; the fake OpenAI behind the server records what it was asked to
read."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer, server_env

pytestmark = pytest.mark.e2e

ANSWER = "## Shipped 🎉\n\nYour order **has shipped**: track it at https://www.example.com/track?id=42"
READ = "Shipped.\nYour order has shipped: track it at example.com"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-clean-text") as fake:
        yield fake


@pytest.fixture(scope="module")
def server(serve: StartServer, fake_openai: FakeOpenAI) -> LocalServer:
    """template.yaml as `make serve` serves it with an OpenAI key, answering with the fake OpenAI."""
    return serve(
        SPEECH_TEMPLATE, server_env(OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    )


@pytest.fixture
def client(server: LocalServer, fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    fake_openai.reset()
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1", api_key="sk-local", max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def asked_to_read(fake: FakeOpenAI) -> list[str]:
    return [r.json["input"] for r in fake.requests if r.path == "/v1/audio/speech" and r.json]


def read_in_order(fake: FakeOpenAI, text: str) -> list[str]:
    """The words the upstream was asked to read for `text`: a streamed speech's pieces are asked for at once, so
    they arrive in any order; each is a piece of the text, put back in its place."""
    pieces = sorted(asked_to_read(fake), key=text.index)
    return " ".join(pieces).split()


def test_the_sdk_gets_speech_of_the_cleaned_input_and_of_the_input_as_written_with_extra_body(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    # Given a chatbot's answer in Markdown
    # When the SDK asks for its speech, then again with extra_body={"clean_text": False} (in another voice: not a
    # cache hit)
    cleaned = client.audio.speech.create(model="tts-1", voice="alloy", input=ANSWER, response_format="pcm")
    read_cleaned = read_in_order(fake_openai, READ)
    fake_openai.reset()
    raw = client.audio.speech.create(
        model="tts-1", voice="nova", input=ANSWER, response_format="pcm", extra_body={"clean_text": False}
    )
    # Then both are audio, the first read cleaned and the second as written
    assert len(cleaned.content) > 0 and len(raw.content) > 0
    assert read_cleaned == READ.split()
    assert read_in_order(fake_openai, ANSWER) == ANSWER.split()


def test_the_sdk_gets_a_bad_request_for_an_input_of_emoji_alone(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    # Given an input of emoji alone / When the SDK asks for its speech
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model="tts-1", voice="alloy", input="🎉🎉🎉")
    # Then it is OpenAI's 400 naming the input, and nothing was sent upstream
    assert (refused.value.code, refused.value.param) == ("empty_field", "input")
    assert asked_to_read(fake_openai) == []


def test_curl_posts_markdown_to_api_tts_and_it_is_read_cleaned(
    server: LocalServer, fake_openai: FakeOpenAI
) -> None:
    # Given the server / When curl posts the Markdown answer to /api/tts/ (in a voice of its own: not a cache hit)
    fake_openai.reset()
    body = json.dumps({"text": ANSWER, "voice": "shimmer"})
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "-X", "POST", f"http://127.0.0.1:{server.port}/api/tts/",
         "-H", "Content-Type: application/json", "-d", body],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # Then the answer is audio, read from the cleaned text
    assert "audio_base64" in json.loads(done.stdout)
    assert asked_to_read(fake_openai) == [READ]
