"""Speakers under `make serve` with the fake OpenAI: the official `openai` SDK gets diarized_json as its own
TranscriptionDiarized, and curl gets /api's subtitles with WebVTT voice tags."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator

import openai
import pytest
from openai.types.audio import (
    TranscriptionDiarized,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
)

from speech_common.transcode import encode_pcm
from tests.fakes.openai_server import FakeOpenAI
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer, server_env
from tests.tone_speech import RATE, conversation, diarize

pytestmark = pytest.mark.e2e

# Two voices, the second one first: A is voice 1, B voice 0.
TURNS = [(1, ["alpha", "bravo", "charlie"]), (0, ["delta", "echo"]), (1, ["golf"]), (0, ["hotel", "alpha"])]


def flac(turns: list[tuple[int, list[str]]]) -> bytes:
    return encode_pcm(conversation(turns), sample_rate=RATE, fmt="flac", output_rate=RATE)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-diarize") as fake:
        fake.diarizer = diarize
        yield fake


@pytest.fixture(scope="module")
def server(serve: StartServer, fake_openai: FakeOpenAI) -> LocalServer:
    env = server_env(OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    return serve(SPEECH_TEMPLATE, env)


@pytest.fixture(scope="module")
def client(server: LocalServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1", api_key="sk-local", max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def test_the_sdk_gets_diarized_json_as_its_own_type(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    # Given a two-voice recording
    # When the official SDK asks for gpt-4o-transcribe-diarize's diarized_json, as OpenAI's docs show
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize",
        file=("meeting.flac", flac(TURNS), "audio/flac"),
        response_format="diarized_json",
        chunking_strategy="auto",
    )
    # Then it parses as TranscriptionDiarized, each segment with its speaker in order of appearance
    assert isinstance(result, TranscriptionDiarized)
    assert [(s.text, s.speaker) for s in result.segments] == [
        ("alpha bravo charlie", "A"),
        ("delta echo", "B"),
        ("golf", "A"),
        ("hotel alpha", "B"),
    ]
    assert result.segments[0].type == "transcript.text.segment" and result.task == "transcribe"
    assert fake_openai.last_request.form["response_format"] == "diarized_json"


def test_the_sdk_streams_diarized_json_as_segment_events(client: openai.OpenAI) -> None:
    # Given the two-voice recording
    # When the SDK streams diarized_json
    stream = client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize",
        file=("meeting.flac", flac(TURNS), "audio/flac"),
        response_format="diarized_json",
        stream=True,
    )
    events = list(stream)
    # Then it parses each transcript.text.segment with its speaker, and the done event with the whole text
    segments = [e for e in events if isinstance(e, TranscriptionTextSegmentEvent)]
    assert [(s.id, s.speaker) for s in segments] == [
        ("seg_0", "A"),
        ("seg_1", "B"),
        ("seg_2", "A"),
        ("seg_3", "B"),
    ]
    deltas = [e for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    assert [d.segment_id for d in deltas] == ["seg_0", "seg_1", "seg_2", "seg_3"]
    assert isinstance(events[-1], TranscriptionTextDoneEvent)
    assert events[-1].text == "alpha bravo charlie delta echo golf hotel alpha"


def test_the_sdk_names_a_known_speaker(client: openai.OpenAI) -> None:
    # Given a reference clip of the voice that speaks second, named "agent"
    clip = flac([(0, ["alpha", "bravo", "charlie"])])
    reference = "data:audio/flac;base64," + base64.b64encode(clip).decode()
    # When the SDK sends it with the recording
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize",
        file=("meeting.flac", flac(TURNS), "audio/flac"),
        response_format="diarized_json",
        known_speaker_names=["agent"],
        known_speaker_references=[reference],
    )
    # Then that voice is called agent
    assert [s.speaker for s in result.segments] == ["A", "agent", "A", "agent"]


def test_the_sdk_gets_a_bad_request_for_diarized_json_from_whisper(client: openai.OpenAI) -> None:
    # Given whisper-1, which gives no speakers / When the SDK asks it for diarized_json
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            model="whisper-1",
            file=("meeting.flac", flac(TURNS), "audio/flac"),
            response_format="diarized_json",
        )
    # Then OpenAI's 400 naming the parameter
    assert refused.value.param == "response_format"


def test_curl_gets_vtt_with_voice_tags_from_api(server: LocalServer, tmp_path) -> None:
    # Given the recording in a file
    audio = tmp_path / "meeting.flac"
    audio.write_bytes(flac(TURNS))
    # When curl posts it to /api/stt/ with diarize=true and response_format=vtt
    done = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail-with-body", "-X", "POST",
            f"http://127.0.0.1:{server.port}/api/stt/",
            "-F", f"audio=@{audio}", "-F", "diarize=true", "-F", "response_format=vtt",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # Then each cue carries its speaker as a WebVTT voice tag
    assert done.stdout.startswith("WEBVTT")
    assert "<v A>alpha bravo charlie" in done.stdout and "<v B>delta echo" in done.stdout
