"""The fake OpenAI server, driven by the real openai SDK over loopback HTTP."""

from __future__ import annotations

import io
import threading
import time
import wave
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import av
import httpx2
import openai
import pytest
from openai import OpenAI

from tests.fakes.openai_server import SPEECH_CONTENT_TYPES, FakeOpenAI

TTS_SHUTDOWN = date(2027, 1, 6)
STT_SHUTDOWN = date(2027, 2, 26)
BEFORE_ANY_SHUTDOWN = date(2026, 12, 1)


def make_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A silent mono 16-bit WAV, real enough for PyAV to read its duration."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()


WAV = make_wav()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(today=BEFORE_ANY_SHUTDOWN) as server:
        yield server
        assert server.errors == [], "the fake itself failed"


@pytest.fixture
def client(fake: FakeOpenAI) -> OpenAI:
    return OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)


def transcribe(client: OpenAI, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"model": "whisper-1", "file": ("audio.wav", WAV, "audio/wav"), **kwargs}
    return client.audio.transcriptions.create(**params)


def speak(client: OpenAI, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"model": "tts-1", "voice": "alloy", "input": "hello there", **kwargs}
    return client.audio.speech.create(**params)


def decode(audio: bytes, response_format: str) -> tuple[str, str, int, int]:
    """(container, codec, sample rate, decoded samples) of speech audio, read back with PyAV."""
    options = {"format": "s16le", "options": {"sample_rate": "24000", "ch_layout": "mono"}}
    kwargs: dict[str, Any] = options if response_format == "pcm" else {}
    with av.open(io.BytesIO(audio), "r", **kwargs) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return container.format.name, stream.codec_context.name, stream.rate, samples


# -- transcriptions ---------------------------------------------------------------------------------


def test_transcription_returns_the_configured_transcript_and_records_the_upload(
    fake: FakeOpenAI, client: OpenAI
) -> None:
    # Given a transcript to answer with
    fake.transcript = "turn left at the lights"

    # When the SDK uploads a WAV file
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("audio.wav", WAV, "audio/wav"), language="en", include=["logprobs"]
    )

    # Then the SDK parses OpenAI's JSON answer, with the duration billed
    assert result.text == "turn left at the lights"
    assert result.usage is not None and result.usage.type == "duration"
    # And the fake recorded the multipart request as it arrived on the wire
    recorded = fake.last_request
    assert (recorded.method, recorded.path, recorded.model) == (
        "POST",
        "/v1/audio/transcriptions",
        "whisper-1",
    )
    assert recorded.form == {"model": "whisper-1", "language": "en", "include[]": ["logprobs"]}
    assert (recorded.file_name, recorded.file_content_type, recorded.file_bytes) == (
        "audio.wav",
        "audio/wav",
        WAV,
    )
    assert recorded.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert recorded.json is None
    assert fake.calls("/v1/audio/transcriptions") == 1


def test_recorded_authorization_header_is_redacted(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given / When any authenticated request
    transcribe(client)

    # Then the key is not kept in the recording (it could end up in a test report)
    authorization = fake.last_request.headers["authorization"]
    assert authorization.startswith("Bearer ")
    assert fake.api_key not in authorization


def test_text_format_answers_plain_text(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given / When the SDK asks for response_format=text
    result = transcribe(client, response_format="text")

    # Then it gets the bare transcript as a string, with OpenAI's trailing newline
    assert result == f"{fake.transcript}\n"


def test_verbose_json_has_duration_and_segments(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a 1 s upload / When whisper-1 is asked for verbose_json
    result = transcribe(client, response_format="verbose_json", file=("a.wav", make_wav(1.0), "audio/wav"))

    # Then the SDK parses a TranscriptionVerbose with the upload's duration
    assert result.text == fake.transcript
    assert result.duration == pytest.approx(1.0)
    assert result.segments is not None and result.segments[0].text == fake.transcript


def test_gpt_transcribe_answers_json(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given / When the replacement model is used with its only format
    result = transcribe(client, model="gpt-transcribe", response_format="json")

    # Then it transcribes
    assert result.text == fake.transcript


@pytest.mark.parametrize(
    ("kwargs", "message", "param", "code"),
    [
        pytest.param(
            {"file": ("notes.txt", WAV, "text/plain")},
            "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', "
            "'ogg', 'wav', 'webm']",
            None,
            None,
            id="unsupported extension",
        ),
        pytest.param(
            {"file": WAV},  # bare bytes: httpx names the part "upload", with no extension
            "Invalid file format.",
            None,
            None,
            id="no file name",
        ),
        pytest.param(
            {"model": "gpt-transcribe", "response_format": "text"},
            "response_format 'text' is not compatible with model 'gpt-transcribe'. Use 'json' instead.",
            "response_format",
            "unsupported_value",
            id="gpt-transcribe text",
        ),
        pytest.param(
            {"model": "gpt-4o-transcribe", "response_format": "verbose_json"},
            "response_format 'verbose_json' is not compatible with model 'gpt-4o-transcribe'.",
            "response_format",
            "unsupported_value",
            id="gpt-4o-transcribe verbose_json",
        ),
    ],
)
def test_transcription_rejects_like_openai(
    client: OpenAI, kwargs: dict[str, Any], message: str, param: str | None, code: str | None
) -> None:
    # Given / When an upload OpenAI would refuse
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, **kwargs)

    # Then the SDK raises BadRequestError carrying OpenAI's error fields
    error = caught.value
    assert error.status_code == 400
    assert isinstance(error.body, dict) and error.body["message"].startswith(message)
    assert (error.type, error.param, error.code) == ("invalid_request_error", param, code)


def test_transcription_without_file_is_a_400(fake: FakeOpenAI) -> None:
    # Given a multipart body with no file part (the SDK cannot send one, so httpx2 does)
    # When it is posted
    response = httpx2.post(
        f"{fake.base_url}/audio/transcriptions",
        headers={"Authorization": f"Bearer {fake.api_key}"},
        files={"model": (None, "whisper-1")},
    )

    # Then OpenAI's missing-parameter error comes back
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_required_parameter"
    assert response.json()["error"]["param"] == "file"


def test_upload_over_the_size_limit_is_a_413(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a lowered limit, so the test does not ship 25 MB
    fake.max_upload_bytes = 10_000

    # When a larger file is uploaded
    with pytest.raises(openai.APIStatusError) as caught:
        transcribe(client)

    # Then OpenAI's 413 answer comes back (the SDK has no dedicated class for it)
    assert caught.value.status_code == 413
    assert "Maximum content size limit (10000) exceeded" in caught.value.message


# -- speech ----------------------------------------------------------------------------------------


EXPECTED_AUDIO = {
    "mp3": ("mp3", "mp3float"),
    "opus": ("ogg", "opus"),
    "aac": ("aac", "aac"),  # ADTS: FFmpeg's demuxer for it is called "aac"
    "flac": ("flac", "flac"),
    "wav": ("wav", "pcm_s16le"),
    "pcm": ("s16le", "pcm_s16le"),
}


@pytest.mark.parametrize("response_format", list(EXPECTED_AUDIO))
def test_speech_answers_real_audio_in_each_format(
    fake: FakeOpenAI, client: OpenAI, response_format: str
) -> None:
    # Given / When the SDK asks for speech in a format
    raw = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="hello there",
        response_format=response_format,  # type: ignore[arg-type]
        speed=1.0,
        instructions="cheerful",
    )

    # Then the audio decodes with PyAV as that format, labelled like OpenAI labels it
    assert raw.headers["content-type"] == SPEECH_CONTENT_TYPES[response_format]
    container, codec, rate, samples = decode(raw.content, response_format)
    assert (container, codec) == EXPECTED_AUDIO[response_format]
    assert rate in (24_000, 48_000)  # Ogg Opus always decodes at 48 kHz
    assert samples > 0
    # And the JSON body was recorded as sent
    assert fake.last_request.json == {
        "model": "gpt-4o-mini-tts",
        "input": "hello there",
        "voice": "coral",
        "response_format": response_format,
        "speed": 1.0,
        "instructions": "cheerful",
    }
    assert fake.last_request.headers["accept"] == "application/octet-stream"


def test_speech_defaults_to_mp3(client: OpenAI) -> None:
    # Given / When no response_format is sent
    audio = speak(client).content

    # Then the answer is mp3
    assert decode(audio, "mp3")[:2] == ("mp3", "mp3float")


def test_speech_duration_grows_with_the_input_but_stays_short(client: OpenAI) -> None:
    # Given / When a short, a longer and a very long input are read out as raw PCM (2 bytes a sample)
    def seconds(text: str) -> float:
        return len(speak(client, input=text, response_format="pcm").content) / 2 / 24_000

    # Then longer text gives longer audio, capped at about a second to keep tests fast
    assert seconds("hi") < seconds("hello there") <= seconds("x" * 4096) <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        pytest.param({"input": ""}, "input", "empty_string", id="empty input"),
        pytest.param({"input": "x" * 4097}, "input", "string_above_max_length", id="input too long"),
        pytest.param({"voice": "bob"}, "voice", "invalid_value", id="unknown voice"),
        pytest.param({"speed": 0.2}, "speed", "decimal_below_min_value", id="too slow"),
        pytest.param({"speed": 4.5}, "speed", "decimal_above_max_value", id="too fast"),
        pytest.param({"response_format": "ogg"}, "response_format", "invalid_value", id="unknown format"),
    ],
)
def test_speech_rejects_like_openai(client: OpenAI, kwargs: dict[str, Any], param: str, code: str) -> None:
    # Given / When a speech request OpenAI would refuse
    with pytest.raises(openai.BadRequestError) as caught:
        speak(client, **kwargs)

    # Then the SDK raises BadRequestError with OpenAI's param and code
    assert (caught.value.type, caught.value.param, caught.value.code) == (
        "invalid_request_error",
        param,
        code,
    )


def test_speech_accepts_the_longest_input(client: OpenAI) -> None:
    # Given / When the input is exactly at OpenAI's limit
    audio = speak(client, input="x" * 4096, response_format="wav").content

    # Then it is accepted
    assert audio.startswith(b"RIFF")


# -- auth, model catalog ---------------------------------------------------------------------------


def test_wrong_api_key_is_an_authentication_error_that_does_not_echo_the_key(fake: FakeOpenAI) -> None:
    # Given a client with a key the fake does not know
    wrong_key = "sk-proj-wrongwrongwrongwrongwrong1234"
    client = OpenAI(api_key=wrong_key, base_url=fake.base_url, max_retries=0)

    # When it calls the API
    with pytest.raises(openai.AuthenticationError) as caught:
        speak(client)

    # Then OpenAI's 401 comes back, with the key masked
    error = caught.value
    assert (error.status_code, error.code, error.type) == (401, "invalid_api_key", "invalid_request_error")
    assert error.message.startswith("Error code: 401 - Incorrect API key provided: sk-")
    assert wrong_key not in str(error.body) and wrong_key not in error.message
    assert error.request_id is not None and error.request_id.startswith("req_")


def test_model_answers_until_its_shutdown_date_then_404(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given the day before tts-1 shuts down, it still answers
    fake.today = TTS_SHUTDOWN - timedelta(days=1)
    assert speak(client).content

    # When the clock reaches the shutdown date
    fake.today = TTS_SHUTDOWN
    with pytest.raises(openai.NotFoundError) as caught:
        speak(client)

    # Then the answer is OpenAI's model_not_found 404
    error = caught.value
    assert (error.status_code, error.code, error.param) == (404, "model_not_found", None)
    assert error.body == {
        "message": "The model `tts-1` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


def test_transcription_models_retire_but_gpt_transcribe_stays(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given the day whisper-1 shuts down, driven by a clock callable
    fake.clock = lambda: STT_SHUTDOWN

    # When / Then whisper-1 is gone and gpt-transcribe still works
    with pytest.raises(openai.NotFoundError):
        transcribe(client, model="whisper-1")
    assert transcribe(client, model="gpt-transcribe").text == fake.transcript


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [("speech", "gpt-transcribe"), ("transcription", "tts-1"), ("speech", "no-such-model")],
)
def test_unknown_or_wrong_endpoint_model_is_a_404(client: OpenAI, endpoint: str, model: str) -> None:
    # Given / When a model that this endpoint does not serve
    with pytest.raises(openai.NotFoundError) as caught:
        if endpoint == "speech":
            speak(client, model=model)
        else:
            transcribe(client, model=model)

    # Then the answer is model_not_found, exactly as for a retired model
    assert caught.value.code == "model_not_found"
    assert f"The model `{model}` does not exist" in caught.value.message


def test_models_list_shows_live_models_only(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given / When models are listed before and after the TTS shutdown
    before = {model.id for model in client.models.list()}
    fake.today = TTS_SHUTDOWN
    after = {model.id for model in client.models.list()}

    # Then the retired TTS models disappear from the list, the rest stay
    assert {"tts-1", "whisper-1", "gpt-transcribe"} <= before
    assert "tts-1" not in after and {"whisper-1", "gpt-transcribe"} <= after
    assert client.models.retrieve("gpt-transcribe").id == "gpt-transcribe"


# -- fault injection -------------------------------------------------------------------------------


def test_rate_limit_maps_to_rate_limit_error_with_retry_after(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given one queued rate-limit failure
    fake.fail_next(429, retry_after=2)

    # When the SDK calls twice
    with pytest.raises(openai.RateLimitError) as caught:
        speak(client)
    second = speak(client)

    # Then the first call fails like OpenAI's rate limit, and the next one succeeds
    error = caught.value
    assert (error.code, error.type) == ("rate_limit_exceeded", "requests")
    assert error.response.headers["retry-after"] == "2"
    assert second.content
    # And both requests were recorded and counted
    assert fake.calls("/v1/audio/speech") == 2 and len(fake.requests) == 2


def test_insufficient_quota_is_a_429_with_its_own_code(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a queued quota failure
    fake.fail_next(429, code="insufficient_quota")

    # When / Then the SDK raises RateLimitError with the quota code
    with pytest.raises(openai.RateLimitError) as caught:
        transcribe(client)
    assert caught.value.code == "insufficient_quota"


def test_server_errors_are_retried_by_the_sdk(fake: FakeOpenAI) -> None:
    # Given two queued 503s and a client that retries (Retry-After keeps the test fast)
    fake.fail_next(503, times=2, retry_after=0.01)
    client = OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=2)

    # When it calls once
    result = transcribe(client)

    # Then the third attempt succeeds, and the SDK numbered its retries
    assert result.text == fake.transcript
    assert fake.calls("/v1/audio/transcriptions") == 3
    assert [request.headers["x-stainless-retry-count"] for request in fake.requests] == ["0", "1", "2"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_map_to_internal_server_error(fake: FakeOpenAI, client: OpenAI, status: int) -> None:
    # Given a queued server error
    fake.fail_next(status)

    # When / Then the SDK raises InternalServerError (502 comes as an HTML page, like OpenAI's edge)
    with pytest.raises(openai.InternalServerError) as caught:
        speak(client)
    assert caught.value.status_code == status


def test_fault_can_target_one_path(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a failure queued for speech only
    fake.fail_next(500, path="/v1/audio/speech")

    # When transcription then speech are called
    # Then transcription is unaffected and speech gets the 500
    assert transcribe(client).text == fake.transcript
    with pytest.raises(openai.InternalServerError):
        speak(client)


def test_delay_triggers_the_client_timeout_and_does_not_hang_shutdown() -> None:
    # Given a server that answers after 10 s
    fake = FakeOpenAI().start()
    fake.delay_seconds = 10
    client = OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0, timeout=0.3)

    # When the client calls with a 0.3 s timeout
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        speak(client)

    # Then it times out promptly, and stopping the server does not wait for the sleeping handler
    assert time.monotonic() - started < 3
    stopping = time.monotonic()
    fake.stop()
    assert time.monotonic() - stopping < 2


@pytest.mark.parametrize("html", [False, True], ids=["JSON", "HTML page"])
def test_a_bare_404_carries_no_error_code(fake: FakeOpenAI, client: OpenAI, html: bool) -> None:
    # Given a 404 queued as a proxy or an ingress would answer it (no OpenAI error code)
    fake.fail_next(404, html=html)

    # When / Then the SDK raises NotFoundError with no code, unlike a gone model's model_not_found
    with pytest.raises(openai.NotFoundError) as caught:
        speak(client)
    assert caught.value.code is None
    assert caught.value.response.headers["content-type"] == ("text/html" if html else "application/json")
    if html:
        assert "<title>404 Not Found</title>" in caught.value.response.text


def test_slow_stream_sends_the_headers_at_once_then_the_body_in_pieces(
    fake: FakeOpenAI, client: OpenAI
) -> None:
    # Given the audio of a normal answer, then a slow stream of 5 pieces 0.2 s apart
    whole = speak(client, response_format="pcm").content
    fake.stream_chunk_delay, fake.stream_chunks = 0.2, 5

    # When the SDK streams the same answer
    started = time.monotonic()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="hello there", response_format="pcm"
    ) as response:
        headers_after = time.monotonic() - started
        arrivals: list[tuple[float, bytes]] = [
            (time.monotonic() - started, part) for part in response.iter_bytes()
        ]

    # Then the headers came at once, the body piece by piece over about 1 s, and every byte arrived
    assert headers_after < 0.15
    assert len(arrivals) == 5
    assert arrivals[0][0] == pytest.approx(0.2, abs=0.1) and arrivals[-1][0] == pytest.approx(1.0, abs=0.15)
    assert b"".join(part for _, part in arrivals) == whole


def test_reset_ends_a_slow_stream_unfinished(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a slow stream of 10 s being read, and a reset of the fake 0.3 s into it
    fake.stream_chunk_delay = 0.5
    reset = threading.Timer(0.3, fake.reset)
    started = time.monotonic()

    # When the answer is read
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="hello there"
    ) as response:
        reset.start()
        with pytest.raises(httpx2.RemoteProtocolError):
            response.read()
    reset.join()

    # Then it was cut short at the reset, not read to its end
    assert time.monotonic() - started < 1.0


def test_dropped_connection_is_a_connection_error(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a connection that will be closed without an answer
    fake.drop_connection_next()

    # When / Then the SDK raises APIConnectionError (not a timeout), and the next call works
    with pytest.raises(openai.APIConnectionError) as caught:
        speak(client)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert speak(client).content


def test_reset_forgets_recordings_and_faults(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given recorded calls, a queued fault and a delay
    transcribe(client)
    fake.fail_next(500, times=3)
    fake.delay_seconds = 5

    # When the fake is reset
    fake.reset()

    # Then the next call succeeds at once and is the only one recorded
    assert transcribe(client).text == fake.transcript
    assert fake.calls() == 1 and len(fake.requests) == 1


def test_reset_drops_an_answer_still_delayed(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a request sleeping in a long delay (as a timed-out test would leave behind)
    fake.delay_seconds = 10
    raised: list[Exception] = []

    def call() -> None:
        try:
            speak(client)
        except openai.APIError as error:
            raised.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while fake.calls() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    # When the fake is reset (a shared server between two tests)
    fake.reset()
    thread.join(timeout=5)

    # Then that answer is dropped instead of landing in the next test's recordings
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], openai.APIConnectionError)
    assert fake.requests == []


def test_reset_with_config_restores_the_constructor_values(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given a test that changed the configuration
    fake.transcript = "changed"
    fake.today = STT_SHUTDOWN
    fake.speech_models["tts-2"] = None
    fake.max_upload_bytes = 1

    # When the fake is reset with config=True
    fake.reset(config=True)

    # Then the constructor's values are back
    assert fake.transcript == "hello from the fake"
    assert fake.today == BEFORE_ANY_SHUTDOWN
    assert "tts-2" not in fake.speech_models
    assert transcribe(client).text == "hello from the fake"


def test_concurrent_requests_are_all_recorded(fake: FakeOpenAI, client: OpenAI) -> None:
    # Given eight threads sharing one client
    def call() -> None:
        transcribe(client)
        speak(client, response_format="pcm")

    threads = [threading.Thread(target=call) for _ in range(8)]

    # When they all call at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then every request was counted and recorded
    assert fake.calls("/v1/audio/transcriptions") == 8
    assert fake.calls("/v1/audio/speech") == 8
    assert len(fake.requests) == 16


def test_base_url_needs_a_running_server() -> None:
    # Given a fake that was never started / When its URL is asked for / Then it says so
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeOpenAI().base_url
