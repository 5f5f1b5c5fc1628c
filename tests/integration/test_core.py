"""The speech core without HTTP: what a job worker or another door calls, with no API Gateway event."""

from __future__ import annotations

import json

import pytest

from speech_common.audio import AudioUpload
from speech_common.core import Speech, SynthesisRequest, Transcript, TranscriptionJob, synthesize, transcribe
from speech_common.deadline import Deadline
from speech_common.errors import OperationFailed
from speech_common.model_routing import Route
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import fresh_python
from tests.samples import tone


def test_a_transcription_job_is_served_without_an_event(fake_openai: FakeOpenAI) -> None:
    # Given audio and a deadline, and no API Gateway event or Lambda context
    fake_openai.transcript = "  turn left  "
    job = TranscriptionJob(audio=AudioUpload(data=tone("mp3"), format="mp3"), language="en")
    # When the core transcribes it
    transcript, route = transcribe(job, Deadline(10))
    # Then it returns a typed transcript (with the language and length whisper-1 heard) and the route that served it
    assert transcript == Transcript(
        text="turn left",
        model="whisper-1",
        language="en",
        duration=pytest.approx(0.5, abs=0.05),
        speech_seconds=pytest.approx(0.5, abs=0.05),
    )
    assert route == Route("openai", "whisper-1")
    assert fake_openai.requests[-1].form["language"] == "en"


def test_speech_is_served_without_an_event(fake_openai: FakeOpenAI) -> None:
    # Given a validated request and a deadline
    request = SynthesisRequest(text="Hello there.", voice="nova", response_format="wav")
    # When the core synthesizes it
    speech, route = synthesize(request, Deadline(10))
    # Then it returns typed audio (not base64, not an HTTP answer) and the route
    assert isinstance(speech, Speech) and speech.audio.startswith(b"RIFF")
    assert (speech.model, speech.voice, speech.response_format) == ("tts-1", "nova", "wav")
    assert route == Route("openai", "tts-1")


def test_an_upstream_failure_is_a_typed_error_with_a_code(fake_openai: FakeOpenAI) -> None:
    # Given an upstream that refuses the key
    fake_openai.api_key = "sk-another"
    # When the core is asked / Then it raises OperationFailed with the documented code, no HTTP status
    with pytest.raises(OperationFailed) as caught:
        synthesize(SynthesisRequest(text="Hello."), Deadline(10))
    assert (caught.value.detail, caught.value.code) == ("Speech synthesis failed", "upstream_auth_failed")
    assert not hasattr(caught.value, "status_code")


def test_the_core_imports_nothing_of_http() -> None:
    # Given a fresh interpreter / When the core is imported
    loaded = fresh_python(
        "import sys, json, speech_common.core; "
        "print(json.dumps(sorted(m for m in sys.modules if 'event_handler' in m or m.startswith(('speech_common.http_kit', 'speech_common.doors')))))"
    )
    # Then neither Powertools' event handler nor our HTTP edge came with it
    assert json.loads(loaded) == []


def test_a_bad_configuration_stops_the_cold_start_naming_the_variable() -> None:
    # Given a route that names an engine that does not exist
    code = "import tests.helpers as h; h.load_handler('tts')"
    # When a container imports the handler / Then the import fails with the variable and the problem
    with pytest.raises(Exception) as caught:
        fresh_python(code, TTS_MODEL_ROUTES="tts-1=opneai:tts-1;tts-1-hd=openai:tts-1-hd")
    stderr = getattr(caught.value, "stderr", "")
    assert "ConfigurationError: bad configuration: TTS_MODEL_ROUTES: 'opneai' is not a tts engine" in stderr
