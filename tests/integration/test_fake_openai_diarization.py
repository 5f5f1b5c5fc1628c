"""The fake OpenAI server diarizes as gpt-4o-transcribe-diarize does, driven by the real openai SDK."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI
from openai.types.audio import TranscriptionDiarized

from speech_common.transcode import encode_pcm
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_fake_openai_server import BEFORE_ANY_SHUTDOWN, make_wav
from tests.tone_speech import RATE, conversation, diarize

MODEL = "gpt-4o-transcribe-diarize"
TURNS = [(1, ["alpha", "bravo", "charlie"]), (0, ["delta", "echo"]), (1, ["golf"])]


def flac(turns: list[tuple[int, list[str]]]) -> tuple[str, bytes, str]:
    return (
        "talk.flac",
        encode_pcm(conversation(turns), sample_rate=RATE, fmt="flac", output_rate=RATE),
        "audio/flac",
    )


def data_url(turns: list[tuple[int, list[str]]]) -> str:
    return "data:audio/flac;base64," + base64.b64encode(flac(turns)[1]).decode()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(today=BEFORE_ANY_SHUTDOWN) as server:
        server.diarizer = diarize
        yield server
        assert server.errors == [], "the fake itself failed"


@pytest.fixture
def client(fake: FakeOpenAI) -> OpenAI:
    return OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)


def test_speakers_are_labelled_per_request_in_order_of_appearance(client: OpenAI) -> None:
    # Given a recording whose first voice is voice 1 / When it is diarized
    result = client.audio.transcriptions.create(
        model=MODEL, file=flac(TURNS), response_format="diarized_json"
    )
    # Then the SDK reads TranscriptionDiarized, the first voice heard is A
    assert isinstance(result, TranscriptionDiarized)
    assert [(s.id, s.speaker, s.text) for s in result.segments] == [
        ("seg_0", "A", "alpha bravo charlie"),
        ("seg_1", "B", "delta echo"),
        ("seg_2", "A", "golf"),
    ]


def test_a_known_speakers_voice_comes_back_under_its_name(client: OpenAI) -> None:
    # Given a reference clip of voice 1 named "host"
    # When the recording is diarized with it
    result = client.audio.transcriptions.create(
        model=MODEL,
        file=flac(TURNS),
        response_format="diarized_json",
        known_speaker_names=["host"],
        known_speaker_references=[data_url([(1, ["hotel", "hotel", "echo"])])],
    )
    # Then voice 1 is "host" and the other voice, unknown, is A
    assert [s.speaker for s in result.segments] == ["host", "A", "host"]


@pytest.mark.parametrize(
    ("seconds", "chunking", "param"),
    [(31, None, "chunking_strategy"), (1401, "auto", "file")],
)
def test_long_audio_needs_chunking_and_stops_at_1400_seconds(
    client: OpenAI, seconds: float, chunking: str | None, param: str
) -> None:
    # Given audio over 30 s without a chunking_strategy, or over 1,400 s with one
    extra = {"chunking_strategy": chunking} if chunking else {}
    # When it is sent to the diarizing model / Then 400 naming the parameter, as OpenAI answers
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            model=MODEL,
            file=("a.wav", make_wav(seconds, rate=4000), "audio/wav"),
            response_format="diarized_json",
            **extra,
        )
    assert refused.value.param == param


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"prompt": "Names"}, "prompt"),
        ({"known_speaker_names": ["a"], "known_speaker_references": []}, "known_speaker_references"),
        (
            {"known_speaker_names": ["a"], "known_speaker_references": ["https://x/a.wav"]},
            "known_speaker_references",
        ),
        ({"response_format": "verbose_json"}, "response_format"),
    ],
)
def test_what_the_diarizing_model_does_not_take_is_a_400(client: OpenAI, extra: dict, param: str) -> None:
    # Given a parameter the model refuses / When it is sent
    params = {"model": MODEL, "file": flac(TURNS), "response_format": "diarized_json", **extra}
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(**params)
    # Then 400 naming it
    assert refused.value.param == param


def test_diarized_json_is_only_the_diarizing_models(client: OpenAI) -> None:
    # Given whisper-1 / When diarized_json is asked of it / Then 400, as OpenAI answers
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            model="whisper-1", file=flac(TURNS), response_format="diarized_json"
        )
    assert refused.value.param == "response_format"
