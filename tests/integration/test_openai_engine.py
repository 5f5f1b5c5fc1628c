"""The `openai` engine against the fake OpenAI server: OpenAI's HTTP API over real HTTP, mapped failures."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date

import pytest

from speech_common.audio import AudioUpload
from speech_common.deadline import Deadline
from speech_common.engines.base import SpeechRequest, TranscriptionRequest
from speech_common.engines.openai_engine import (
    OpenAISpeechToText,
    OpenAITextToSpeech,
    speech_chunks,
)
from speech_common.errors import UpstreamFailure
from speech_common.settings import get_settings
from tests.audio_helpers import duration_seconds
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import (
    FakeLambdaContext,
    header,
    invoke,
    load_handler,
    multipart_body,
    stt_event,
    tts_event,
)
from tests.samples import tone

SPEECH = SpeechRequest(text="Hello there", voice="nova", response_format="mp3")


def tts() -> OpenAITextToSpeech:
    return OpenAITextToSpeech(get_settings())


def stt() -> OpenAISpeechToText:
    return OpenAISpeechToText(get_settings())


def test_speech_sends_model_voice_text_format_and_speed(fake_openai: FakeOpenAI) -> None:
    # Given a flac request at half speed in the onyx voice
    request = SpeechRequest(text="Read me", voice="onyx", response_format="flac", speed=0.5)
    # When the engine synthesizes it with tts-1-hd
    audio = tts().synthesize(request, upstream_model="tts-1-hd", deadline=Deadline(10))
    # Then flac comes back
    assert audio.startswith(b"fLaC")
    # And the upstream got the model, voice, text, format and speed as asked
    sent = fake_openai.last_request.json
    assert sent == {
        "model": "tts-1-hd",
        "voice": "onyx",
        "input": "Read me",
        "response_format": "flac",
        "speed": 0.5,
    }


def test_transcription_sends_the_bytes_with_a_matching_name_and_json_format(fake_openai: FakeOpenAI) -> None:
    # Given an ogg upload and an upstream that answers "one two three"
    fake_openai.transcript = "one two three"
    upload = AudioUpload(data=tone("ogg"), format="ogg")
    # When the engine transcribes it in English with gpt-transcribe
    text = (
        stt()
        .transcribe(
            TranscriptionRequest(upload, language="en"),
            upstream_model="gpt-transcribe",
            deadline=Deadline(10),
        )
        .text
    )
    # Then the transcript comes back
    assert text == "one two three"
    # And the upstream got the same bytes as audio.ogg, asked for json, with the language
    sent = fake_openai.last_request
    assert (sent.model, sent.file_name, sent.file_content_type) == (
        "gpt-transcribe",
        "audio.ogg",
        "audio/ogg",
    )
    assert sent.file_bytes == upload.data
    assert sent.form.get("response_format") == "json" and sent.form.get("language") == "en"


def test_a_retired_model_is_reported_as_unavailable_without_retries(fake_openai: FakeOpenAI) -> None:
    # Given the day tts-1 is shut down
    fake_openai.today = date(2027, 1, 6)
    # When it is asked for / Then the engine says the model is unavailable, after one call
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    assert failure.value.code == UpstreamFailure.MODEL_UNAVAILABLE
    assert fake_openai.calls() == 1


def test_a_dropped_connection_is_retried(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that drops the next connection without answering
    fake_openai.drop_connection_next()
    # When speech is asked for / Then it is served, on the second call
    assert tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    assert fake_openai.calls("/v1/audio/speech") == 2


def test_an_exhausted_quota_is_not_retried(fake_openai: FakeOpenAI) -> None:
    # Given an upstream answering 429 insufficient_quota
    fake_openai.fail_next(429, times=5, code="insufficient_quota")
    # When speech is asked for / Then it fails as rate limited, after a single call
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
    assert fake_openai.calls() == 1


def test_no_retry_starts_without_time_for_it(fake_openai: FakeOpenAI) -> None:
    # Given a server error with a long Retry-After and little time left
    fake_openai.fail_next(503, times=5, retry_after=30)
    # When speech is asked for with 2.5 s left
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(2.5))
    # Then one attempt only (the retry would have to wait past the deadline)
    assert failure.value.code == UpstreamFailure.ERROR
    assert fake_openai.calls() == 1


def test_one_client_per_container(fake_openai: FakeOpenAI) -> None:
    # Given a configured key
    from speech_common.engines.openai_client import get_openai_client, http_client

    # When the SDK's client (the realtime engine's) and the HTTP connection pool are asked for twice
    # Then each is the same object
    assert get_openai_client(get_settings()) is get_openai_client(get_settings())
    assert http_client() is http_client()


def test_a_rotated_key_is_sent_through_the_same_connection_pool(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given speech served once with the container's key, through its connection pool
    from speech_common.engines.openai_client import http_client

    tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    pool = http_client()
    # When the key is rotated (the upstream accepts only the new one) and speech is asked for again
    fake_openai.api_key = "sk-rotated"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rotated")
    get_settings.cache_clear()
    audio = tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    # Then the new key was accepted, and the pool was kept
    assert audio.startswith(b"ID3") and fake_openai.errors == []
    assert http_client() is pool


def test_the_organization_and_project_of_the_environment_are_sent(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given OPENAI_ORG_ID and OPENAI_PROJECT_ID set (which the openai SDK reads too)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-speech")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_speech")
    # When speech is asked for
    tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    # Then they are sent in OpenAI's headers, with the key as a Bearer token
    headers = fake_openai.last_request.headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-speech", "proj_speech")
    assert headers["authorization"].startswith("Bearer ") and "api-key" not in headers


def test_logs_never_hold_the_key_or_the_text(
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a rejected key and a private text
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-key-0042")
    caplog.set_level(logging.DEBUG)
    # When speech is asked for, at DEBUG level
    invoke("tts", tts_event({"text": "the launch code is 0000"}))
    # Then neither appears in any log record (with its extra keys) nor in anything printed
    out = capsys.readouterr()
    logged = out.out + out.err + "\n".join(repr(record.__dict__) for record in caplog.records)
    assert "upstream_auth_failed" in logged  # the failure itself is logged
    assert "sk-very-secret" not in logged and "launch code" not in logged


def test_long_text_is_read_in_parallel_chunks_and_joined(fake_openai: FakeOpenAI) -> None:
    # Given a text too long to be read within the gateway's time in one call
    text = " ".join(f"This is sentence number {i} of a long text." for i in range(90))
    assert 3000 < len(text) <= 4096
    # When it is synthesized
    audio = tts().synthesize(
        SpeechRequest(text=text, voice="echo", response_format="mp3"),
        upstream_model="tts-1",
        deadline=Deadline(20),
    )
    # Then it was asked for in sentence-cut chunks of raw PCM, together covering the whole text
    sent = [r.json for r in fake_openai.requests if r.json is not None]
    chunks = speech_chunks(text, get_settings().tts_parallel_calls)
    assert len(sent) == len(chunks) >= 4
    assert all(s["response_format"] == "pcm" and s["voice"] == "echo" for s in sent)
    assert sorted(s["input"] for s in sent) == sorted(chunks)
    assert " ".join(chunks) == text
    # And the answer is one mp3 stream as long as the parts together (the fake reads 1 s per chunk)
    assert audio.startswith(b"ID3") and duration_seconds(audio) == pytest.approx(len(sent) * 1.0, abs=0.2)


def test_a_chunk_that_fails_fails_the_whole_text(fake_openai: FakeOpenAI) -> None:
    # Given a text read in several chunks, and an upstream whose quota is exhausted
    text = " ".join(f"Sentence {i} is here." for i in range(200))
    fake_openai.fail_next(429, times=50, code="insufficient_quota")
    # When it is synthesized / Then the whole text fails as rate limited
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SpeechRequest(text, "alloy", "mp3"), upstream_model="tts-1", deadline=Deadline(10))
    assert failure.value.code == UpstreamFailure.RATE_LIMITED


# -- time: the deadline is wall-clock time, however the answer streams ---------------------------

# 4,069 characters (within the API's 4,096): five chunks, one more than the parallel calls.
LONG_TEXT = " ".join(f"Sentence {i} is here." for i in range(190))


def test_a_slow_speech_stream_ends_at_the_deadline(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that sends its headers at once, then the audio in 20 pieces 0.5 s apart (10 s)
    fake_openai.stream_chunk_delay = 0.5
    started = time.monotonic()

    # When speech is asked for with 2.5 s left
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(2.5))

    # Then it is a timeout, soon after the deadline, and not retried (no time is left for it)
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.5
    assert fake_openai.calls("/v1/audio/speech") == 1


def test_a_read_stalled_past_the_deadline_ends_at_the_deadline(fake_openai: FakeOpenAI) -> None:
    # Given audio pieces 2 s apart: each wait is shorter than the per-read timeout (the 3 s left
    # when the call starts), but the second one ends past the deadline
    fake_openai.stream_chunk_delay = 2.0
    fake_openai.stream_chunks = 3
    started = time.monotonic()

    # When speech is asked for with 3 s left
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(3.0))

    # Then the read blocked at the deadline is ended there, not when the next piece comes (at 4 s)
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.6


def test_a_stream_that_ends_in_time_is_read_whole(fake_openai: FakeOpenAI) -> None:
    # Given the audio of a normal answer
    request = SpeechRequest(text="Hello there", voice="nova", response_format="wav")
    whole = tts().synthesize(request, upstream_model="tts-1", deadline=Deadline(10))
    # And the same answer streamed in 20 pieces, 0.05 s apart
    fake_openai.stream_chunk_delay = 0.05

    # When it is asked for again with time enough
    streamed = tts().synthesize(request, upstream_model="tts-1", deadline=Deadline(10))

    # Then every byte arrived, in order
    assert streamed == whole and streamed.startswith(b"RIFF")


def test_a_stream_cut_before_its_end_is_retried(fake_openai: FakeOpenAI) -> None:
    # Given an answer streaming slowly, cut off by the server once it has begun (reset ends it)
    fake_openai.stream_chunk_delay = 0.3
    stop = threading.Event()

    def cut_after_the_first_call_begins() -> None:
        while not stop.is_set() and fake_openai.calls("/v1/audio/speech") == 0:
            time.sleep(0.01)
        if not stop.wait(0.4):  # a chunk or so into the answer
            fake_openai.reset()

    cutter = threading.Thread(target=cut_after_the_first_call_begins, daemon=True)
    cutter.start()

    # When speech is asked for
    try:
        audio = tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    finally:
        stop.set()
        cutter.join(timeout=5)

    # Then the cut is taken for a dropped connection: a second attempt (after the reset) served it
    assert audio.startswith(b"ID3")
    assert fake_openai.calls("/v1/audio/speech") == 1


def test_long_text_read_in_parallel_chunks_ends_at_the_deadline(fake_openai: FakeOpenAI) -> None:
    # Given a long text read in one round of parallel calls, each answer a 10 s stream
    chunks = speech_chunks(LONG_TEXT, get_settings().tts_parallel_calls)
    assert len(chunks) > 4
    fake_openai.stream_chunk_delay = 0.5
    started = time.monotonic()

    # When it is synthesized with 2.5 s left
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(
            SpeechRequest(LONG_TEXT, "echo", "mp3"), upstream_model="tts-1", deadline=Deadline(2.5)
        )

    # Then the whole text fails with a timeout soon after the deadline, each chunk asked for once
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 4.0
    assert fake_openai.calls("/v1/audio/speech") == len(chunks)


def test_a_slow_transcription_answer_ends_at_the_deadline(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that sends the transcript's JSON in 20 pieces 0.5 s apart
    fake_openai.stream_chunk_delay = 0.5
    upload = AudioUpload(data=tone("wav"), format="wav")
    started = time.monotonic()

    # When it is asked for with 2.5 s left
    with pytest.raises(UpstreamFailure) as failure:
        stt().transcribe(TranscriptionRequest(upload), upstream_model="whisper-1", deadline=Deadline(2.5))

    # Then it is a timeout, soon after the deadline
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.5


# -- 404s: only a gone model moves the route chain -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "html", "expected"),
    [
        pytest.param(
            404, "model_not_found", None, False, UpstreamFailure.MODEL_UNAVAILABLE, id="model_not_found"
        ),
        pytest.param(
            404, "model_deprecated", None, False, UpstreamFailure.MODEL_UNAVAILABLE, id="deprecated"
        ),
        pytest.param(
            400, "model_retired", None, False, UpstreamFailure.MODEL_UNAVAILABLE, id="retired (400)"
        ),
        pytest.param(410, None, None, False, UpstreamFailure.MODEL_UNAVAILABLE, id="410 gone"),
        pytest.param(
            404,
            None,
            "The model `tts-1` does not exist.",
            False,
            UpstreamFailure.MODEL_UNAVAILABLE,
            id="no code, says the model does not exist",
        ),
        pytest.param(404, None, None, False, UpstreamFailure.ERROR, id="bare JSON 404"),
        pytest.param(404, None, None, True, UpstreamFailure.ERROR, id="HTML 404"),
        pytest.param(
            404,
            "unknown_url",
            "Invalid URL (POST /v1/audio/speech)",
            False,
            UpstreamFailure.ERROR,
            id="unknown URL",
        ),
    ],
)
def test_only_an_answer_about_the_model_makes_it_unavailable(
    fake_openai: FakeOpenAI, status: int, code: str | None, message: str | None, html: bool, expected: str
) -> None:
    # Given one answer of that kind
    fake_openai.fail_next(status, code=code, message=message, html=html)

    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(SPEECH, upstream_model="tts-1", deadline=Deadline(10))

    # Then only an answer about the model says the model is unavailable, and nothing is retried
    assert failure.value.code == expected
    assert fake_openai.calls() == 1


@pytest.mark.parametrize("html", [False, True], ids=["JSON with no code", "HTML page"])
def test_a_bare_404_fails_one_request_and_keeps_the_route(fake_openai: FakeOpenAI, html: bool) -> None:
    # Given one 404 that is not about the model (a proxy or an ingress in the way, for a moment)
    fake_openai.fail_next(404, html=html)

    # When speech is asked for twice
    first = invoke("tts", tts_event({"text": "hi"}))
    second = invoke("tts", tts_event({"text": "hi"}))

    # Then the first request fails as an upstream error, and the route was not given up
    assert (first["statusCode"], first["json"]["code"]) == (500, "upstream_error")
    assert second["statusCode"] == 200
    assert header(second, "X-Speech-Engine") == "openai:tts-1"


def test_a_model_not_found_moves_the_route_on_for_good(fake_openai: FakeOpenAI) -> None:
    # Given whisper-1's route (openai:whisper-1, then openai:gpt-transcribe), and one model_not_found
    fake_openai.fail_next(404, code="model_not_found", path="/v1/audio/transcriptions")
    body = multipart_body({"model": "whisper-1"}, {"audio": ("a.wav", tone("wav"), "audio/wav")})

    # When two transcriptions are asked for
    first = invoke("stt", stt_event(body))
    second = invoke("stt", stt_event(body))

    # Then both are served by the next entry, and the gone model was asked only once
    assert [first["statusCode"], second["statusCode"]] == [200, 200]
    assert header(first, "X-Speech-Engine") == header(second, "X-Speech-Engine") == "openai:gpt-transcribe"
    assert [r.model for r in fake_openai.requests] == ["whisper-1", "gpt-transcribe", "gpt-transcribe"]


# -- long texts: one round of calls, one retry budget, and the first failure stops the rest --------


@pytest.mark.parametrize("parallel", [2, 4, 8])
def test_a_long_text_is_cut_for_one_round_of_the_configured_parallel_calls(parallel: int) -> None:
    # Given the longest text / When cut for `parallel` calls
    chunks = speech_chunks(LONG_TEXT, parallel)
    # Then the chunks cover it in order, within the endpoint's chunk size, in one round when they can
    assert " ".join(chunks) == LONG_TEXT
    assert all(len(chunk) <= 1000 for chunk in chunks)
    assert len(chunks) == parallel if parallel >= 5 else len(chunks) == 5


def test_a_rate_limited_upstream_gets_one_retry_budget_for_the_whole_text(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that rate-limits every call, and a text read in 8 parallel chunks
    fake_openai.fail_next(429, times=100, retry_after=0.05)
    chunks = speech_chunks(LONG_TEXT, get_settings().tts_parallel_calls)
    # When it is synthesized
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(
            SpeechRequest(LONG_TEXT, "alloy", "mp3"), upstream_model="tts-1", deadline=Deadline(10)
        )
    # Then it fails as rate limited after one call per chunk and the request's 2 retries, not 3 per chunk
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
    assert len(chunks) <= fake_openai.calls("/v1/audio/speech") <= len(chunks) + 2


def test_the_first_chunk_that_fails_for_good_stops_the_chunks_not_yet_asked(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 2 parallel calls for a text of 5 chunks, and an upstream whose first answer is a final 400
    monkeypatch.setenv("TTS_PARALLEL_CALLS", "2")
    get_settings.cache_clear()
    fake_openai.seconds_per_input_char = 0.0005  # the sibling call is still running when the 400 comes
    fake_openai.fail_next(400, times=1, message="Invalid input")
    # When it is synthesized
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(
            SpeechRequest(LONG_TEXT, "alloy", "mp3"), upstream_model="tts-1", deadline=Deadline(10)
        )
    # Then the failure is the 400's, and the three chunks not yet started were never asked for
    assert failure.value.code == UpstreamFailure.ERROR
    assert fake_openai.calls("/v1/audio/speech") == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body><h1>Welcome to nginx!</h1></body></html>", "text/html"),
        (b"", "audio/mpeg"),
        (b'{"status": "ok"}', "application/json"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64), "audio/wav"),  # audio, but not the mp3 asked for
    ],
    ids=["html", "empty", "json", "other-format"],
)
def test_a_200_that_is_not_the_asked_audio_is_retried_then_an_upstream_error(
    fake_openai: FakeOpenAI, body: bytes, content_type: str
) -> None:
    # Given an upstream whose 200s carry something other than mp3 audio
    fake_openai.answer_next_with(body, content_type, times=10)
    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        tts().synthesize(
            SpeechRequest("Hello.", "alloy", "mp3"), upstream_model="tts-1", deadline=Deadline(10)
        )
    # Then it is retried like a transient failure, then fails as upstream_error (never returned as audio)
    assert failure.value.code == UpstreamFailure.ERROR
    assert fake_openai.calls("/v1/audio/speech") == 3


def test_one_bad_200_then_real_audio_is_served(fake_openai: FakeOpenAI) -> None:
    # Given an upstream whose first answer is a proxy's HTML page with status 200
    fake_openai.answer_next_with(b"<html>maintenance</html>", "text/html", times=1)
    # When a long text's chunks (pcm) are asked for / Then the retry serves real audio
    audio = tts().synthesize(
        SpeechRequest(LONG_TEXT, "alloy", "wav"), upstream_model="tts-1", deadline=Deadline(10)
    )
    assert audio.startswith(b"RIFF") and duration_seconds(audio) > 4


def test_a_transcription_200_without_a_transcript_is_retried(fake_openai: FakeOpenAI) -> None:
    # Given an upstream whose first 200 is an HTML page
    fake_openai.answer_next_with(b"<html>hello</html>", "text/html", times=1)
    # When audio is transcribed / Then the second attempt's transcript is returned
    text = (
        stt()
        .transcribe(
            TranscriptionRequest(AudioUpload(tone("mp3"), "mp3")),
            upstream_model="whisper-1",
            deadline=Deadline(10),
        )
        .text
    )
    assert text == fake_openai.transcript
    assert fake_openai.calls("/v1/audio/transcriptions") == 2


# -- an OpenAI-compatible upstream whose verbose_json has its text but no segments ------------------


@pytest.mark.parametrize(
    ("response_format", "cue"),
    [("srt", "1\n00:00:00,000 --> 00:00:02,000\n"), ("vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n")],
)
def test_a_verbose_json_without_segments_is_one_cue_over_the_whole_recording(
    fake_openai: FakeOpenAI, response_format: str, cue: str
) -> None:
    # Given an upstream that answers verbose_json with its text and duration, but no segments
    fake_openai.transcript = "Every word is kept."
    fake_openai.verbose_json_without = frozenset({"segments"})
    # When two seconds of audio are posted for subtitles
    fields = {"model": "whisper-1", "response_format": response_format}
    event = stt_event(multipart_body(fields, {"audio": ("a.wav", tone("wav", 2.0), "audio/wav")}))
    response = load_handler("stt").lambda_handler(event, FakeLambdaContext())  # its body is not JSON
    # Then the subtitles are one cue, from 0 to the upstream's duration, holding the whole text
    assert response["statusCode"] == 200, response["body"]
    assert response["body"] == f"{cue}Every word is kept.\n\n"
    assert fake_openai.last_request.form["response_format"] == "verbose_json"


def test_without_segments_or_duration_the_one_segment_spans_the_audio(fake_openai: FakeOpenAI) -> None:
    # Given an upstream whose verbose_json has neither segments nor a duration
    fake_openai.transcript = "Still every word."
    fake_openai.verbose_json_without = frozenset({"segments", "duration"})
    # When two seconds of audio are transcribed with timings
    result = stt().transcribe(
        TranscriptionRequest(AudioUpload(tone("wav", 2.0), "wav"), timings=True),
        upstream_model="whisper-1",
        deadline=Deadline(10),
    )
    # Then the text is one segment over the audio's own duration (from its headers)
    assert [(s.start, round(s.end, 2), s.text) for s in result.segments or ()] == [
        (0.0, 2.0, "Still every word.")
    ]
    assert result.duration is not None and round(result.duration, 2) == 2.0


# -- speech as it is made (speak_stream) ---------------------------------------------------------------------------


def test_speech_is_given_as_the_upstream_sends_it(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that speaks at a pace (first bytes at once, then 0.02 s a character: 6 s in all, so that
    # a busy machine's pause cannot let the whole answer end before the first chunk is read)
    request = SpeechRequest(text=LONG_TEXT[:300], voice="nova", response_format="mp3", speed=1.25)
    whole = tts().synthesize(
        SpeechRequest(request.text, "nova", "pcm", 1.25), upstream_model="tts-1", deadline=Deadline(10)
    )
    fake_openai.reset()
    fake_openai.first_audio_seconds = 0.0
    fake_openai.seconds_per_input_char = 0.02
    # When the engine streams it
    chunks = tts().speak_stream(request, upstream_model="tts-1", deadline=Deadline(30))
    first = next(chunks)
    # Then the first chunk is there before the answer has ended
    assert fake_openai.audio_finished == []
    rest = b"".join(chunks)
    assert len(fake_openai.audio_finished) == 1
    # And the chunks are the PCM the upstream was asked for, whatever format the request names
    assert first + rest == whole
    assert fake_openai.last_request.json["response_format"] == "pcm"
    assert fake_openai.last_request.json["speed"] == 1.25


def test_a_stream_refused_before_its_first_chunk_is_retried_and_nothing_of_it_is_given(
    fake_openai: FakeOpenAI,
) -> None:
    # Given an upstream whose first answer is a proxy's HTML page with status 200, then a rate limit
    fake_openai.answer_next_with(b"<html>maintenance</html>", "text/html", times=1)
    fake_openai.fail_next(429)
    # When speech is streamed / Then the third attempt's audio is all that is given
    audio = b"".join(tts().speak_stream(SPEECH, upstream_model="tts-1", deadline=Deadline(10)))
    assert fake_openai.calls("/v1/audio/speech") == 3
    assert not audio.startswith(b"<html") and len(audio) % 2 == 0 and len(audio) > 1000


def test_a_stream_cut_after_its_first_chunk_fails_without_a_retry(fake_openai: FakeOpenAI) -> None:
    # Given an answer streaming slowly
    fake_openai.stream_chunk_delay = 0.2
    chunks = tts().speak_stream(SPEECH, upstream_model="tts-1", deadline=Deadline(10))
    next(chunks)
    # When the upstream drops it halfway (reset ends the answer unfinished)
    fake_openai.reset()
    # Then the stream fails as an upstream failure: the audio already given cannot be taken back
    with pytest.raises(UpstreamFailure) as failure:
        b"".join(chunks)
    assert failure.value.code == UpstreamFailure.ERROR
    assert fake_openai.calls("/v1/audio/speech") == 0  # no second attempt after the reset


def test_a_stream_slower_than_the_deadline_ends_at_the_deadline(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that waits 1 s between chunks
    fake_openai.stream_chunk_delay = 1.0
    started = time.monotonic()
    # When speech is streamed with a 1.5 s deadline
    with pytest.raises(UpstreamFailure) as failure:
        b"".join(tts().speak_stream(SPEECH, upstream_model="tts-1", deadline=Deadline(1.5)))
    # Then it fails as a timeout, soon after the deadline rather than at the answer's end
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3
