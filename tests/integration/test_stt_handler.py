"""POST /api/stt/ through lambda_handler with API Gateway REST events, the fake OpenAI behind it."""

from __future__ import annotations

import pytest

from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import BOUNDARY, FakeLambdaContext, header, invoke, multipart_body, stt_event
from tests.samples import UPLOAD_FORMATS, silent_flac, tone, wav_declaring


def upload(fmt: str = "mp3", *, filename: str | None = None, model: str | None = "whisper-1") -> bytes:
    fields = {"model": model} if model is not None else {}
    data = tone(fmt)
    return multipart_body(
        fields, {"audio": (filename or f"audio_file.{fmt}", data, "application/octet-stream")}
    )


@pytest.mark.parametrize("path", ["/api/stt/", "/api/stt"])
def test_the_docs_curl_example_returns_the_documented_shape(fake_openai: FakeOpenAI, path: str) -> None:
    # Given an mp3 uploaded as in the docs (-F audio=@audio_file.mp3 -F model=whisper-1)
    fake_openai.transcript = "Transcribed text from audio"
    # When it is posted
    response = invoke("stt", stt_event(upload("mp3"), path=path))
    # Then 200 with exactly transcript and model
    assert response["statusCode"] == 200, response["json"]
    assert response["json"] == {"transcript": "Transcribed text from audio", "model": "whisper-1"}
    assert header(response, "X-Speech-Engine") == "openai:whisper-1"
    # And the SDK sent the model and the very bytes, named by their real format
    sent = fake_openai.last_request
    assert sent.model == "whisper-1"
    assert sent.file_bytes == tone("mp3")
    assert sent.file_name == "audio.mp3" and sent.file_content_type == "audio/mpeg"


def test_model_defaults_to_whisper_1(fake_openai: FakeOpenAI) -> None:
    # Given an upload with no model field / When it is posted
    response = invoke("stt", stt_event(upload(model=None)))
    # Then it is served as whisper-1, and whisper-1 is what the upstream was asked for
    assert response["statusCode"] == 200
    assert response["json"]["model"] == "whisper-1"
    assert fake_openai.last_request.model == "whisper-1"


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_each_upload_format_is_sent_with_a_matching_extension(fake_openai: FakeOpenAI, fmt: str) -> None:
    # Given a file whose name lies about its format / When it is posted
    response = invoke("stt", stt_event(upload(fmt, filename="recording.bin")))
    # Then the upstream still gets the right extension, from the content
    assert response["statusCode"] == 200, response["json"]
    assert fake_openai.last_request.file_name == f"audio.{fmt}"


def test_optional_language_is_passed_on(fake_openai: FakeOpenAI) -> None:
    # Given a wav upload with language=de
    body = multipart_body({"language": "de"}, {"audio": ("a.wav", tone("wav"), "audio/wav")})
    # When it is posted
    response = invoke("stt", stt_event(body))
    # Then it is served and the upstream got the language
    assert response["statusCode"] == 200
    assert fake_openai.last_request.form.get("language") == "de"


def test_a_body_api_gateway_did_not_base64_encode_is_never_a_500(fake_openai: FakeOpenAI) -> None:
    # A deployment without BinaryMediaTypes passes text; a pure-text form must still work or fail clearly.
    # Given a wav upload in an event whose body is not base64-encoded
    body = multipart_body({"model": "whisper-1"}, {"audio": ("a.wav", tone("wav"), "audio/wav")})
    # When it is posted
    response = invoke("stt", stt_event(body, base64_encoded=False))
    # Then it is served or refused as a 400, in the documented shape either way
    assert response["statusCode"] in (200, 400)
    assert set(response["json"]) in ({"transcript", "model"}, {"detail", "code"})


MALFORMED: list[tuple[bytes, str, str]] = [
    # (body, content type, expected code)
    (upload(), "multipart/form-data", "malformed_multipart"),  # no boundary
    (upload()[:200], f"multipart/form-data; boundary={BOUNDARY}", "malformed_multipart"),  # truncated
    (b"", f"multipart/form-data; boundary={BOUNDARY}", "malformed_multipart"),
    (b"just some bytes", f"multipart/form-data; boundary={BOUNDARY}", "malformed_multipart"),
    (upload(), "multipart/form-data; boundary=not-the-right-one", "malformed_multipart"),
    (upload(), "application/json", "unsupported_content_type"),
    (upload(), "audio/mpeg", "unsupported_content_type"),
    (upload(), "text/plain", "unsupported_content_type"),
]


@pytest.mark.parametrize(("body", "content_type", "code"), MALFORMED)
def test_malformed_bodies_are_a_clear_400(
    fake_openai: FakeOpenAI, body: bytes, content_type: str, code: str
) -> None:
    # Given a body that is truncated, empty or garbage, a missing or wrong boundary, or another media type
    # When it is posted
    response = invoke("stt", stt_event(body, content_type=content_type))
    # Then it is a 400 with the expected code and a detail, and the upstream was never called
    assert response["statusCode"] == 400, response["json"]
    assert response["json"]["code"] == code and response["json"]["detail"]
    assert fake_openai.calls() == 0


def test_no_content_type_is_a_clear_400(fake_openai: FakeOpenAI) -> None:
    # Given an upload without a Content-Type / When it is posted / Then it is a 400 naming the content type
    response = invoke("stt", stt_event(upload(), content_type=None))
    assert response["statusCode"] == 400 and response["json"]["code"] == "unsupported_content_type"


def _part(disposition: str, content: bytes, content_type: str | None = None) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode("latin-1")
    if content_type:
        head += f"Content-Type: {content_type}\r\n".encode()
    return head + b"\r\n" + content + b"\r\n"


def _close() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def test_filename_before_name_parses(fake_openai: FakeOpenAI) -> None:
    # Given a file part whose Content-Disposition gives filename before name
    # When it is posted / Then it is served
    body = _part('form-data; filename="a.mp3"; name="audio"', tone("mp3"), "audio/mpeg") + _close()
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 200, response["json"]


def test_unquoted_name_parses(fake_openai: FakeOpenAI) -> None:
    # Given a file part whose name and filename are not quoted / When it is posted / Then it is served
    body = _part("form-data; name=audio; filename=a.mp3", tone("mp3"), "audio/mpeg") + _close()
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 200, response["json"]


def test_mixed_case_media_type_parses(fake_openai: FakeOpenAI) -> None:
    # Given a Content-Type of Multipart/Form-Data / When the upload is posted / Then it is served
    response = invoke("stt", stt_event(upload(), content_type=f"Multipart/Form-Data; boundary={BOUNDARY}"))
    assert response["statusCode"] == 200, response["json"]


def test_non_utf8_header_bytes_are_a_400_or_a_correct_parse(fake_openai: FakeOpenAI) -> None:
    # Given a file part whose filename is Latin-1, not UTF-8
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="\xe9t\xe9.mp3"\r\n'
    body = head.encode("latin-1") + b"Content-Type: audio/mpeg\r\n\r\n" + tone("mp3") + b"\r\n" + _close()
    # When it is posted
    response = invoke("stt", stt_event(body))
    # Then either the upstream got the very bytes, or it is a 400 for malformed multipart
    if response["statusCode"] == 200:
        assert fake_openai.last_request.file_bytes == tone("mp3")
    else:
        assert response["statusCode"] == 400 and response["json"]["code"] == "malformed_multipart"


def test_empty_file_part_is_a_clear_400(fake_openai: FakeOpenAI) -> None:
    # Given an audio part with no bytes / When it is posted / Then it is a 400 for empty audio
    body = _part('form-data; name="audio"; filename="a.mp3"', b"", "audio/mpeg") + _close()
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 400 and response["json"]["code"] == "empty_audio"


BAD_FORMS: list[tuple[bytes, str]] = [
    (multipart_body({"model": "whisper-1"}), "missing_field"),
    (
        multipart_body({"model": "whisper-2"}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")}),
        "unsupported_model",
    ),
    (multipart_body({"model": ""}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")}), "unsupported_model"),
    (
        multipart_body({"language": "english"}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")}),
        "invalid_field",
    ),
    (
        multipart_body({"modle": "whisper-1"}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")}),
        "unknown_field",
    ),
    (
        multipart_body({}, {"audio": ("song.mp3", b"this is a text file, not audio", "audio/mpeg")}),
        "unsupported_audio",
    ),
    (multipart_body({}, {"audio": ("a.mp3", b"%PDF-1.7\n" + b"0" * 500, "audio/mpeg")}), "unsupported_audio"),
    (multipart_body({}, {"file": ("a.mp3", tone("mp3"), "audio/mpeg")}), "unknown_field"),
    (multipart_body({f"field{i}": "x" for i in range(20)}), "too_many_fields"),
    (
        _part('form-data; name="audio"; filename="a.mp3"', tone("mp3"))
        + _part('form-data; name="audio"; filename="b.mp3"', tone("mp3"))
        + _close(),
        "duplicate_field",
    ),
]


@pytest.mark.parametrize(("body", "code"), BAD_FORMS)
def test_invalid_form_data_is_a_clear_400(fake_openai: FakeOpenAI, body: bytes, code: str) -> None:
    # Given a well-formed multipart body with a missing, unknown, duplicate or invalid field, or no audio
    # When it is posted
    response = invoke("stt", stt_event(body))
    # Then it is a 400 with the expected code, and the upstream was never called
    assert response["statusCode"] == 400, response["json"]
    assert response["json"]["code"] == code
    assert fake_openai.calls() == 0


def test_a_body_larger_than_lambda_carries_is_413(fake_openai: FakeOpenAI) -> None:
    # Given a wav of over 5 MB, more than the function accepts once base64-encoded
    big = tone("wav") + b"\0" * (5 * 1024 * 1024)
    # When it is posted
    response = invoke("stt", stt_event(multipart_body({}, {"audio": ("a.wav", big, "audio/wav")})))
    # Then it is a 413
    assert response["statusCode"] == 413 and response["json"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("fault", "code"),
    [(429, "upstream_rate_limited"), (500, "upstream_error"), (502, "upstream_error")],
)
def test_upstream_failures_are_500_with_a_code(fake_openai: FakeOpenAI, fault: int, code: str) -> None:
    # Given an upstream that keeps answering 429, 500 or 502
    fake_openai.fail_next(fault, times=10)
    # When an upload is posted
    response = invoke("stt", stt_event(upload()))
    # Then it is a 500 saying transcription failed, with a code for the kind of failure
    assert response["json"] == {"detail": "Transcription failed", "code": code}
    assert response["statusCode"] == 500


def test_retries_are_bounded(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that keeps answering 503 / When an upload is posted
    fake_openai.fail_next(503, times=10)
    invoke("stt", stt_event(upload()))
    # Then the upstream was called the configured number of times, no more
    assert fake_openai.calls("/v1/audio/transcriptions") == 3  # upstream_max_attempts


def test_a_rate_limit_with_retry_after_is_retried_and_served(fake_openai: FakeOpenAI) -> None:
    # Given one 429 with a Retry-After of 0.2 s
    fake_openai.fail_next(429, times=1, retry_after=0.2)
    # When an upload is posted
    response = invoke("stt", stt_event(upload()))
    # Then it is served, on the second call
    assert response["statusCode"] == 200
    assert fake_openai.calls("/v1/audio/transcriptions") == 2


def test_a_slow_upstream_times_out_within_the_lambda_deadline(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that answers after 5 s, and a Lambda with 3 s left
    fake_openai.delay_seconds = 5.0
    # When an upload is posted
    response = invoke("stt", stt_event(upload()), FakeLambdaContext(remaining_ms=3_000))
    # Then transcription fails as an upstream timeout
    assert response["json"] == {"detail": "Transcription failed", "code": "upstream_timeout"}


def test_a_bad_key_is_an_auth_failure(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a key the upstream refuses
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    # When an upload is posted
    response = invoke("stt", stt_event(upload()))
    # Then transcription fails as an upstream auth failure
    assert response["json"] == {"detail": "Transcription failed", "code": "upstream_auth_failed"}


def test_a_field_name_of_several_kilobytes_is_a_400_not_a_413() -> None:
    # Given a small form whose one field name is 200 KB long
    body = multipart_body({"n" * 200_000: "x"}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    # When it is sent / Then it is a client error about the field, not "too large"
    response = invoke("stt", stt_event(body))
    assert response["statusCode"] == 400 and response["json"]["code"] == "invalid_field"


def test_an_unknown_form_field_is_echoed_only_as_a_short_prefix() -> None:
    # Given an unknown form field with a 2 KB name
    body = multipart_body({"n" * 2_000: "x"}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})
    # When it is sent / Then the detail shows a short prefix of the name
    response = invoke("stt", stt_event(body))
    assert response["json"] == {"detail": "n" * 40 + "…: Unknown field", "code": "unknown_field"}


def _posted(audio: bytes, filename: str) -> dict:
    return invoke(
        "stt", stt_event(multipart_body({}, {"audio": (filename, audio, "application/octet-stream")}))
    )


def test_a_small_file_that_expands_past_the_cap_is_refused_before_any_call(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a synchronous cap of 10 minutes and a FLAC of an hour of silence (about 700 KB, six times the cap)
    monkeypatch.setenv("SYNC_MAX_AUDIO_SECONDS", "600")
    get_settings.cache_clear()
    # When it is posted / Then 400 audio_too_long naming the cap, and the upstream was not called
    response = _posted(silent_flac(3600), "silence.flac")
    assert response["statusCode"] == 400 and response["json"]["code"] == "audio_too_long", response["json"]
    assert "more than 10 min" in response["json"]["detail"]
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_a_tiny_file_longer_than_the_cap_is_measured_too(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cap of 5 s and a 30 s FLAC of silence of about 18 KB (files under 192 KiB were once never measured)
    monkeypatch.setenv("SYNC_MAX_AUDIO_SECONDS", "5")
    get_settings.cache_clear()
    audio = silent_flac(30)
    assert len(audio) < 32 * 1024
    # When it is posted / Then it is refused, unsent
    response = _posted(audio, "a.flac")
    assert response["json"]["code"] == "audio_too_long"
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_a_wav_whose_header_hides_its_length_is_refused(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cap of one minute and a WAV that declares 10 s and holds 2 minutes
    monkeypatch.setenv("SYNC_MAX_AUDIO_SECONDS", "60")
    get_settings.cache_clear()
    # When it is posted / Then it is refused as too long, unsent
    response = _posted(wav_declaring(10, 120), "a.wav")
    assert response["json"]["code"] == "audio_too_long"
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


@pytest.mark.parametrize(
    ("audio", "named"),
    [
        (wav_declaring(1, 1, channels=16), "16 channels"),
        (wav_declaring(1, 0.01, rate=768_000), "sample rate of 768,000 Hz"),
        (b"RIFF\x24\x00\x00\x00WAVE" + b"junk" * 100, "could not be decoded"),
    ],
)
def test_absurd_or_undecodable_audio_is_a_clear_400_before_any_call(
    fake_openai: FakeOpenAI, audio: bytes, named: str
) -> None:
    # Given a small WAV with 16 channels, one at 768 kHz, or one that does not decode (its length unknown)
    # When it is posted / Then 400 unsupported_audio saying why, and the upstream was not called
    response = _posted(audio, "a.wav")
    assert response["statusCode"] == 400 and response["json"]["code"] == "unsupported_audio"
    assert named in response["json"]["detail"]
    assert fake_openai.calls("/v1/audio/transcriptions") == 0


def test_a_measured_recording_is_sent_as_it_came(fake_openai: FakeOpenAI) -> None:
    # Given a 5 s mp3 / When it is posted / Then the very bytes went upstream, and its length was not guessed
    response = _posted(tone("mp3", seconds=5.0), "a.mp3")
    assert response["statusCode"] == 200, response["json"]
    assert fake_openai.last_request.file_bytes == tone("mp3", seconds=5.0)
