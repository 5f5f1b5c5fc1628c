"""Only speech goes upstream, under `make serve` with the official SDK and the offline engine's real recogniser:
silence is heard as nothing, and a recording with long pauses keeps its timings."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.audio_helpers import decode_to_pcm
from tests.local_server import LocalServer
from tests.samples import encode

RATE = 16_000


@pytest.fixture(scope="module")
def client(speech_server: LocalServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{speech_server.port}/v1", api_key="sk-local", max_retries=0, timeout=120
    ) as sdk:
        yield sdk


def said(client: openai.OpenAI, text: str) -> bytes:
    """`text` spoken by the local engine, as 16 kHz PCM."""
    wav = client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="wav").content
    return decode_to_pcm(wav, sample_rate=RATE)


def quiet(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def test_silence_is_heard_as_nothing(client: openai.OpenAI) -> None:
    # Given 30 s of digital silence / When the SDK asks for its transcript, plain and verbose
    file = ("silence.wav", encode("wav", quiet(30), RATE))
    plain = client.audio.transcriptions.create(model="whisper-1", file=file)
    verbose = client.audio.transcriptions.create(model="whisper-1", file=file, response_format="verbose_json")
    # Then there is no text and no segment, and the duration is the file's
    assert plain.text == ""
    assert verbose.text == "" and not verbose.segments and verbose.duration == pytest.approx(30, abs=0.1)


def test_a_recording_with_long_pauses_keeps_its_words_and_timings(client: openai.OpenAI) -> None:
    # Given two sentences: the first after 20 s of silence, the second 40 s after it, then 10 s of silence
    first, second = (
        said(client, "The birch canoe slid on the smooth planks."),
        said(client, "Rice is often served in round bowls."),
    )
    second_at = 20 + len(first) / 2 / RATE + 40
    pcm = quiet(20) + first + quiet(40) + second + quiet(10)
    # When the SDK asks for verbose_json with word timings
    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("meeting.wav", encode("wav", pcm, RATE)),
        response_format="verbose_json",
        timestamp_granularities=["word"],
        language="en",
    )
    # Then both sentences are heard, each word where it was said on the recording's clock (not on the joined speech's)
    words = {w.word.strip(" .,").lower(): w.start for w in verbose.words or []}
    assert "birch" in words and "served" in words, verbose.text
    assert 20 <= words["birch"] <= 21.5, words
    assert second_at <= words["served"] <= second_at + 2.5, words
    assert verbose.duration == pytest.approx(len(pcm) / 2 / RATE, abs=0.1)
