"""Speech jobs (POST /api/tts/jobs/): a text of any length read by the worker, against moto's S3,
DynamoDB and SQS over real HTTP and the fake upstreams."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from speech_common.core import LONG_TEXT_PIECE_CHARS
from speech_common.engines.openai_realtime.conversation import MAX_CHARS_PER_SECOND
from speech_common.engines.openai_realtime.engine import CHUNK_GAP_SECONDS
from speech_common.settings import get_settings
from speech_common.text_chunks import split_text
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI, speech_seconds
from tests.fakes.realtime_server import FakeRealtimeServer
from tests.helpers import FakeLambdaContext, api_event, invoke, job_status, load_handler, run_worker

SENTENCES = (
    "The committee met on Tuesday to review the budget.",
    "Several members asked for a clearer account of travel costs!",
    "Is the new library still on schedule?",
    "Work on the bridge resumes in spring; the river is too high now.",
)
WORKER_TIMEOUT_MS = 900_000  # template.yaml: WorkerFunction Timeout


def long_text(chars: int) -> str:
    """Numbered sentences (no two alike) up to about `chars` characters."""
    parts: list[str] = []
    length, n = 0, 0
    while length < chars:
        sentence = f"Item {n}: {SENTENCES[n % len(SENTENCES)]}"
        parts.append(sentence)
        length += len(sentence) + 1
        n += 1
    return " ".join(parts)


def new_job(body: dict[str, Any], api_key_id: str = "key-a") -> dict[str, Any]:
    return invoke("tts", api_event("POST", "/api/tts/jobs/", body=json.dumps(body), api_key_id=api_key_id))


def finished(aws: dict[str, str], job_id: str, **context: Any) -> dict[str, Any]:
    run_worker(aws, FakeLambdaContext(**context) if context else None)
    status = job_status(job_id)
    assert status["statusCode"] == 200, status["json"]
    return status["json"]


def bucket_keys(aws: dict[str, str], prefix: str) -> list[str]:
    listed = boto3.session.Session().client("s3").list_objects_v2(Bucket=aws["bucket"], Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def spoken_inputs(fake: FakeOpenAI) -> list[str]:
    return [r.json["input"] for r in fake.requests if r.path.endswith("/audio/speech") and r.json]


def test_a_speech_job_is_queued_read_by_the_worker_and_linked(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a text longer than one request takes, asked for as flac (which no answer could carry)
    text = long_text(6_000)
    accepted = new_job({"text": text, "voice": "nova", "response_format": "flac", "speed": 1.25})
    # When the worker runs the job
    assert accepted["statusCode"] == 202, accepted["json"]
    assert accepted["json"]["status"] == "queued"
    assert accepted["json"]["status_url"].endswith(f"/api/jobs/{accepted['json']['job_id']}")
    status = finished(aws, accepted["json"]["job_id"])
    # Then the job is a succeeded tts job whose result links to flac audio of the whole text
    assert (status["kind"], status["status"], status["error"]) == ("tts", "succeeded", None)
    result = status["result"]
    assert set(result) == {"audio_url", "expires_in", "model", "voice", "response_format", "duration_seconds"}
    assert (result["model"], result["voice"], result["response_format"]) == ("tts-1", "nova", "flac")
    assert result["expires_in"] == get_settings().result_url_expires_seconds
    audio = requests.get(result["audio_url"], timeout=30)
    assert audio.status_code == 200 and audio.content.startswith(b"fLaC")
    # And every piece was read once, at the asked voice and speed, as PCM to be encoded once
    speech = [r.json for r in fake_openai.requests if r.path.endswith("/audio/speech") and r.json]
    assert {(s["voice"], s["speed"], s["response_format"]) for s in speech} == {("nova", 1.25, "pcm")}
    expected = sum(speech_seconds(s["input"], 1.25) for s in speech)
    assert duration_seconds(audio.content) == pytest.approx(expected, abs=0.05)
    assert result["duration_seconds"] == pytest.approx(expected, abs=0.05)
    # And the caller's text is no longer kept once read
    assert not [key for key in bucket_keys(aws, "uploads/") if key.endswith(".txt")]


def test_each_get_of_a_speech_job_signs_a_new_link_for_the_set_time(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given audio links set to live five minutes (AudioLinkSeconds), and a finished speech job
    monkeypatch.setenv("RESULT_URL_EXPIRES_SECONDS", "300")
    get_settings.cache_clear()
    accepted = new_job({"text": long_text(600)})
    finished(aws, accepted["json"]["job_id"])
    # When its status is read twice, a second apart
    links = []
    for _ in range(2):
        links.append(job_status(accepted["json"]["job_id"])["json"]["result"])
        time.sleep(1.1)
    # Then each read signed its own link, for five minutes from then, as expires_in says
    signed = [parse_qs(urlsplit(link["audio_url"]).query) for link in links]
    assert [(q["X-Amz-Expires"], link["expires_in"]) for q, link in zip(signed, links, strict=True)] == [
        (["300"], 300)
    ] * 2
    assert signed[0]["X-Amz-Date"] < signed[1]["X-Amz-Date"]
    assert links[0]["audio_url"] != links[1]["audio_url"]


def test_sixty_thousand_characters_are_read_in_parallel_each_piece_once_inside_the_worker_timeout(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given 60,000 characters and an upstream that takes 1 ms a character (60 s read in one pass)
    text = long_text(60_000)
    fake_openai.seconds_per_input_char = 0.001
    job_id = new_job({"text": text})["json"]["job_id"]
    # When the worker runs it with the worker's timeout
    started = time.monotonic()
    status = finished(aws, job_id, remaining_ms=WORKER_TIMEOUT_MS)
    elapsed = time.monotonic() - started
    # Then it succeeded well inside the timeout: the pieces were read in parallel, not one after another
    assert status["status"] == "succeeded", status["error"]
    assert elapsed < len(text) * 0.001 / 2
    # And the fake saw each piece exactly once, the pieces cut at sentence ends, together the whole text
    inputs = spoken_inputs(fake_openai)
    assert max(Counter(inputs).values()) == 1
    assert all(
        len(piece) <= LONG_TEXT_PIECE_CHARS and piece.endswith((".", "!", "?", ";", ":")) for piece in inputs
    )
    assert sorted(" ".join(inputs).split()) == sorted(text.split())
    # And the audio lasts as long as the pieces together, in their order
    audio = requests.get(status["result"]["audio_url"], timeout=30).content
    expected = sum(speech_seconds(piece) for piece in inputs)
    assert duration_seconds(audio) == pytest.approx(expected, abs=0.1)


def test_a_job_read_again_pays_for_no_piece_and_gives_identical_audio(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a text read once by a job
    text = long_text(3_000)
    first = finished(aws, new_job({"text": text, "voice": "echo"})["json"]["job_id"])
    calls = fake_openai.calls("/v1/audio/speech")
    # When a second job asks for the same text, voice and format
    second = finished(aws, new_job({"text": text, "voice": "echo"})["json"]["job_id"])
    # Then no piece reaches the upstream again, and the audio is the same bytes
    assert fake_openai.calls("/v1/audio/speech") == calls > 0
    first_audio = requests.get(first["result"]["audio_url"], timeout=30).content
    second_audio = requests.get(second["result"]["audio_url"], timeout=30).content
    assert first_audio == second_audio and len(first_audio) > 0


def test_another_keys_job_of_the_same_text_pays_for_its_own_pieces(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a text read by a job of key-a
    text = long_text(3_000)
    finished(aws, new_job({"text": text, "voice": "echo"})["json"]["job_id"])
    calls = fake_openai.calls("/v1/audio/speech")
    # When key-b's job asks for the same text, voice and format
    job_id = new_job({"text": text, "voice": "echo"}, api_key_id="key-b")["json"]["job_id"]
    run_worker(aws)
    status = job_status(job_id, api_key_id="key-b")["json"]
    # Then every piece is read again for key-b: key-a's cached pieces are key-a's alone
    assert status["status"] == "succeeded", status["error"]
    assert fake_openai.calls("/v1/audio/speech") == 2 * calls > 0


def test_a_piece_that_keeps_failing_fails_the_job_and_leaves_nothing_to_link(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a job of many more pieces than are read at once, and an upstream that refuses the key
    text = long_text(30_000)
    job_id = new_job({"text": text})["json"]["job_id"]
    fake_openai.fail_next(401, times=100)
    # When the worker runs the job
    status = finished(aws, job_id)
    # Then it failed with the documented code, and no audio was written
    assert status["status"] == "failed" and status["result"] is None
    assert status["error"] == {"detail": "Speech synthesis failed", "code": "upstream_auth_failed"}
    assert not [key for key in bucket_keys(aws, "results/") if not key.endswith(".json")]
    # And the caller's text is not kept after the job ended
    assert not [key for key in bucket_keys(aws, "uploads/") if key.endswith(".txt")]
    # And the pieces not yet begun were never asked for
    assert fake_openai.calls("/v1/audio/speech") <= get_settings().tts_parallel_calls
    assert len(text) // LONG_TEXT_PIECE_CHARS > get_settings().tts_parallel_calls


def test_a_gone_route_moves_the_whole_text_to_the_next_entry_so_one_voice_reads_it(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tts-1 routed to openai:tts-1, then openai:tts-1-hd, and tts-1 shut down upstream
    monkeypatch.setenv("TTS_MODEL_ROUTES", "tts-1=openai:tts-1,openai:tts-1-hd;tts-1-hd=openai:tts-1-hd")
    get_settings.cache_clear()
    fake_openai.speech_models["tts-1"] = fake_openai.today
    # When a job of several pieces runs
    status = finished(aws, new_job({"text": long_text(4_000)})["json"]["job_id"])
    # Then it succeeded, every piece read once by tts-1-hd, and the audio is only theirs
    assert status["status"] == "succeeded", status["error"]
    by_hd = [r.json["input"] for r in fake_openai.requests if r.json and r.json["model"] == "tts-1-hd"]
    assert by_hd and max(Counter(by_hd).values()) == 1
    assert sorted(" ".join(by_hd).split()) == sorted(long_text(4_000).split())
    audio = requests.get(status["result"]["audio_url"], timeout=30).content
    assert duration_seconds(audio) == pytest.approx(sum(speech_seconds(p) for p in by_hd), abs=0.1)


@pytest.fixture
def realtime_and_local(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeRealtimeServer]:
    """tts-1 read by the realtime engine (on its fake), tts-1-hd by the offline engine."""
    with FakeRealtimeServer(api_key=fake_openai.api_key) as realtime:
        monkeypatch.setenv("OPENAI_REALTIME_BASE_URL", realtime.websocket_base_url)
        monkeypatch.setenv(
            "TTS_MODEL_ROUTES", "tts-1=openai-realtime:gpt-realtime-2.1-mini;tts-1-hd=local:local"
        )
        get_settings.cache_clear()
        yield realtime


def test_every_engine_reads_a_job(aws: dict[str, str], realtime_and_local: FakeRealtimeServer) -> None:
    # Given the realtime engine (its verbatim check on every piece) and the offline engine as routes
    text = long_text(2_500)
    # When a job runs on each
    by_model = {
        model: finished(
            aws, new_job({"text": text, "model": model, "response_format": "wav"})["json"]["job_id"]
        )
        for model in ("tts-1", "tts-1-hd")
    }
    asked = realtime_and_local.received
    # Then both succeeded with wav audio of the whole text (about 15 characters a second spoken)
    for model, status in by_model.items():
        assert status["status"] == "succeeded", (model, status["error"])
        audio = requests.get(status["result"]["audio_url"], timeout=30).content
        assert audio[:4] == b"RIFF"
        assert duration_seconds(audio) == pytest.approx(status["result"]["duration_seconds"], abs=0.05)
        assert status["result"]["duration_seconds"] > len(text) / MAX_CHARS_PER_SECOND
    # And the realtime model was asked for every piece
    assert sum(1 for event in asked if getattr(event, "type", "") == "response.create") >= 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "x" * 100_001}, "text_too_long"),
        ({"text": "Hello.", "delivery": "inline"}, "invalid_field"),
        ({"text": "Hello.", "voice": "zzz"}, "unsupported_voice"),
        ({"text": " "}, "empty_field"),
    ],
    ids=["over-the-limit", "inline", "bad-voice", "blank"],
)
def test_a_bad_job_is_refused_at_once_with_a_code(
    aws: dict[str, str], body: dict[str, Any], code: str
) -> None:
    # Given a job body that cannot be read / When it is sent / Then 400 with its code, and nothing queued
    response = new_job(body)
    assert response["statusCode"] == 400 and response["json"]["code"] == code, response["json"]
    assert run_worker(aws) == 0


def test_the_job_text_limit_is_a_setting(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given TTS_JOB_MAX_CHARS=5000
    monkeypatch.setenv("TTS_JOB_MAX_CHARS", "5000")
    get_settings.cache_clear()
    # When 5,000 and 5,001 characters are sent / Then the first is queued and the second refused
    assert new_job({"text": "a" * 5_000})["statusCode"] == 202
    refused = new_job({"text": "a" * 5_001})
    assert refused["statusCode"] == 400 and refused["json"]["code"] == "text_too_long"
    assert "5,000" in refused["json"]["detail"]


def test_a_speech_job_is_the_callers_own(aws: dict[str, str], fake_openai: FakeOpenAI) -> None:
    # Given a finished job of key-a
    job_id = new_job({"text": "Hello there."})["json"]["job_id"]
    run_worker(aws)
    # When key-b asks for it / Then 404, as for an unknown job
    assert job_status(job_id, api_key_id="key-b")["statusCode"] == 404


def test_a_speech_job_on_the_dead_letter_queue_is_failed_as_speech(aws: dict[str, str]) -> None:
    # Given a queued speech job whose message ran out of retries
    job_id = new_job({"text": "Hello there."})["json"]["job_id"]
    # When the dead-letter handler takes it
    load_handler("worker").dead_letter_handler(
        {"Records": [{"messageId": "m1", "body": json.dumps({"job_id": job_id})}]}, FakeLambdaContext()
    )
    # Then the job reads failed, as a speech job
    status = job_status(job_id)["json"]
    assert status["status"] == "failed"
    assert status["error"] == {
        "detail": "Speech synthesis failed: the worker stopped before it finished",
        "code": "worker_failed",
    }


def test_realtime_pieces_are_joined_with_the_pause_the_model_trims(
    aws: dict[str, str], realtime_and_local: FakeRealtimeServer
) -> None:
    # Given tts-1 read by the realtime engine, which trims the pause after each sentence it reads
    text = long_text(2_500)
    pieces = split_text(text, LONG_TEXT_PIECE_CHARS)
    # When a job of several pieces is read
    status = finished(aws, new_job({"text": text, "response_format": "wav"})["json"]["job_id"])
    spoken = sum(len(realtime_and_local.pcm_for(piece)) for piece in pieces) / 2 / 24_000
    # Then the audio is the pieces' speech with the engine's pause between each two
    assert len(pieces) >= 3
    expected = spoken + (len(pieces) - 1) * CHUNK_GAP_SECONDS
    assert status["result"]["duration_seconds"] == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("gone", ["row-past-its-ttl", "result-deleted-by-the-bucket-rule"])
def test_an_expired_speech_job_is_a_404_not_a_500(
    aws: dict[str, str], fake_openai: FakeOpenAI, gone: str
) -> None:
    # Given a finished job whose row is past its TTL (DynamoDB deletes it days later), or whose result the
    # bucket's lifecycle rule deleted first
    job_id = new_job({"text": "Hello there."})["json"]["job_id"]
    run_worker(aws)
    session = boto3.session.Session()
    if gone == "row-past-its-ttl":
        session.client("dynamodb").update_item(
            TableName=aws["table"],
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 60)}},
        )
    else:
        session.client("s3").delete_object(Bucket=aws["bucket"], Key=f"results/{job_id}.json")
    # When it is read / Then it is the documented 404, as for any unknown job
    status = job_status(job_id)
    assert status["statusCode"] == 404 and status["json"]["code"] == "unknown_job", status["json"]
