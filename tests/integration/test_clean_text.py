"""Text cleaned before it is read, on both doors (`clean_text`, on by default): through the handlers, the fake
upstreams' recorded requests showing what was read; the budget, the speech cache, a job and the realtime route's
verbatim check all see the cleaned text; the length limit stays on the text as sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from speech_common.engines.openai_client import client_for
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtimeServer
from tests.helpers import api_event, header, invoke, job_status, run_worker, streamed, tts_event, with_api_key

ANSWER = """## Your order 📦

Your order **has shipped**! Track it at https://www.example.com/track?id=42 or see [the FAQ](https://example.com/faq).

```json
{"id": 42}
```

- Arrives *Tuesday*
- Questions: help@example.com 🙂
"""
READ = (
    "Your order.\nYour order has shipped! Track it at example.com or see the FAQ.\nArrives Tuesday.\n"
    "Questions: help at example dot com."
)
REALTIME_MODEL = "gpt-realtime-2.1-mini"


def api_tts(body: dict[str, Any], path: str = "/api/tts/", api_key_id: str = "key-a") -> dict[str, Any]:
    return invoke("tts", api_event("POST", path, body=json.dumps(body), api_key_id=api_key_id))


def v1_speech(body: dict[str, Any], api_key_id: str = "key-a") -> dict[str, Any]:
    event = with_api_key(
        tts_event({"model": "tts-1", "voice": "alloy", **body}, path="/v1/audio/speech"), api_key_id
    )
    return streamed("stream", event)


def read_upstream_requests(fake: FakeOpenAI) -> list[str]:
    """What the fake OpenAI was asked to read: every speech request's input, in order."""
    return [r.json["input"] for r in fake.requests if r.path == "/v1/audio/speech" and r.json]


def read_upstream(fake: FakeOpenAI) -> str:
    return " ".join(read_upstream_requests(fake))


def usage(api_key_id: str = "key-a") -> dict[str, Any]:
    response = invoke("jobs", api_event("GET", "/api/usage", content_type=None, api_key_id=api_key_id))
    assert response["statusCode"] == 200, response["json"]
    return dict(response["json"])


# -- what is read --------------------------------------------------------------------------------------------------


def test_api_tts_reads_a_chatbot_answer_cleaned_by_default(fake_openai: FakeOpenAI) -> None:
    # Given a chatbot's answer in Markdown, with a code block, links, an e-mail address and emoji
    # When it is posted to /api/tts/ without clean_text
    response = api_tts({"text": ANSWER})
    # Then it is served, and the upstream was asked to read the cleaned text
    assert response["statusCode"] == 200, response["json"]
    assert fake_openai.last_request.json is not None
    assert fake_openai.last_request.json["input"] == READ


def test_api_tts_with_clean_text_false_reads_the_text_as_written(fake_openai: FakeOpenAI) -> None:
    # Given the same answer / When it is posted with "clean_text": false
    response = api_tts({"text": ANSWER, "clean_text": False})
    # Then the upstream was asked to read it exactly as sent
    assert response["statusCode"] == 200, response["json"]
    assert fake_openai.last_request.json is not None
    assert fake_openai.last_request.json["input"] == ANSWER


def test_v1_speech_reads_the_cleaned_input_and_clean_text_false_the_input_as_written(
    fake_openai: FakeOpenAI,
) -> None:
    # Given a short Markdown answer (one piece of a stream)
    answer = "**Done!** See https://docs.python.org/3/ 🎉"
    # When it is posted to /v1/audio/speech as OpenAI's SDK posts it, then again with clean_text false in the body
    # (what the SDK's extra_body adds)
    cleaned = v1_speech({"input": answer})
    cleaned_input = read_upstream(fake_openai)
    fake_openai.reset()
    raw = v1_speech({"input": answer, "clean_text": False})
    # Then both are served: the first read cleaned, the second as written
    assert (cleaned["statusCode"], raw["statusCode"]) == (200, 200), (cleaned["body"], raw["body"])
    assert cleaned_input == "Done! See docs.python.org"
    assert read_upstream(fake_openai) == answer


def test_clean_text_must_be_a_boolean(fake_openai: FakeOpenAI) -> None:
    # Given clean_text as a string / When posted to /api/tts/
    response = api_tts({"text": "Hi", "clean_text": "no"})
    # Then 400 naming the field, and nothing sent upstream
    assert response["statusCode"] == 400
    assert response["json"]["code"] == "invalid_field"
    assert "clean_text" in response["json"]["detail"]
    assert fake_openai.calls() == 0


# -- nothing to read -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["🎉🎉 👍🏽", "```python\nprint('hi')\n```"])
def test_a_text_that_cleans_to_nothing_is_a_400_on_both_doors_with_nothing_sent(
    fake_openai: FakeOpenAI, text: str
) -> None:
    # Given a text of emoji alone, or of a code block alone
    # When it is posted to /api/tts/, /api/tts/jobs/ and /v1/audio/speech
    api = api_tts({"text": text})
    job = api_tts({"text": text}, path="/api/tts/jobs/")
    v1 = v1_speech({"input": text})
    # Then each is a 400 empty_field in its door's shape, saying how to read it as written, and nothing is sent
    for response in (api, job):
        assert response["statusCode"] == 400
        assert response["json"]["code"] == "empty_field"
        assert "clean_text false" in response["json"]["detail"]
    assert v1["statusCode"] == 400
    error = json.loads(v1["body"])["error"]
    assert (error["code"], error["param"], error["type"]) == ("empty_field", "input", "invalid_request_error")
    assert fake_openai.calls() == 0


def test_a_text_of_emoji_alone_is_read_as_written_with_clean_text_false(fake_openai: FakeOpenAI) -> None:
    # Given emoji alone / When posted with clean_text false
    response = api_tts({"text": "🎉", "clean_text": False})
    # Then they are sent to be read
    assert response["statusCode"] == 200, response["json"]
    assert fake_openai.last_request.json is not None and fake_openai.last_request.json["input"] == "🎉"


# -- the length limit: on the text as sent ---------------------------------------------------------------------------


def test_the_length_limit_is_on_the_text_as_sent_not_the_cleaned_text(fake_openai: FakeOpenAI) -> None:
    # Given a link 4,097 characters long in all, and one of 4,096, each read as one word
    link = "[Docs](https://example.com/" + "a" * (4097 - len("[Docs](https://example.com/)")) + ")"
    assert len(link) == 4097
    # When each is posted to both doors
    over = (api_tts({"text": link}), v1_speech({"input": link}))
    within = (api_tts({"text": link[:-2] + ")"}), v1_speech({"input": link[:-2] + ")"}))
    # Then the longer is too long on both (the limit counts what was sent), and the other is read as "Docs"
    assert over[0]["statusCode"] == 400 and over[0]["json"]["code"] == "text_too_long"
    assert over[1]["statusCode"] == 400 and json.loads(over[1]["body"])["error"]["code"] == "text_too_long"
    assert [r["statusCode"] for r in within] == [200, 200]
    assert read_upstream(fake_openai) == "Docs Docs"


# -- the budget and the cache see the cleaned text ---------------------------------------------------------------


def test_the_budget_counts_the_cleaned_texts_characters_on_both_doors(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a Markdown answer of 102 characters that reads as 28
    answer = "## Hello **there** 👋\n\n[General Kenobi](https://starwars.fandom.com/wiki/Obi-Wan_Kenobi)!\n\n```\ncode\n```"
    read = "Hello there.\nGeneral Kenobi!"
    # When it is read on /api/tts/, then on /v1/audio/speech (in another voice: not the first one's cache hit)
    assert api_tts({"text": answer})["statusCode"] == 200
    first = usage()["day"]["characters"]["used"]
    assert v1_speech({"input": answer, "voice": "nova"})["statusCode"] == 200
    # Then each read the cleaned text and counted its 28 characters, not the 102 sent
    assert read_upstream_requests(fake_openai) == [read, read]
    assert (len(answer), len(read)) == (102, 28)
    assert (first, usage()["day"]["characters"]["used"]) == (28, 56)


def test_the_speech_cache_is_keyed_by_the_cleaned_text(aws: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a text read once (a miss), written in Markdown
    first = api_tts({"text": "Your order **has shipped** 🎉"})
    assert header(first, "X-Speech-Cache") == "miss"
    # When the same words come plain, then the Markdown with clean_text false
    plain = api_tts({"text": "Your order has shipped"})
    raw = api_tts({"text": "Your order **has shipped** 🎉", "clean_text": False})
    # Then the plain one is the cleaned one's cache hit (nothing sent), and the raw one is another text (a miss)
    assert header(plain, "X-Speech-Cache") == "hit"
    assert header(raw, "X-Speech-Cache") == "miss"
    assert read_upstream_requests(fake_openai) == ["Your order has shipped", "Your order **has shipped** 🎉"]


def test_a_speech_job_reads_and_reserves_the_cleaned_text(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a speech job of a Markdown answer
    accepted = api_tts({"text": ANSWER}, path="/api/tts/jobs/")
    assert accepted["statusCode"] == 202, accepted["json"]
    # When the worker runs it
    run_worker(aws)
    # Then it succeeded, the upstream read the cleaned text, and the budget holds the cleaned text's characters
    assert job_status(accepted["json"]["job_id"])["json"]["status"] == "succeeded"
    assert read_upstream(fake_openai) == READ
    assert usage()["day"]["characters"]["used"] == len(READ)


# -- the realtime route's verbatim check -----------------------------------------------------------------------------


@pytest.fixture
def realtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeServer]:
    client_for.cache_clear()
    server = FakeRealtimeServer(api_key="sk-test").start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.http_base_url)
    monkeypatch.setenv("OPENAI_REALTIME_BASE_URL", server.websocket_base_url)
    monkeypatch.setenv(
        "TTS_MODEL_ROUTES",
        f"tts-1=openai-realtime:{REALTIME_MODEL};tts-1-hd=openai-realtime:{REALTIME_MODEL}",
    )
    get_settings.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        client_for.cache_clear()
    assert server.protocol_errors == []


def test_the_realtime_verbatim_check_compares_the_speech_with_the_cleaned_text(
    realtime: FakeRealtimeServer,
) -> None:
    # Given a realtime voice that reads a Markdown link as a person would: its text, not its URL
    realtime.reword = True
    realtime.rewrite = lambda _text: "Read the docs."
    answer = "Read **the** [docs](https://docs.python.org/3/library/index.html) 🎉"
    # When the answer is read on /v1/audio/speech and on /api/tts/, then on /v1 with clean_text false
    v1 = v1_speech({"input": answer})
    api = api_tts({"text": answer})
    asked_cleaned = [spoken.text for spoken in realtime.spoken]
    raw = v1_speech({"input": answer, "clean_text": False})
    # Then the cleaned text was asked for and the speech passed the check against it, on both doors
    assert (v1["statusCode"], api["statusCode"]) == (200, 200), (v1["body"], api["body"])
    assert asked_cleaned == ["Read the docs", "Read the docs"]
    # And the text as written fails the same check: the voice did not say the URL
    assert raw["statusCode"] == 500
    assert json.loads(raw["body"])["error"]["code"] == "verbatim_mismatch"
