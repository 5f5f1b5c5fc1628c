"""Speakers through both doors: /api's diarize=true (sync and jobs: segments, srt, vtt), /v1's diarized_json."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from speech_common.settings import get_settings
from speech_common.transcode import encode_pcm
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    FakeLambdaContext,
    job_status,
    load_handler,
    multipart_body,
    run_worker,
    stt_event,
    with_api_key,
)
from tests.integration.test_diarization import FORTY_MINUTES, meeting, true_labels, voice_at
from tests.integration.test_openai_door import call, error_of
from tests.integration.test_uploads_and_jobs import new_upload, send_file, stt_with
from tests.tone_speech import RATE, conversation, diarize

TRANSCRIPTIONS = "/v1/audio/transcriptions"
# Two voices, the second one first: A is voice 1, B voice 0.
TURNS = [(1, ["alpha", "bravo", "charlie"]), (0, ["delta", "echo"]), (1, ["golf"]), (0, ["hotel", "alpha"])]


@pytest.fixture
def diarizing(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.diarizer = diarize
    return fake_openai


def flac(turns: list[tuple[int, list[str]]]) -> bytes:
    return encode_pcm(conversation(turns), sample_rate=RATE, fmt="flac", output_rate=RATE)


def api_stt(fields: dict[str, str], audio: bytes, path: str = "/api/stt/") -> dict[str, Any]:
    """The STT function's answer, its JSON body under "json" (None for a text body: srt, vtt)."""
    body = multipart_body(fields, {"audio": ("meeting.flac", audio, "audio/flac")})
    event = with_api_key(stt_event(body, path=path), "key-a")
    response: dict[str, Any] = load_handler("stt").lambda_handler(event, FakeLambdaContext())
    try:
        response["json"] = json.loads(response["body"])
    except ValueError:
        response["json"] = None
    return response


def v1(fields: dict[str, str | list[str]], audio: bytes) -> dict[str, Any]:
    """POST /v1/audio/transcriptions to the stream function; list values as repeated fields (name[])."""
    from tests.helpers import BOUNDARY

    out = bytearray()
    for name, value in fields.items():
        for one in [value] if isinstance(value, str) else value:
            out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{one}\r\n'.encode()
    out += multipart_body({}, {"file": ("meeting.flac", audio, "audio/flac")})
    return call("stream", stt_event(bytes(out), path=TRANSCRIPTIONS))


def body_of(response: dict[str, Any]) -> Any:
    raw = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"].encode()
    return json.loads(raw)


# --- /api ----------------------------------------------------------------------------------------------------------


def test_api_diarize_true_gives_each_segment_its_speaker(diarizing: FakeOpenAI) -> None:
    # Given a short two-voice recording
    # When /api/stt/ is asked for verbose_json with diarize=true
    response = api_stt({"diarize": "true", "response_format": "verbose_json"}, flac(TURNS))
    # Then each segment names its speaker, A the voice heard first, served by the speaker model
    assert response["statusCode"] == 200, response["json"]
    segments = response["json"]["segments"]
    assert [(s["text"], s["speaker"]) for s in segments] == [
        ("alpha bravo charlie", "A"),
        ("delta echo", "B"),
        ("golf", "A"),
        ("hotel alpha", "B"),
    ]
    assert response["json"]["model"] == "gpt-4o-transcribe-diarize"
    # And the upstream was asked diarized_json, with chunking on
    sent = diarizing.last_request.form
    assert sent["model"] == "gpt-4o-transcribe-diarize" and sent["response_format"] == "diarized_json"
    assert sent["chunking_strategy"] == "auto"


def test_without_diarize_segments_have_no_speaker_key(fake_openai: FakeOpenAI) -> None:
    # Given a recording / When /api/stt/ is asked for verbose_json without diarize
    response = api_stt({"response_format": "verbose_json"}, flac(TURNS))
    # Then its segments are as before: no speaker, not even null
    assert response["statusCode"] == 200, response["json"]
    assert all("speaker" not in s for s in response["json"]["segments"])


@pytest.mark.parametrize(
    ("fmt", "first_cue"),
    [
        ("vtt", "00:00:00.000 --> 00:00:03.000\n<v A>alpha bravo charlie\n"),
        ("srt", "1\n00:00:00,000 --> 00:00:03,000\nA: alpha bravo charlie\n"),
    ],
)
def test_subtitles_carry_the_speaker(diarizing: FakeOpenAI, fmt: str, first_cue: str) -> None:
    # Given the two-voice recording / When subtitles are asked for with diarize=true
    response = api_stt({"diarize": "true", "response_format": fmt}, flac(TURNS))
    # Then each cue names its speaker: a WebVTT voice tag, or an "A: " prefix in srt
    assert response["statusCode"] == 200
    body = response["body"]
    assert first_cue in body
    assert ("<v B>delta echo" if fmt == "vtt" else "B: delta echo") in body


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"diarize": "true"}, "verbose_json, srt or vtt"),
        ({"diarize": "true", "response_format": "vtt", "prompt": "Names: Ada"}, "no prompt"),
    ],
)
def test_api_diarize_with_what_it_cannot_do_is_a_400_before_any_call(
    fake_openai: FakeOpenAI, fields: dict[str, str], why: str
) -> None:
    # Given diarize=true with json (no segments to label) or a prompt (the model takes none)
    # When /api/stt/ is called
    response = api_stt(fields, flac(TURNS))
    # Then 400 unsupported_diarization saying why, nothing sent upstream
    assert response["statusCode"] == 400
    assert response["json"]["code"] == "unsupported_diarization" and why in response["json"]["detail"]
    assert fake_openai.calls() == 0


def test_the_offline_engine_refuses_diarize_on_api_and_jobs_before_any_call(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the offline engine serving transcriptions (make serve without a key)
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=local:local")
    get_settings.cache_clear()
    # When speakers are asked for, now and as a job
    now = api_stt({"diarize": "true", "response_format": "vtt"}, flac(TURNS))
    job = api_stt({"diarize": "true", "response_format": "vtt"}, flac(TURNS), path="/api/stt/jobs/")
    # Then both are 400 unsupported_diarization naming the engine; no job is queued
    for response in (now, job):
        assert response["statusCode"] == 400, response["json"]
        assert response["json"]["code"] == "unsupported_diarization"
        assert "local:local cannot tell speakers apart" in response["json"]["detail"]
    assert run_worker(aws) == 0


def test_a_forty_minute_meeting_as_a_job_keeps_one_label_per_voice(
    aws: dict[str, str], diarizing: FakeOpenAI
) -> None:
    # Given a 40-minute two-voice meeting, uploaded
    audio, timeline = meeting(FORTY_MINUTES, (1, 0))
    upload = new_upload()
    assert send_file(upload, audio).status_code == 204
    # When it is transcribed as a job with diarize=true, and the worker runs
    accepted = stt_with(
        {"upload_id": upload["upload_id"], "diarize": "true", "response_format": "verbose_json"},
        path="/api/stt/jobs/",
    )
    assert accepted["statusCode"] == 202, accepted["json"]
    run_worker(aws, FakeLambdaContext(remaining_ms=900_000))
    # Then the job succeeded in several pieces, and at least 95% of its segments carry the right label
    status = job_status(accepted["json"]["job_id"])["json"]
    assert status["status"] == "succeeded", status
    assert diarizing.calls(TRANSCRIPTIONS) >= 4
    labels = true_labels(timeline)
    segments = status["result"]["segments"]
    right = sum(1 for s in segments if s["speaker"] == labels[voice_at(timeline, s["start"])])
    assert right / len(segments) >= 0.95, f"{right} of {len(segments)}"
    assert {s["speaker"] for s in segments} == {"A", "B"}


# --- /v1 -----------------------------------------------------------------------------------------------------------


def test_v1_diarized_json_is_openais_shape(diarizing: FakeOpenAI) -> None:
    # Given the two-voice recording
    # When /v1 is asked for gpt-4o-transcribe-diarize's diarized_json
    response = v1({"model": "gpt-4o-transcribe-diarize", "response_format": "diarized_json"}, flac(TURNS))
    # Then it is OpenAI's TranscriptionDiarized: task, duration, text, segments with type, id, speaker
    assert response["statusCode"] == 200, response
    body = body_of(response)
    assert set(body) == {"task", "duration", "text", "segments"} and body["task"] == "transcribe"
    assert body["text"] == "alpha bravo charlie delta echo golf hotel alpha"
    first = body["segments"][0]
    assert set(first) == {"type", "id", "start", "end", "text", "speaker"}
    assert (first["type"], first["id"], first["speaker"]) == ("transcript.text.segment", "seg_0", "A")
    assert [s["speaker"] for s in body["segments"]] == ["A", "B", "A", "B"]


def test_v1_known_speakers_are_passed_and_named(diarizing: FakeOpenAI) -> None:
    # Given a reference clip of the voice that speaks second, named "agent"
    clip = flac([(0, ["alpha", "bravo", "charlie"])])
    reference = "data:audio/flac;base64," + base64.b64encode(clip).decode()
    fields: dict[str, str | list[str]] = {
        "model": "gpt-4o-transcribe-diarize",
        "response_format": "diarized_json",
        "known_speaker_names[]": ["agent"],
        "known_speaker_references[]": [reference],
    }
    # When /v1 is asked for diarized_json with it
    response = v1(fields, flac(TURNS))
    # Then that voice is called agent, the other A, as OpenAI names them
    assert response["statusCode"] == 200, response
    assert [s["speaker"] for s in body_of(response)["segments"]] == ["A", "agent", "A", "agent"]
    assert diarizing.last_request.form["known_speaker_names[]"] == ["agent"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "whisper-1", "response_format": "diarized_json"}, "response_format"),
        ({"model": "gpt-4o-transcribe-diarize", "response_format": "verbose_json"}, "response_format"),
        ({"model": "gpt-4o-transcribe-diarize", "response_format": "diarized_json", "prompt": "x"}, "prompt"),
        (
            {
                "model": "gpt-4o-transcribe-diarize",
                "response_format": "diarized_json",
                "known_speaker_names[]": "a",
            },
            "known_speaker_references[]",
        ),
    ],
)
def test_v1_what_the_diarize_model_cannot_do_is_a_400_before_any_call(
    fake_openai: FakeOpenAI, fields: dict[str, str], param: str
) -> None:
    # Given a request the diarizing model does not take
    # When it is sent to /v1
    response = v1(dict(fields), flac(TURNS))
    # Then OpenAI's 400 naming the parameter, nothing sent upstream
    assert response["statusCode"] == 400, response
    assert error_of(response)["param"] == param
    assert fake_openai.calls() == 0


def test_v1_diarize_model_json_is_its_text(diarizing: FakeOpenAI) -> None:
    # Given the diarizing model asked for plain json
    # When /v1 is called
    response = v1({"model": "gpt-4o-transcribe-diarize"}, flac(TURNS))
    # Then the text alone, and the upstream still got a chunking_strategy
    assert response["statusCode"] == 200, response
    assert body_of(response) == {"text": "alpha bravo charlie delta echo golf hotel alpha"}
    assert diarizing.last_request.form["chunking_strategy"] == "auto"


def test_v1_streamed_diarized_json_gives_segment_events_as_openai_does(diarizing: FakeOpenAI) -> None:
    # Given the two-voice recording
    # When /v1 is asked for diarized_json with stream=true
    fields = {"model": "gpt-4o-transcribe-diarize", "response_format": "diarized_json", "stream": "true"}
    response = v1(fields, flac(TURNS))
    # Then server-sent events: per segment a delta (with its segment_id) and a transcript.text.segment, then done
    assert response["statusCode"] == 200, response
    raw = base64.b64decode(response["body"]).decode()
    events = [json.loads(line.removeprefix("data: ")) for line in raw.split("\n\n") if line]
    assert [e["type"] for e in events[:2]] == ["transcript.text.delta", "transcript.text.segment"]
    assert events[0] == {
        "type": "transcript.text.delta",
        "delta": "alpha bravo charlie",
        "segment_id": "seg_0",
    }
    segments = [e for e in events if e["type"] == "transcript.text.segment"]
    assert [(s["id"], s["speaker"]) for s in segments] == [
        ("seg_0", "A"),
        ("seg_1", "B"),
        ("seg_2", "A"),
        ("seg_3", "B"),
    ]
    assert events[-1] == {
        "type": "transcript.text.done",
        "text": "alpha bravo charlie delta echo golf hotel alpha",
    }
