"""The /v1 door (OpenAI's shape) and the /api/stt/ extras through lambda_handler, the fake OpenAI behind them."""

from __future__ import annotations

import base64
import io
import json
from datetime import date
from typing import Any

import av
import pytest

from speech_common import model_routing
from speech_common.settings import get_settings
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    BOUNDARY,
    api_event,
    header,
    invoke,
    job_status,
    multipart_body,
    run_worker,
    streamed,
    stt_event,
    tts_event,
    with_api_key,
)
from tests.samples import silent_flac, tone

FORMATS = {
    "mp3": ("audio/mpeg", ("mp3", "mp3float")),
    "opus": ("audio/opus", ("opus",)),
    "aac": ("audio/aac", ("aac",)),
    "flac": ("audio/flac", ("flac",)),
    "wav": ("audio/wav", ("pcm_s16le",)),
}


def call(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The proxy response of functions/<name>, with a streamed body joined (base64) as the function sends it."""
    return streamed(name, event)


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(response["body"])
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def speech(body: dict[str, Any]) -> dict[str, Any]:
    return call("stream", tts_event(body, path="/v1/audio/speech"))


def transcription(fields: dict[str, str], audio: bytes | None = None, path: str = "/v1/audio/transcriptions"):
    files = {"file": ("speech.mp3", audio, "audio/mpeg")} if audio is not None else None
    return call("stream", stt_event(multipart_body(fields, files), path=path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_speech_answers_the_audio_itself_in_each_format(fake_openai: FakeOpenAI, fmt: str) -> None:
    # Given OpenAI's speech body / When it is posted to /v1/audio/speech
    response = speech({"model": "tts-1", "input": "Hello there", "voice": "nova", "response_format": fmt})
    # Then 200 with the audio as a base64 body that API Gateway turns into bytes, typed per format
    assert response["statusCode"] == 200, response["body"]
    assert response["isBase64Encoded"] is True
    content_type, codecs = FORMATS[fmt]
    assert header(response, "Content-Type") == content_type
    with av.open(io.BytesIO(base64.b64decode(response["body"]))) as container:
        assert container.streams.audio[0].codec_context.name in codecs
    # And the upstream was asked for the same model and voice, as PCM (streamed pieces are encoded here, once)
    sent = fake_openai.last_request.json
    assert sent is not None and (sent["model"], sent["voice"], sent["response_format"]) == (
        "tts-1",
        "nova",
        "pcm",
    )
    assert header(response, "X-Speech-Engine") == "openai:tts-1"


def test_speech_pcm_is_raw_samples(fake_openai: FakeOpenAI) -> None:
    # Given response_format pcm / When speech is asked for
    response = speech({"model": "tts-1-hd", "input": "Hi", "voice": "alloy", "response_format": "pcm"})
    # Then the body is whole 16-bit samples labelled audio/pcm
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "audio/pcm"
    audio = base64.b64decode(response["body"])
    assert len(audio) > 1000 and len(audio) % 2 == 0


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "tts-1", "input": "Hi", "voice": "ash"}, "voice", "unsupported_voice"),
        ({"model": "gpt-4o-mini-tts", "input": "Hi", "voice": "alloy"}, "model", "unsupported_model"),
        ({"model": "tts-1", "input": "x" * 4097, "voice": "alloy"}, "input", "text_too_long"),
        ({"model": "tts-1", "input": "Hi", "voice": "alloy", "speed": 9}, "speed", "invalid_field"),
        (
            {"model": "tts-1", "input": "Hi", "voice": "alloy", "instructions": "Be cheerful"},
            "instructions",
            "unsupported_parameter",
        ),
        (
            {"model": "tts-1", "input": "Hi", "voice": "alloy", "stream_format": "events"},
            "stream_format",
            "invalid_field",
        ),
        ({"model": "tts-1", "voice": "alloy"}, "input", "missing_field"),
        ({"model": "tts-1", "input": "Hi", "voice": "alloy", "voise": "x"}, "voise", "unknown_field"),
    ],
)
def test_speech_refusals_are_openai_400s_naming_the_parameter(
    fake_openai: FakeOpenAI, body: dict[str, Any], param: str, code: str
) -> None:
    # Given a body OpenAI's door cannot serve / When it is posted
    response = speech(body)
    # Then 400 in OpenAI's shape, naming the parameter, and no upstream call
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert fake_openai.calls() == 0


def test_an_upstream_rate_limit_is_a_429_with_retry_after(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that keeps answering 429 / When speech is asked for
    fake_openai.fail_next(429, times=10, retry_after=0.01)
    response = speech({"model": "tts-1", "input": "Hi", "voice": "alloy"})
    # Then 429 (the SDKs' RateLimitError, retried) with a Retry-After, in OpenAI's shape
    assert response["statusCode"] == 429
    assert header(response, "Retry-After") == "2"
    assert error_of(response)["type"] == "rate_limit_error"


def test_an_upstream_failure_is_a_500_in_openai_shape(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that keeps failing / When speech is asked for
    fake_openai.fail_next(500, times=10)
    response = speech({"model": "tts-1", "input": "Hi", "voice": "alloy"})
    # Then 500 server_error (the SDKs' InternalServerError), with our code
    assert response["statusCode"] == 500
    error = error_of(response)
    assert (error["type"], error["code"]) == ("server_error", "upstream_error")


def test_speech_wants_json(fake_openai: FakeOpenAI) -> None:
    # Given a form-encoded body / When it is posted to /v1/audio/speech
    response = call("stream", tts_event("input=hi", path="/v1/audio/speech", content_type="text/plain"))
    # Then 400 unsupported_content_type in OpenAI's shape
    assert response["statusCode"] == 400
    assert error_of(response)["code"] == "unsupported_content_type"


@pytest.mark.parametrize(
    ("response_format", "content_type", "expected"),
    [
        ("json", "application/json", '{"text":"turn left"}'),
        ("text", "text/plain; charset=utf-8", "turn left\n"),
    ],
)
def test_transcriptions_answer_json_and_text(
    fake_openai: FakeOpenAI, response_format: str, content_type: str, expected: str
) -> None:
    # Given an upstream that hears "turn left" / When a file is posted with a response_format
    fake_openai.transcript = "turn left"
    response = transcription({"model": "whisper-1", "response_format": response_format}, tone("mp3"))
    # Then the transcript in that format, as OpenAI answers it
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "Content-Type") == content_type
    assert response["body"] == expected


def test_transcription_parameters_reach_the_upstream(fake_openai: FakeOpenAI) -> None:
    # Given language, prompt, temperature and timestamp granularities / When a file is posted
    fields = {"model": "whisper-1", "language": "fr", "prompt": "Glossary: Lyon", "temperature": "0.2"}
    body = multipart_body(fields, {"file": ("a.wav", tone("wav"), "audio/wav")})
    repeated = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="timestamp_granularities[]"\r\n\r\n{value}\r\n'.encode()
        for value in ("segment", "word")
    )
    body = repeated + body  # the SDK sends a list as the same field repeated
    response = call("stream", stt_event(body, path="/v1/audio/transcriptions"))
    # Then 200, and the upstream heard the language, prompt and temperature
    assert response["statusCode"] == 200, response["body"]
    form = fake_openai.last_request.form
    assert (form["language"], form["prompt"], form["temperature"]) == ("fr", "Glossary: Lyon", "0.2")


# Two segments, the second past the first hour (the fake's whisper-1 answers verbose_json with them).
TWO_SEGMENTS = [(0.0, 1.5, "Turn left."), (3661.25, 3663.0, "Then right.")]
SRT = "1\n00:00:00,000 --> 00:00:01,500\nTurn left.\n\n2\n01:01:01,250 --> 01:01:03,000\nThen right.\n\n"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nTurn left.\n\n01:01:01.250 --> 01:01:03.000\nThen right.\n\n"
# Each subtitle format with the content type OpenAI labels it with, and what those two segments give.
SUBTITLES = [("srt", "text/plain; charset=utf-8", SRT), ("vtt", "text/vtt; charset=utf-8", VTT)]


@pytest.fixture
def two_segments(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.transcript = "Turn left. Then right."
    fake_openai.segmenter = lambda _audio: TWO_SEGMENTS
    return fake_openai


def granularities(*values: str) -> bytes:
    """timestamp_granularities[] as the SDK sends a list: the field repeated."""
    return b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="timestamp_granularities[]"\r\n\r\n{value}\r\n'.encode()
        for value in values
    )


@pytest.mark.parametrize(("response_format", "content_type", "expected"), SUBTITLES)
def test_subtitles_are_written_from_whisper_1_segments_as_openai_writes_them(
    two_segments: FakeOpenAI, response_format: str, content_type: str, expected: str
) -> None:
    # Given an upstream whisper-1 that hears two segments / When a file is posted for subtitles
    response = transcription({"model": "whisper-1", "response_format": response_format}, tone("mp3"))
    # Then the subtitles, hours and all, with OpenAI's content type
    assert response["statusCode"] == 200, response["body"]
    assert (header(response, "Content-Type"), response["body"]) == (content_type, expected)
    assert header(response, "X-Speech-Engine") == "openai:whisper-1"
    # And whisper-1 was asked for verbose_json with segment timings
    form = two_segments.last_request.form
    assert (form["response_format"], form["timestamp_granularities[]"]) == ("verbose_json", ["segment"])


def test_verbose_json_has_openais_segments(two_segments: FakeOpenAI) -> None:
    # Given an upstream whisper-1 that hears two segments / When verbose_json is asked for
    response = transcription({"model": "whisper-1", "response_format": "verbose_json"}, tone("mp3"))
    # Then OpenAI's TranscriptionVerbose: task, language, duration, text and the segments, no words
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "Content-Type") == "application/json"
    body = json.loads(response["body"])
    assert set(body) == {"task", "language", "duration", "text", "segments"}
    assert (body["task"], body["language"], body["text"]) == (
        "transcribe",
        "english",
        "Turn left. Then right.",
    )
    assert body["duration"] == pytest.approx(
        duration_seconds(tone("mp3")), abs=0.05
    )  # the fake measures the file
    assert [(s["id"], s["start"], s["end"], s["text"]) for s in body["segments"]] == [
        (0, 0.0, 1.5, "Turn left."),
        (1, 3661.25, 3663.0, "Then right."),
    ]
    assert set(body["segments"][0]) == {
        "id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio",
        "no_speech_prob",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "keys"),
    [(("word",), {"words"}), (("segment", "word"), {"segments", "words"})],
)
def test_verbose_json_gives_words_when_asked_for(
    two_segments: FakeOpenAI, asked: tuple[str, ...], keys: set[str]
) -> None:
    # Given word timings asked for (alone, or with segments)
    body = granularities(*asked) + multipart_body(
        {"model": "whisper-1", "response_format": "verbose_json"},
        {"file": ("a.mp3", tone("mp3"), "audio/mpeg")},
    )
    # When the file is posted
    response = call("stream", stt_event(body, path="/v1/audio/transcriptions"))
    # Then the words (and the segments only when asked for too), whisper-1 asked for both
    assert response["statusCode"] == 200, response["body"]
    answer = json.loads(response["body"])
    assert set(answer) == {"task", "language", "duration", "text"} | keys
    assert [w["word"] for w in answer["words"]] == ["Turn", "left.", "Then", "right."]
    assert answer["words"][2] == {"word": "Then", "start": 3661.25, "end": 3662.125}
    assert two_segments.last_request.form["timestamp_granularities[]"] == ["segment", "word"]


def test_a_timed_format_passes_over_an_entry_that_gives_no_timings(
    two_segments: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given whisper-1 routed to gpt-transcribe first, then whisper-1
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:gpt-transcribe,openai:whisper-1")
    get_settings.cache_clear()
    # When srt is asked for, then json
    srt = transcription({"model": "whisper-1", "response_format": "srt"}, tone("mp3"))
    plain = transcription({"model": "whisper-1"}, tone("mp3"))
    # Then srt came from whisper-1 alone (gpt-transcribe was not asked), json from gpt-transcribe
    assert (srt["statusCode"], srt["body"]) == (200, SRT)
    assert header(srt, "X-Speech-Engine") == "openai:whisper-1"
    assert [r.model for r in two_segments.requests] == ["whisper-1", "gpt-transcribe"]
    assert header(plain, "X-Speech-Engine") == "openai:gpt-transcribe"


@pytest.mark.parametrize("response_format", ["srt", "vtt", "verbose_json"])
def test_timed_formats_are_refused_before_any_call_when_no_entry_gives_timings(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, response_format: str
) -> None:
    # Given whisper-1 routed to gpt-transcribe alone
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:gpt-transcribe")
    get_settings.cache_clear()
    # When a timed format is asked for
    response = transcription({"model": "whisper-1", "response_format": response_format}, tone("mp3"))
    # Then 400 unsupported_response_format naming the parameter and why, and no upstream call
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == ("response_format", "unsupported_response_format")
    assert "openai:gpt-transcribe gives the text alone" in error["message"]
    assert fake_openai.calls() == 0


def test_timed_formats_are_refused_once_whisper_1_is_shut_down(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the default route (whisper-1, then gpt-transcribe) on whisper-1's shutdown day
    monkeypatch.setattr(model_routing, "utc_today", lambda: date(2027, 2, 26))
    # When srt is asked for
    response = transcription({"model": "whisper-1", "response_format": "srt"}, tone("mp3"))
    # Then 400 saying that whisper-1 is shut down and gpt-transcribe gives no timings, before any call
    assert response["statusCode"] == 400
    message = error_of(response)["message"]
    assert "openai:whisper-1 was shut down on 2027-02-26" in message
    assert "openai:gpt-transcribe gives the text alone" in message
    assert fake_openai.calls() == 0


@pytest.mark.parametrize(
    ("fields", "audio", "param", "code"),
    [
        ({"model": "whisper-1"}, None, "file", "missing_field"),
        ({"model": "whisper-1"}, b"not audio at all", "file", "unsupported_audio"),
        ({"model": "whisper-1"}, b"", "file", "empty_audio"),
        ({"model": "gpt-4o-transcribe"}, tone("mp3"), "model", "unsupported_model"),
        ({}, tone("mp3"), "model", "missing_field"),
        ({"model": "whisper-1", "stream": "maybe"}, tone("mp3"), "stream", "invalid_field"),
        (
            {"model": "whisper-1", "chunking_strategy[type]": "server_vad"},
            tone("mp3"),
            "chunking_strategy[type]",
            "unknown_field",
        ),
    ],
)
def test_transcription_refusals_name_the_parameter(
    fake_openai: FakeOpenAI, fields: dict[str, str], audio: bytes | None, param: str, code: str
) -> None:
    # Given a form the door cannot serve / When it is posted
    response = transcription(fields, audio)
    # Then 400 in OpenAI's shape naming the parameter
    assert response["statusCode"] == 400, response["body"]
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, code)


def test_translations_answer_a_clear_documented_error(fake_openai: FakeOpenAI) -> None:
    # Given OpenAI's translations form / When it is posted
    response = transcription({"model": "whisper-1"}, tone("mp3"), path="/v1/audio/translations")
    # Then 404 unsupported_endpoint saying why, and no upstream call
    assert response["statusCode"] == 404
    error = error_of(response)
    assert error["code"] == "unsupported_endpoint" and "2027-02-26" in error["message"]
    assert fake_openai.calls() == 0


def test_models_lists_the_public_models() -> None:
    # Given the jobs function / When GET /v1/models
    response = call("jobs", api_event("GET", "/v1/models", content_type=None))
    # Then OpenAI's list object with the four public models
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["object"] == "list"
    assert sorted(card["id"] for card in body["data"]) == [
        "gpt-4o-transcribe-diarize",
        "tts-1",
        "tts-1-hd",
        "whisper-1",
    ]
    assert all(card["object"] == "model" and isinstance(card["created"], int) for card in body["data"])


def test_one_model_and_an_unknown_one() -> None:
    # Given the jobs function / When one public model, then an unknown one, is asked for
    known = call("jobs", api_event("GET", "/v1/models/tts-1-hd", content_type=None))
    unknown = call("jobs", api_event("GET", "/v1/models/gpt-5", content_type=None))
    # Then the model's card, and a 404 model_not_found in OpenAI's shape
    assert known["statusCode"] == 200 and json.loads(known["body"])["id"] == "tts-1-hd"
    assert unknown["statusCode"] == 404
    assert error_of(unknown)["code"] == "model_not_found"


def test_each_door_answers_an_unknown_path_in_its_own_shape() -> None:
    # Given the jobs function / When an unknown /v1 path and an unknown /api path are asked for
    v1 = call("jobs", api_event("GET", "/v1/embeddings", content_type=None))
    api = call("jobs", api_event("GET", "/api/nothing", content_type=None))
    # Then each is a 404 in its door's shape
    assert v1["statusCode"] == api["statusCode"] == 404
    assert error_of(v1)["code"] == "not_found"
    assert json.loads(api["body"]) == {
        "detail": "No such route; use POST /api/stt/ or POST /api/tts/",
        "code": "not_found",
    }


# --- /api/stt/ extras: prompt and response_format --------------------------------------------------


def api_stt(fields: dict[str, str]) -> dict[str, Any]:
    body = multipart_body({"model": "whisper-1", **fields}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    return call("stt", stt_event(body))


def test_api_stt_default_answer_is_unchanged(fake_openai: FakeOpenAI) -> None:
    # Given no extras / When a file is posted to /api/stt/
    fake_openai.transcript = "turn left"
    response = api_stt({})
    # Then exactly the documented {"transcript", "model"}
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"transcript": "turn left", "model": "whisper-1"}


def test_api_stt_text_format_and_prompt(fake_openai: FakeOpenAI) -> None:
    # Given response_format text and a prompt / When a file is posted to /api/stt/
    fake_openai.transcript = "turn left"
    response = api_stt({"response_format": "text", "prompt": "Directions"})
    # Then the transcript alone as text, and the prompt reached the upstream
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "text/plain; charset=utf-8"
    assert response["body"] == "turn left"
    assert fake_openai.last_request.form["prompt"] == "Directions"


@pytest.mark.parametrize(("response_format", "content_type", "expected"), SUBTITLES)
def test_api_stt_answers_subtitles(
    two_segments: FakeOpenAI, response_format: str, content_type: str, expected: str
) -> None:
    # Given an upstream whisper-1 that hears two segments / When /api/stt/ is asked for subtitles
    response = api_stt({"response_format": response_format})
    # Then the same subtitles as /v1 gives
    assert response["statusCode"] == 200, response["body"]
    assert (header(response, "Content-Type"), response["body"]) == (content_type, expected)


def test_api_stt_verbose_json_is_the_documented_answer_with_timings(two_segments: FakeOpenAI) -> None:
    # Given an upstream whisper-1 that hears two segments / When /api/stt/ is asked for verbose_json
    response = api_stt({"response_format": "verbose_json"})
    # Then {"transcript", "model"} with the language, the duration and OpenAI's segments
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    assert set(body) == {"transcript", "model", "language", "duration", "segments"}
    assert (body["transcript"], body["model"], body["language"]) == (
        "Turn left. Then right.",
        "whisper-1",
        "en",  # /api names it by its ISO-639-1 code; whisper-1 said "english"
    )
    assert [(s["id"], s["start"], s["text"]) for s in body["segments"]] == [
        (0, 0.0, "Turn left."),
        (1, 3661.25, "Then right."),
    ]


def test_api_stt_refuses_timed_formats_in_its_shape_when_no_entry_gives_timings(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given whisper-1 routed to gpt-transcribe alone / When /api/stt/ is asked for vtt
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:gpt-transcribe")
    get_settings.cache_clear()
    response = api_stt({"response_format": "vtt"})
    # Then 400 {"detail", "code"} and no upstream call
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert set(body) == {"detail", "code"} and body["code"] == "unsupported_response_format"
    assert "gpt-transcribe" in body["detail"]
    assert fake_openai.calls() == 0


def test_api_stt_timed_formats_from_the_local_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given whisper-1 routed to the offline engine, and speech made by it after a second of silence
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=local:local")
    get_settings.cache_clear()
    spoken = stt_engine_speech("Seven green apples fell from the tree.")
    body = multipart_body(
        {"response_format": "verbose_json", "language": "en"}, {"audio": ("a.wav", spoken, "audio/wav")}
    )
    # When /api/stt/ is asked for verbose_json, then srt
    verbose = call("stt", stt_event(body))
    srt = call("stt", stt_event(body.replace(b"verbose_json", b"srt")))
    # Then segments that start after the silence, served by the local engine, and srt cues from them
    assert verbose["statusCode"] == 200, verbose["body"]
    answer = json.loads(verbose["body"])
    assert header(verbose, "X-Speech-Engine") == "local:local" and answer["language"] == "en"
    assert answer["segments"] and 0.5 <= answer["segments"][0]["start"] <= 1.7
    assert "seven" in answer["transcript"].lower()
    assert srt["statusCode"] == 200 and srt["body"].startswith("1\n00:00:0")
    assert answer["segments"][0]["text"].strip() in srt["body"]


def stt_engine_speech(text: str) -> bytes:
    """wav of the local engine's voice saying `text`, after a second of silence."""
    from speech_common.deadline import Deadline
    from speech_common.engines import tts_engine
    from speech_common.engines.base import SpeechRequest
    from speech_common.transcode import OUTPUT_SAMPLE_RATE, encode_pcm

    pcm = tts_engine("local", get_settings()).synthesize(
        SpeechRequest(text=text, voice="alloy", response_format="pcm"),
        upstream_model="tts-1",
        deadline=Deadline(30),
    )
    return encode_pcm(bytes(OUTPUT_SAMPLE_RATE * 2) + pcm, sample_rate=OUTPUT_SAMPLE_RATE, fmt="wav")


# --- /api/stt/jobs/: the same extras, the result as JSON -------------------------------------------


def stt_job(fields: dict[str, str]) -> dict[str, Any]:
    body = multipart_body({"model": "whisper-1", **fields}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    return invoke("stt", with_api_key(stt_event(body, path="/api/stt/jobs/"), "key-a"))


def finished_job(aws: dict[str, str], fields: dict[str, str]) -> dict[str, Any]:
    accepted = stt_job(fields)
    assert accepted["statusCode"] == 202, accepted["json"]
    assert run_worker(aws) == 1
    status: dict[str, Any] = job_status(accepted["json"]["job_id"])["json"]
    assert status["status"] == "succeeded", status
    return status


@pytest.mark.parametrize(("response_format", "expected"), [("srt", SRT), ("vtt", VTT)])
def test_a_job_gives_subtitles_in_its_result(
    aws: dict[str, str], two_segments: FakeOpenAI, response_format: str, expected: str
) -> None:
    # Given an upstream whisper-1 that hears two segments, the second past the first hour
    # When a job is asked for subtitles and the worker runs
    status = finished_job(aws, {"response_format": response_format})
    # Then its result holds the transcript, its language and the same subtitles /api/stt/ answers
    assert status["result"] == {
        "transcript": "Turn left. Then right.",
        "model": "whisper-1",
        "language": "en",
        "response_format": response_format,
        "subtitles": expected,
    }


def test_a_job_gives_verbose_json_as_api_stt_does(aws: dict[str, str], two_segments: FakeOpenAI) -> None:
    # Given an upstream whisper-1 that hears two segments / When a job is asked for verbose_json
    status = finished_job(aws, {"response_format": "verbose_json"})
    answer = api_stt({"response_format": "verbose_json"})
    # Then its result is the answer /api/stt/ gives for the same recording
    assert status["result"] == json.loads(answer["body"])
    assert [s["start"] for s in status["result"]["segments"]] == [0.0, 3661.25]


def test_a_jobs_prompt_reaches_the_upstream_and_text_is_the_plain_result(
    aws: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    # Given a prompt and response_format text / When a job runs
    fake_openai.transcript = "turn left"
    status = finished_job(aws, {"prompt": "Directions", "response_format": "text"})
    # Then the upstream got the prompt, and the result is the documented one (a job's result is JSON), with the
    # language whisper-1 heard ("english") as its code
    assert fake_openai.last_request.form["prompt"] == "Directions"
    assert status["result"] == {"transcript": "turn left", "model": "whisper-1", "language": "en"}


def test_a_job_for_timings_no_entry_gives_is_refused_before_it_is_queued(
    aws: dict[str, str], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given whisper-1 routed to gpt-transcribe alone (text only)
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:gpt-transcribe")
    get_settings.cache_clear()
    # When a job is asked for srt
    response = stt_job({"response_format": "srt"})
    # Then 400 unsupported_response_format at once, and nothing is queued or called
    assert response["statusCode"] == 400
    assert response["json"]["code"] == "unsupported_response_format"
    assert "gpt-transcribe" in response["json"]["detail"]
    assert run_worker(aws) == 0
    assert fake_openai.calls() == 0


@pytest.mark.parametrize("stream", ["false", "true"])
def test_a_transcription_past_the_cap_is_refused_in_openai_shape_before_any_call(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, stream: str
) -> None:
    # Given a synchronous cap of one minute and a small FLAC that decodes to ten
    monkeypatch.setenv("SYNC_MAX_AUDIO_SECONDS", "60")
    get_settings.cache_clear()
    # When it is posted to /v1/audio/transcriptions (streamed or not)
    response = transcription({"model": "whisper-1", "stream": stream}, silent_flac(600))
    # Then OpenAI's error shape, audio_too_long, and nothing was sent upstream
    assert response["statusCode"] == 400
    assert error_of(response)["code"] == "audio_too_long"
    assert fake_openai.calls("/v1/audio/transcriptions") == 0
