"""The /v1 door under `make serve`, driven by the official `openai` Python SDK (offline `local` engine)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import openai
import pytest
from openai.types.audio import TranscriptionVerbose

from tests.audio_helpers import codec_and_samples
from tests.helpers import V1_SPEECH_CODECS, V1_SPEECH_CONTENT_TYPES, V1_VOICES
from tests.local_server import LocalServer


@pytest.fixture(scope="module")
def client(speech_server: LocalServer) -> Iterator[openai.OpenAI]:
    """The SDK as a user points it at make serve: base_url and any key (none is checked locally)."""
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{speech_server.port}/v1", api_key="sk-local", max_retries=0, timeout=60
    ) as sdk:
        yield sdk


@pytest.mark.parametrize("fmt", [*V1_SPEECH_CODECS, "pcm"])
@pytest.mark.parametrize("voice", V1_VOICES)
def test_speech_in_every_voice_and_format_is_real_audio(client: openai.OpenAI, voice: str, fmt: str) -> None:
    # Given a voice and a format / When the SDK asks for speech
    response = client.audio.speech.with_raw_response.create(
        model="tts-1", voice=voice, input="Hello from the speech API", response_format=fmt
    )
    audio = response.parse().content
    # Then the answer is the audio itself, typed per format
    assert response.headers["content-type"] == V1_SPEECH_CONTENT_TYPES[fmt]
    if fmt == "pcm":  # raw 24 kHz 16-bit samples: over half a second, whole samples, not base64 text
        assert len(audio) > 24_000 and len(audio) % 2 == 0
        with pytest.raises(ValueError):
            base64.b64decode(audio, validate=True)
        return
    codec, samples = codec_and_samples(audio)
    assert codec in V1_SPEECH_CODECS[fmt] and samples > 12_000  # over half a second of speech
    assert response.headers["x-speech-engine"] == "local:local"


def test_speech_with_streaming_response(client: openai.OpenAI, tmp_path) -> None:
    # Given the SDK's streaming interface / When speech is streamed to a file
    target = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
        model="tts-1-hd", voice="onyx", input="Streaming to a file", response_format="mp3"
    ) as response:
        response.stream_to_file(target)
    # Then the file is mp3
    codec, samples = codec_and_samples(target.read_bytes())
    assert codec in V1_SPEECH_CODECS["mp3"] and samples > 12_000


@pytest.fixture(scope="module")
def spoken_wav(client: openai.OpenAI) -> bytes:
    return client.audio.speech.create(
        model="tts-1", voice="alloy", input="hello world this is a test", response_format="wav"
    ).content


def test_transcription_json(client: openai.OpenAI, spoken_wav: bytes) -> None:
    # Given spoken words / When the SDK transcribes them (json, its default)
    transcript = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", spoken_wav))
    # Then a Transcription with some of the words (the offline recogniser is poor)
    words = set(transcript.text.lower().split())
    assert words & {"hello", "world", "this", "is", "a", "test"}, transcript.text


def test_transcription_text(client: openai.OpenAI, spoken_wav: bytes) -> None:
    # Given spoken words / When the SDK asks for response_format text, with a prompt and a language
    text = client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", spoken_wav),
        response_format="text",
        prompt="A test.",
        language="en",
    )
    # Then a plain string, one line
    assert isinstance(text, str) and text.endswith("\n") and text.strip()


SRT_CUE = re.compile(r"^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n\S")
VTT_CUE = re.compile(r"^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n\S")


@pytest.mark.parametrize(("response_format", "cue"), [("srt", SRT_CUE), ("vtt", VTT_CUE)])
def test_transcription_subtitles_are_strings(
    client: openai.OpenAI, spoken_wav: bytes, response_format: str, cue: re.Pattern[str]
) -> None:
    # Given spoken words / When the SDK asks for subtitles
    subtitles = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", spoken_wav), response_format=response_format, language="en"
    )
    # Then a string of cues, the first one timed and with words
    assert isinstance(subtitles, str) and cue.match(subtitles), subtitles


def test_transcription_verbose_json_is_a_transcription_verbose(
    client: openai.OpenAI, spoken_wav: bytes
) -> None:
    # Given spoken words / When the SDK asks for verbose_json with segment and word timings
    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("speech.wav", spoken_wav),
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
        language="en",
    )
    # Then the SDK's TranscriptionVerbose: segments and words within the recording, in order, the language as OpenAI
    # names it (the offline engine heard "en")
    assert isinstance(verbose, TranscriptionVerbose)
    assert verbose.segments and verbose.words and verbose.language == "english"
    seconds = codec_and_samples(spoken_wav)[1] / 24_000
    assert verbose.duration == pytest.approx(seconds, abs=0.1)
    assert all(0 <= s.start < s.end <= seconds + 0.3 for s in verbose.segments)
    assert [w.start for w in verbose.words] == sorted(w.start for w in verbose.words)
    assert verbose.text.strip() == " ".join(s.text.strip() for s in verbose.segments)


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    # Given the SDK / When it lists the models and retrieves one
    models = sorted(model.id for model in client.models.list())
    one = client.models.retrieve("whisper-1")
    # Then the three public models, and the one asked for
    assert models == ["gpt-4o-transcribe-diarize", "tts-1", "tts-1-hd", "whisper-1"]
    assert (one.id, one.object) == ("whisper-1", "model")


def test_a_bad_voice_is_a_bad_request(client: openai.OpenAI) -> None:
    # Given a voice tts-1 does not have / When the SDK asks for speech in it
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="coral", input="Hello")
    # Then BadRequestError naming the voice
    assert (caught.value.status_code, caught.value.param, caught.value.code) == (
        400,
        "voice",
        "unsupported_voice",
    )


def test_a_bad_file_is_a_bad_request(client: openai.OpenAI) -> None:
    # Given a file that is not audio / When the SDK asks for its transcript
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.mp3", b"these are not sounds"))
    # Then BadRequestError naming the file
    assert (caught.value.param, caught.value.code) == ("file", "unsupported_audio")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks translations deprecated
def test_unknown_model_and_translations_are_not_found(client: openai.OpenAI, spoken_wav: bytes) -> None:
    # Given a model this deployment does not serve, and the translations endpoint / When the SDK asks
    with pytest.raises(openai.NotFoundError) as model:
        client.models.retrieve("gpt-4o")
    with pytest.raises(openai.NotFoundError) as translation:
        client.audio.translations.create(model="whisper-1", file=("speech.wav", spoken_wav))
    # Then NotFoundError for both, saying why
    assert model.value.code == "model_not_found"
    assert translation.value.code == "unsupported_endpoint" and "2027-02-26" in translation.value.message


@pytest.mark.parametrize(
    "accept", ["application/octet-stream", "audio/mpeg", "application/json, audio/mpeg", "*/*", None]
)
def test_streamed_speech_is_bytes_whatever_the_accept_header(
    speech_server: LocalServer, accept: str | None
) -> None:
    # Given an Accept header / When speech is asked for over plain HTTP
    headers = {"Content-Type": "application/json", **({"Accept": accept} if accept else {})}
    body = b'{"model": "tts-1", "input": "Hi", "voice": "alloy"}'
    reply = speech_server.post("/v1/audio/speech", body, headers=headers)
    # Then the mp3 arrives as bytes: a streamed answer passes through API Gateway as it is, never as base64 text
    # (binary media types apply to buffered answers only)
    assert reply.status == 200
    audio = reply.body
    assert codec_and_samples(audio)[0] in V1_SPEECH_CODECS["mp3"]
