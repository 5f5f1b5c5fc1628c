"""POST /api/tts/ through lambda_handler with API Gateway REST events, the fake OpenAI behind it."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import av
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import FakeLambdaContext, header, invoke, tts_event

VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")


def decoded_codec(audio: bytes) -> str:
    with av.open(io.BytesIO(audio)) as container:
        return str(container.streams.audio[0].codec_context.name)


@pytest.mark.parametrize("path", ["/api/tts/", "/api/tts"])
def test_the_docs_curl_example_returns_the_documented_shape(fake_openai: FakeOpenAI, path: str) -> None:
    # Given the docs' example body / When it is posted (with and without the trailing slash)
    response = invoke(
        "tts", tts_event({"text": "Hello, world!", "model": "tts-1", "voice": "alloy"}, path=path)
    )

    # Then 200 with exactly audio_base64, model and voice, the audio being mp3
    assert response["statusCode"] == 200, response["json"]
    assert set(response["json"]) == {"audio_base64", "model", "voice"}
    assert response["json"]["model"] == "tts-1" and response["json"]["voice"] == "alloy"
    assert decoded_codec(base64.b64decode(response["json"]["audio_base64"])) in ("mp3", "mp3float")
    # And the SDK sent what was asked
    sent = fake_openai.last_request.json
    assert sent is not None
    assert (sent["model"], sent["voice"], sent["input"]) == ("tts-1", "alloy", "Hello, world!")
    assert header(response, "X-Speech-Engine") == "openai:tts-1"


def test_defaults_are_tts_1_alloy_mp3(fake_openai: FakeOpenAI) -> None:
    # Given a body with only a text / When it is posted
    response = invoke("tts", tts_event({"text": "Hi"}))
    # Then it is served as tts-1 in the alloy voice
    assert response["statusCode"] == 200
    assert (response["json"]["model"], response["json"]["voice"]) == ("tts-1", "alloy")
    # And the upstream was asked for mp3 at normal speed
    sent = fake_openai.last_request.json
    assert sent is not None and sent["response_format"] == "mp3" and sent["speed"] == 1.0


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd"])
@pytest.mark.parametrize("voice", VOICES)
def test_every_documented_model_and_voice(fake_openai: FakeOpenAI, model: str, voice: str) -> None:
    # Given a documented model and voice / When speech is asked for with them
    response = invoke("tts", tts_event({"text": "Testing voices.", "model": model, "voice": voice}))
    # Then it is served under that model and voice
    assert response["statusCode"] == 200
    assert (response["json"]["model"], response["json"]["voice"]) == (model, voice)
    # And the upstream was asked for the same model and voice
    sent = fake_openai.last_request.json
    assert sent is not None and (sent["model"], sent["voice"]) == (model, voice)


@pytest.mark.parametrize(
    ("response_format", "codec"),
    [("opus", "opus"), ("aac", "aac"), ("flac", "flac"), ("wav", "pcm_s16le")],
)
def test_optional_response_format(fake_openai: FakeOpenAI, response_format: str, codec: str) -> None:
    # Given a response_format other than mp3, and a speed of 1.5 / When speech is asked for
    response = invoke("tts", tts_event({"text": "Hello", "response_format": response_format, "speed": 1.5}))
    # Then the audio decodes with that format's codec
    assert response["statusCode"] == 200
    assert decoded_codec(base64.b64decode(response["json"]["audio_base64"])) == codec
    # And the speed was passed on to the upstream
    sent = fake_openai.last_request.json
    assert sent is not None and sent["speed"] == 1.5


def test_pcm_format_is_raw_samples(fake_openai: FakeOpenAI) -> None:
    # Given response_format pcm / When speech is asked for
    response = invoke("tts", tts_event({"text": "Hello", "response_format": "pcm"}))
    audio = base64.b64decode(response["json"]["audio_base64"])
    # Then the audio is whole 16-bit samples with no WAV header
    assert response["statusCode"] == 200 and len(audio) % 2 == 0 and not audio.startswith(b"RIFF")


BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "missing_field"),
    ({"model": "tts-1"}, "missing_field"),
    ({"text": ""}, "empty_field"),
    ({"text": "   \n\t"}, "empty_field"),
    ({"text": "\u200b\u200d\ufeff"}, "empty_field"),  # zero-width characters only
    ('{"text": "a\\ud800b"}', "invalid_field"),  # a lone surrogate
    ('{"text": "hi", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid_json"),  # deep nesting
    ('{"text": "hi", "speed": ' + "1" * 5000 + "}", "invalid_json"),  # past Python's int digit limit
    ({"text": None}, "invalid_field"),
    ({"text": 42}, "invalid_field"),
    ({"text": ["a"]}, "invalid_field"),
    ({"text": "hi", "model": "tts-2"}, "unsupported_model"),
    ({"text": "hi", "model": ""}, "unsupported_model"),
    ({"text": "hi", "model": 1}, "unsupported_model"),
    ({"text": "hi", "voice": "ash"}, "unsupported_voice"),
    ({"text": "hi", "voice": "Alloy"}, "unsupported_voice"),
    ({"text": "hi", "voice": None}, "unsupported_voice"),
    ({"text": "hi", "voise": "echo"}, "unknown_field"),
    ({"text": "hi", "speed": 9}, "invalid_field"),
    ({"text": "hi", "speed": "fast"}, "invalid_field"),
    ({"text": "hi", "response_format": "ogg"}, "invalid_field"),
    ({"text": "x" * 4097}, "text_too_long"),
    ("{not json", "invalid_json"),
    ('{"text": "hi",}', "invalid_json"),
    ('["text", "hi"]', "invalid_json"),
    ('"hi"', "invalid_json"),
    ("null", "missing_field"),
    ("", "missing_field"),
    (None, "missing_field"),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
def test_bad_input_is_a_clear_400(fake_openai: FakeOpenAI, body: Any, code: str) -> None:
    # Given an invalid body / When it is posted
    response = invoke("tts", tts_event(body))
    # Then 400 with {"detail", "code"} and nothing reached the upstream
    assert response["statusCode"] == 400, response["json"]
    assert set(response["json"]) == {"detail", "code"}
    assert response["json"]["code"] == code
    assert response["json"]["detail"]
    assert fake_openai.calls() == 0


def test_a_text_too_long_for_a_request_names_the_speech_job_route(fake_openai: FakeOpenAI) -> None:
    # Given 4,097 characters / When posted to /api/tts/
    response = invoke("tts", tts_event({"text": "x" * 4097}))
    # Then the 400 names the limit and the way out
    assert response["json"] == {
        "detail": "text: at most 4096 characters; send a longer text as a speech job: POST /api/tts/jobs/",
        "code": "text_too_long",
    }


def test_error_details_do_not_echo_the_text(fake_openai: FakeOpenAI) -> None:
    # Given a private text too long to be accepted (5,600 characters)
    secret_text = "my bank password is hunter2 " * 200
    # When it is posted
    response = invoke("tts", tts_event({"text": secret_text}))
    # Then it is a 400 whose body does not repeat the text
    assert response["statusCode"] == 400
    assert "hunter2" not in response["body"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_a_non_json_content_type_is_refused(fake_openai: FakeOpenAI, content_type: str | None) -> None:
    # Given a JSON body sent with no Content-Type or a non-JSON one / When it is posted
    response = invoke("tts", tts_event({"text": "hi"}, content_type=content_type))
    # Then it is a 400 for the content type, and the upstream was never called
    assert response["statusCode"] == 400
    assert response["json"]["code"] == "unsupported_content_type"
    assert fake_openai.calls() == 0


def test_json_content_type_with_charset_and_odd_case_is_accepted(fake_openai: FakeOpenAI) -> None:
    # Given a Content-Type of Application/JSON; charset=utf-8 / When posted / Then it is served
    response = invoke("tts", tts_event({"text": "hi"}, content_type="Application/JSON; charset=utf-8"))
    assert response["statusCode"] == 200, response["json"]


def test_a_body_larger_than_lambda_carries_is_413(fake_openai: FakeOpenAI) -> None:
    # Given a JSON body of over 6 MB, Lambda's payload limit / When it is posted
    response = invoke("tts", tts_event(json.dumps({"text": "x" * (6 * 1024 * 1024 + 10)})))
    # Then it is a 413
    assert response["statusCode"] == 413
    assert response["json"]["code"] == "payload_too_large"


def test_unicode_text_reaches_the_upstream_intact(fake_openai: FakeOpenAI) -> None:
    # Given a text with accents, a dash, CJK and an emoji
    text = "Grüße aus Köln — 東京 👋"
    # When speech is asked for as written (clean_text false), then cleaned (the default)
    response = invoke("tts", tts_event({"text": text, "clean_text": False}))
    as_written = fake_openai.last_request.json
    cleaned = invoke("tts", tts_event({"text": text}))
    # Then both are served: the upstream got the text unchanged, then without the emoji alone
    assert response["statusCode"] == cleaned["statusCode"] == 200
    assert as_written is not None and as_written["input"] == text
    sent = fake_openai.last_request.json
    assert sent is not None and sent["input"] == "Grüße aus Köln — 東京"


@pytest.mark.parametrize(
    ("fault", "code"),
    [(429, "upstream_rate_limited"), (500, "upstream_error"), (503, "upstream_error")],
)
def test_upstream_failures_are_500_with_a_code(fake_openai: FakeOpenAI, fault: int, code: str) -> None:
    # Given an upstream failing more times than we retry
    fake_openai.fail_next(fault, times=10)
    # When / Then: the documented 500 with the failure's code
    response = invoke("tts", tts_event({"text": "hi"}))
    assert response["statusCode"] == 500
    assert response["json"] == {"detail": "Speech synthesis failed", "code": code}


def test_a_transient_failure_is_retried_and_served(fake_openai: FakeOpenAI) -> None:
    # Given one 503 from the upstream / When speech is asked for
    fake_openai.fail_next(503, times=1)
    response = invoke("tts", tts_event({"text": "hi"}))
    # Then it is served, on the second call
    assert response["statusCode"] == 200
    assert fake_openai.calls("/v1/audio/speech") == 2


def test_a_bad_key_is_an_auth_failure_that_does_not_leak_the_key(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function configured with a key the upstream refuses
    fake_openai.api_key = "sk-the-right-one"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456")
    # When speech is asked for
    response = invoke("tts", tts_event({"text": "hi"}))
    # Then it fails as an upstream auth failure, with the key nowhere in the answer
    assert response["json"] == {"detail": "Speech synthesis failed", "code": "upstream_auth_failed"}
    assert "sk-wrong" not in response["body"]
    assert fake_openai.calls() == 1  # auth failures are not retried


def test_a_slow_upstream_times_out_within_the_lambda_deadline(fake_openai: FakeOpenAI) -> None:
    # Given an upstream slower than the time this invocation has left
    fake_openai.delay_seconds = 5.0
    # When the Lambda has 3.5 s left (1 s margin -> 2.5 s for the upstream)
    response = invoke("tts", tts_event({"text": "hi"}), FakeLambdaContext(remaining_ms=3_500))
    # Then a timeout answer, not a hung function
    assert response["json"] == {"detail": "Speech synthesis failed", "code": "upstream_timeout"}


def test_no_key_configured_is_a_clear_500() -> None:
    # Given no OpenAI key or secret configured (the fake upstream is not used)
    # When speech is asked for / Then it fails saying the engine is not configured
    response = invoke("tts", tts_event({"text": "hi"}))
    assert response["statusCode"] == 500
    assert response["json"] == {"detail": "Speech synthesis failed", "code": "engine_not_configured"}


def test_an_unknown_path_is_a_json_404() -> None:
    # Given a path next to /api/tts / When posted to / Then a JSON 404 with the not_found code
    response = invoke("tts", tts_event({"text": "hi"}, path="/api/ttsx"))
    assert response["statusCode"] == 404 and response["json"]["code"] == "not_found"


def test_the_longest_text_is_served_within_a_deadline_one_call_would_miss(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that takes 2 ms a character (one call for 4,096 characters: ~8 s)
    fake_openai.seconds_per_input_char = 0.002
    text = ("A sentence of moderate length for the test. " * 100)[:4096]
    # When the invocation has 7 s left (6 s for the upstream)
    response = invoke("tts", tts_event({"text": text}), FakeLambdaContext(remaining_ms=7_000))
    # Then parallel chunks make it in time, and the answer is one mp3
    assert response["statusCode"] == 200, response["json"]
    assert fake_openai.calls("/v1/audio/speech") >= 4
    assert decoded_codec(base64.b64decode(response["json"]["audio_base64"])) in ("mp3", "mp3float")


@pytest.mark.parametrize("response_format", ["wav", "pcm", "flac"])
def test_lossless_audio_that_cannot_fit_is_refused_before_the_upstream_is_paid(
    fake_openai: FakeOpenAI, response_format: str
) -> None:
    # Given 4,000 characters asked for as lossless audio (minutes of it: far over 6 MB)
    # When speech is asked for
    response = invoke("tts", tts_event({"text": "Words. " * 570, "response_format": response_format}))
    # Then a 413 that says what to do, and no upstream call was made
    assert response["statusCode"] == 413
    assert response["json"]["code"] == "response_too_large"
    assert "mp3" in response["json"]["detail"]
    assert fake_openai.calls() == 0


def test_short_lossless_audio_is_served(fake_openai: FakeOpenAI) -> None:
    # Given 700 characters asked for as wav, small enough to fit / When posted / Then it is served
    response = invoke("tts", tts_event({"text": "Words. " * 100, "response_format": "wav"}))
    assert response["statusCode"] == 200, response["json"]


@pytest.mark.parametrize("body", ['[{"text": "hi"}, {"voice": "zzz"}]', '"hi"', "3", "true", "[]"])
def test_a_body_that_is_not_a_json_object_is_invalid_json(fake_openai: FakeOpenAI, body: str) -> None:
    # Given valid JSON that is not an object (a list's first element would otherwise be taken as the body)
    # When it is sent
    response = invoke("tts", tts_event(body))
    # Then it is refused before any upstream call
    assert response["statusCode"] == 400
    assert response["json"] == {"detail": "The request body must be a JSON object", "code": "invalid_json"}
    assert fake_openai.calls("/v1/audio/speech") == 0


def test_an_unknown_field_name_is_echoed_only_as_a_short_prefix() -> None:
    # Given an unknown field whose name is 100 KB long
    response = invoke("tts", tts_event({"text": "hi", "k" * 100_000: 1}))
    # When refused / Then the answer names the field by a short prefix, not whole
    assert response["statusCode"] == 400 and response["json"]["code"] == "unknown_field"
    assert response["json"]["detail"] == "k" * 40 + "…: Unknown field"
    assert len(response["body"]) < 200


@pytest.mark.parametrize(
    "raw", ['{"text": "caf\xe9"}'.encode("latin-1"), b"\xff\xfe{\x00}\x00", b"not base64 at all!"]
)
def test_a_base64_json_body_that_is_not_utf8_is_a_400(fake_openai: FakeOpenAI, raw: bytes) -> None:
    # Given a JSON body API Gateway passed base64-encoded (a binary media type) that is not UTF-8
    event = tts_event(None)
    event["body"] = base64.b64encode(raw).decode() if raw != b"not base64 at all!" else raw.decode()
    event["isBase64Encoded"] = True
    # When it is posted / Then a clear 400, not a 500, and no upstream call
    response = invoke("tts", event)
    assert response["statusCode"] == 400 and response["json"]["code"] == "malformed_body"
    assert fake_openai.calls() == 0


def test_a_base64_json_body_in_utf8_is_served(fake_openai: FakeOpenAI) -> None:
    # Given a valid JSON body passed base64-encoded / When posted / Then it is read like a text body
    event = tts_event(None)
    event["body"] = base64.b64encode(b'{"text": "Hello there."}').decode()
    event["isBase64Encoded"] = True
    assert invoke("tts", event)["statusCode"] == 200
