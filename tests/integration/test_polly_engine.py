"""The `polly` engine against botocore's Stubber (moto's Polly answers 8 zero bytes, not audio).

Stubbed answers carry real audio: s16le tones for PCM, PyAV-encoded mp3 for mp3. Transport
failures go through the real botocore stack (a silent loopback server, a send hook, no credentials),
and so do slow answers (a loopback server that streams its audio piece by piece).
"""

from __future__ import annotations

import array
import io
import math
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from speech_common import engines
from speech_common.core import LONG_TEXT_PIECE_CHARS, SynthesisRequest, synthesize_long_text
from speech_common.deadline import Deadline
from speech_common.engines.base import SpeechRequest
from speech_common.engines.polly import PollyTextToSpeech
from speech_common.errors import UpstreamFailure
from speech_common.settings import get_settings
from tests.helpers import free_port

POLLY_RATE = 16_000
OUTPUT_RATE = 24_000  # every answer of the API is 24 kHz, like OpenAI's
DOCUMENTED_VOICE_IDS = {
    "alloy": "Joanna",
    "echo": "Matthew",
    "fable": "Arthur",
    "onyx": "Gregory",
    "nova": "Danielle",
    "shimmer": "Ruth",
}
# response_format -> (container format PyAV reports, codec of the stream)
FORMATS = {
    "mp3": ("mp3", "mp3"),
    "opus": ("ogg", "opus"),
    "aac": ("aac", "aac"),
    "flac": ("flac", "flac"),
    "wav": ("wav", "pcm_s16le"),
    "pcm": ("s16le", "pcm_s16le"),
}
# FFmpeg names some decoders after their implementation (mp3 -> mp3float); the codec is the same.
DECODER_CODECS = {"mp3float": "mp3", "libopus": "opus"}


# ---------------------------------------------------------------------------------------------
# Real audio for the stubbed answers, and decoding of ours


def tone(seconds: float, *, rate: int = POLLY_RATE, freq: float = 440.0) -> bytes:
    """Mono s16le samples of a sine tone: what Polly's pcm answer holds."""
    count = round(seconds * rate)
    samples = array.array("h", (round(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(count)))
    return samples.tobytes()


def mp3_of(pcm: bytes, *, rate: int) -> bytes:
    """An mp3 stream made with PyAV: what Polly's mp3 answer holds."""
    output = io.BytesIO()
    with av.open(output, mode="w", format="mp3") as container:
        stream: Any = container.add_stream("libmp3lame", rate=rate, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = 0
        for item in (frame, None):
            container.mux(stream.encode(item))
    return output.getvalue()


@dataclass
class Decoded:
    container: str
    codec: str
    sample_rate: int
    seconds: float


def decode(data: bytes, response_format: str) -> Decoded:
    # Raw PCM has no header: say what it is, as a client of the API must.
    raw = response_format == "pcm"
    with av.open(
        io.BytesIO(data),
        mode="r",
        format="s16le" if raw else None,
        options={"sample_rate": str(OUTPUT_RATE), "ch_layout": "mono"} if raw else None,
    ) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        codec = DECODER_CODECS.get(stream.codec_context.name, stream.codec_context.name)
        return Decoded(container.format.name, codec, stream.rate, samples / stream.rate)


# ---------------------------------------------------------------------------------------------
# Fixtures


def closed_loopback_url() -> str:
    """An endpoint that refuses at once: a call that escapes the stub fails fast, offline."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class StubbedPolly:
    engine: PollyTextToSpeech
    stubber: Stubber
    calls: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, audio: bytes, *, content_type: str = "audio/pcm", characters: int = 10) -> None:
        self.stubber.add_response(
            "synthesize_speech",
            {
                "AudioStream": StreamingBody(io.BytesIO(audio), len(audio)),
                "ContentType": content_type,
                "RequestCharacters": characters,
            },
        )

    def fail(self, code: str, status: int, message: str = "refused") -> None:
        self.stubber.add_client_error(
            "synthesize_speech", service_error_code=code, service_message=message, http_status_code=status
        )

    def speak(
        self,
        text: str = "Hello there.",
        *,
        voice: str = "alloy",
        response_format: str = "wav",
        speed: float = 1.0,
        upstream_model: str = "neural",
        deadline: Deadline | None = None,
    ) -> bytes:
        request = SpeechRequest(text=text, voice=voice, response_format=response_format, speed=speed)
        return self.engine.synthesize(
            request, upstream_model=upstream_model, deadline=deadline or Deadline(30)
        )


@pytest.fixture
def polly(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedPolly]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_POLLY", closed_loopback_url())
    engine = engines.tts_engine("polly", get_settings())
    assert isinstance(engine, PollyTextToSpeech)
    # A client built for a shorter deadline fits the 30 s the tests give: the calls reuse it.
    client = engine.client(Deadline(20))
    stubbed = StubbedPolly(engine, Stubber(client))
    client.meta.events.register(
        "before-parameter-build.polly.SynthesizeSpeech",
        lambda params, **_: stubbed.calls.append(dict(params)),
    )
    with stubbed.stubber:
        yield stubbed
    stubbed.stubber.assert_no_pending_responses()


@pytest.fixture
def one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """One attempt per call (set before the engine is built): an error is seen as Polly sent it."""
    monkeypatch.setenv("UPSTREAM_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()


@pytest.fixture
def deployment_voice_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment mapping echo to Stephen, nova to Kajal, and nothing to alloy."""
    monkeypatch.setenv("POLLY_VOICE_MAP", "echo=Stephen; nova = Kajal ;")
    get_settings.cache_clear()


# ---------------------------------------------------------------------------------------------
# Voices and engines


@pytest.mark.parametrize(("voice", "voice_id"), DOCUMENTED_VOICE_IDS.items())
def test_each_documented_voice_is_sent_as_its_polly_voice_with_the_route_engine(
    polly: StubbedPolly, voice: str, voice_id: str
) -> None:
    # Given Polly answers with half a second of PCM
    polly.answer(tone(0.5))

    # When a documented voice is asked for on the `polly:neural` route
    audio = polly.speak("Good morning.", voice=voice, response_format="wav")

    # Then exactly one call names the mapped VoiceId and Engine=neural, asking for 16 kHz PCM
    assert polly.calls == [
        {
            "Engine": "neural",
            "VoiceId": voice_id,
            "TextType": "text",
            "Text": "Good morning.",
            "OutputFormat": "pcm",
            "SampleRate": "16000",
        }
    ]
    assert decode(audio, "wav").seconds == pytest.approx(0.5, abs=0.01)


def test_an_unmapped_voice_gets_the_default_voice_of_the_map(polly: StubbedPolly) -> None:
    # Given a voice the map does not list
    polly.answer(tone(0.2))

    # When it is asked for
    polly.speak(voice="verse")

    # Then the map's default (alloy's voice) is used
    assert polly.calls[0]["VoiceId"] == "Joanna"


@pytest.mark.usefixtures("deployment_voice_map")
def test_the_voice_map_comes_from_settings(polly: StubbedPolly) -> None:
    # Given a deployment's voice map (echo=Stephen; nova=Kajal; a malformed entry), and Polly answering
    polly.answer(tone(0.2))
    polly.answer(tone(0.2))

    # When echo, then an unmapped voice, are asked for
    polly.speak(voice="echo")
    polly.speak(voice="shimmer")

    # Then echo is Stephen, and the unmapped voice falls back to the map's first entry (no alloy)
    assert [call["VoiceId"] for call in polly.calls] == ["Stephen", "Stephen"]


def test_a_name_that_is_not_a_polly_engine_is_an_unavailable_model_without_a_call(
    polly: StubbedPolly,
) -> None:
    # Given a route naming a Polly engine that does not exist (`polly:nueral`)
    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        polly.speak(upstream_model="nueral")

    # Then the route chain may move on, and Polly was not called
    assert failure.value.code == UpstreamFailure.MODEL_UNAVAILABLE
    assert polly.calls == []


@pytest.mark.parametrize("engine_name", ["standard", "generative", "long-form"])
def test_every_polly_engine_can_be_routed(polly: StubbedPolly, engine_name: str) -> None:
    # Given Polly answers
    polly.answer(tone(0.2))

    # When the route names another Polly engine
    polly.speak(upstream_model=engine_name)

    # Then that engine is sent
    assert polly.calls[0]["Engine"] == engine_name


# ---------------------------------------------------------------------------------------------
# Formats


@pytest.mark.parametrize("response_format", FORMATS)
def test_every_response_format_decodes_as_its_codec(polly: StubbedPolly, response_format: str) -> None:
    # Given Polly answers 0.8 s of audio (mp3 for a one-chunk mp3, else PCM)
    source = tone(0.8)
    if response_format == "mp3":
        polly.answer(mp3_of(tone(0.8, rate=OUTPUT_RATE), rate=OUTPUT_RATE), content_type="audio/mpeg")
    else:
        polly.answer(source)

    # When that format is asked for
    audio = polly.speak("A short sentence.", response_format=response_format)

    # Then the bytes decode with the codec and container the format promises, at 24 kHz, 0.8 s long
    decoded = decode(audio, response_format)
    container, codec = FORMATS[response_format]
    assert (decoded.container, decoded.codec) == (container, codec)
    if response_format != "opus":  # Ogg Opus always reports 48 kHz, whatever was encoded
        assert decoded.sample_rate == OUTPUT_RATE
    # Lossy codecs pad (encoder delay, whole frames); the length still says it is the same audio.
    assert decoded.seconds == pytest.approx(0.8, abs=0.08)


def test_a_one_chunk_mp3_is_polly_s_own_mp3(polly: StubbedPolly) -> None:
    # Given Polly answers an mp3 stream
    mp3 = mp3_of(tone(0.5, rate=OUTPUT_RATE), rate=OUTPUT_RATE)
    polly.answer(mp3, content_type="audio/mpeg")

    # When mp3 is asked for at normal speed
    audio = polly.speak(response_format="mp3")

    # Then Polly was asked for 24 kHz mp3 and its bytes are returned untouched
    assert (polly.calls[0]["OutputFormat"], polly.calls[0]["SampleRate"]) == ("mp3", "24000")
    assert audio == mp3


# ---------------------------------------------------------------------------------------------
# Long text


def sentences(count: int) -> str:
    return " ".join(
        f"Sentence number {i} is here to make the text longer than Polly takes." for i in range(count)
    )


@pytest.mark.parametrize("response_format", ["mp3", "opus", "pcm"])
def test_text_over_3000_characters_is_several_calls_joined_into_one_stream(
    polly: StubbedPolly, response_format: str
) -> None:
    # Given 4,000 characters of sentences, and Polly answering 1.0 s then 0.6 s of PCM
    text = sentences(80)[:4000].rsplit(" ", 1)[0]
    assert 3000 < len(text) <= 4096
    polly.answer(tone(1.0))
    polly.answer(tone(0.6, freq=660))

    # When it is spoken
    audio = polly.speak(text, response_format=response_format)

    # Then two PCM calls of at most 3,000 characters cover the text in order, cut after a sentence
    texts = [call["Text"] for call in polly.calls]
    assert len(texts) == 2
    assert all(len(chunk) <= 3000 for chunk in texts)
    assert " ".join(texts).split() == text.split()
    assert texts[0].endswith(".")
    assert {call["OutputFormat"] for call in polly.calls} == {"pcm"}
    # And the answer is one stream holding both parts
    decoded = decode(audio, response_format)
    assert decoded.codec == FORMATS[response_format][1]
    assert decoded.seconds == pytest.approx(1.6, abs=0.08)


def test_a_sentence_over_3000_characters_is_cut_between_words(polly: StubbedPolly) -> None:
    # Given one 4,000-character sentence with no punctuation at all
    text = " ".join(f"word{i}" for i in range(700))[:4000].rsplit(" ", 1)[0]
    polly.answer(tone(0.3))
    polly.answer(tone(0.3))

    # When it is spoken
    polly.speak(text, response_format="flac")

    # Then each call holds whole words only, within the limit
    texts = [call["Text"] for call in polly.calls]
    assert len(texts) == 2
    assert all(len(chunk) <= 3000 for chunk in texts)
    assert texts[0].split() + texts[1].split() == text.split()


# ---------------------------------------------------------------------------------------------
# Speed (SSML)


def prosody(ssml: str) -> tuple[str, str]:
    """(rate, text) of <speak><prosody rate=..>text</prosody></speak>; fails unless well-formed XML."""
    root = ET.fromstring(ssml)
    assert root.tag == "speak"
    (element,) = list(root)
    assert element.tag == "prosody"
    return element.attrib["rate"], element.text or ""


def test_speed_is_ssml_prosody_around_the_escaped_text(polly: StubbedPolly) -> None:
    # Given text with XML's special characters
    text = 'Tom & Jerry say "1 < 2" & <b>bold</b>'
    polly.answer(tone(0.4))

    # When it is spoken at 1.5x
    polly.speak(text, speed=1.5)

    # Then it is sent as SSML, escaped, and parses back to exactly the text
    call = polly.calls[0]
    assert call["TextType"] == "ssml"
    assert "&amp;" in call["Text"] and "&lt;b&gt;" in call["Text"]
    assert prosody(call["Text"]) == ("150%", text)


def test_normal_speed_sends_plain_text(polly: StubbedPolly) -> None:
    # Given text with XML's special characters
    polly.answer(tone(0.2))

    # When it is spoken at 1.0
    polly.speak("a < b & c", speed=1.0)

    # Then it is plain text, unescaped
    assert (polly.calls[0]["TextType"], polly.calls[0]["Text"]) == ("text", "a < b & c")


def test_a_speed_beyond_polly_s_200_percent_is_finished_locally(polly: StubbedPolly) -> None:
    # Given Polly answers 1.2 s of audio (at its fastest, 200%)
    polly.answer(tone(1.2))

    # When speed 3.0 is asked for in mp3
    audio = polly.speak("Quickly now.", speed=3.0, response_format="mp3")

    # Then Polly is asked for 200% PCM, and the rest (1.5x) shortens the audio locally
    assert prosody(polly.calls[0]["Text"])[0] == "200%"
    assert polly.calls[0]["OutputFormat"] == "pcm"
    assert decode(audio, "mp3").seconds == pytest.approx(0.8, abs=0.08)


def test_ssml_chunks_are_measured_escaped(polly: StubbedPolly) -> None:
    # Given 2,800 characters dense in ampersands: under 3,000 raw, about 5,600 once escaped
    text = " ".join(["R&D & Q&A."] * 255)[:2800]
    polly.answer(tone(0.2))
    polly.answer(tone(0.2))

    # When it is spoken at 0.8x
    polly.speak(text, speed=0.8)

    # Then it took two calls, each within 3,000 escaped characters and 6,000 in all
    texts = [call["Text"] for call in polly.calls]
    assert len(texts) == 2
    inner = [t.removeprefix('<speak><prosody rate="80%">').removesuffix("</prosody></speak>") for t in texts]
    assert all(len(chunk) <= 3000 for chunk in inner)
    assert all(len(t) <= 6000 for t in texts)
    assert " ".join(prosody(t)[1] for t in texts).split() == text.split()


def test_characters_xml_forbids_do_not_break_the_ssml(polly: StubbedPolly) -> None:
    # Given text holding a control character (legal in text, not in XML)
    polly.answer(tone(0.2))

    # When it is spoken at 1.25x
    polly.speak("bell\x07 rings", speed=1.25)

    # Then the SSML is well-formed and the words survive
    assert prosody(polly.calls[0]["Text"])[1].split() == ["bell", "rings"]


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("code", "status", "message", "expected"),
    [
        ("ThrottlingException", 400, "Rate exceeded", UpstreamFailure.RATE_LIMITED),
        ("ServiceQuotaExceededException", 402, "quota", UpstreamFailure.RATE_LIMITED),
        ("UnrecognizedClientException", 400, "The security token is invalid", UpstreamFailure.AUTH),
        (
            "AccessDeniedException",
            400,
            "not authorized to perform polly:SynthesizeSpeech",
            UpstreamFailure.AUTH,
        ),
        ("InvalidSignatureException", 400, "signature", UpstreamFailure.AUTH),
        ("ExpiredToken", 400, "expired", UpstreamFailure.AUTH),
        ("EngineNotSupportedException", 400, "engine", UpstreamFailure.VOICE_UNAVAILABLE),
        ("InvalidSampleRateException", 400, "rate", UpstreamFailure.VOICE_UNAVAILABLE),
        ("LexiconNotFoundException", 404, "lexicon", UpstreamFailure.VOICE_UNAVAILABLE),
        (
            "ValidationException",
            400,
            "This voice does not support the selected engine: neural",
            UpstreamFailure.VOICE_UNAVAILABLE,
        ),
        ("ValidationException", 400, "1 validation error detected", UpstreamFailure.ERROR),
        ("ServiceFailureException", 500, "failure", UpstreamFailure.ERROR),
        ("InvalidSsmlException", 400, "bad ssml", UpstreamFailure.ERROR),
    ],
)
@pytest.mark.usefixtures("one_attempt")
def test_polly_error_codes_map_to_upstream_failures(
    polly: StubbedPolly, code: str, status: int, message: str, expected: str
) -> None:
    # Given one attempt per call, and Polly answering an error (its message marked to be recognised)
    polly.fail(code, status, f"{message} [polly-message]")

    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        polly.speak("Secret words.")

    # Then the failure has our code, and neither the text nor Polly's message is repeated
    assert failure.value.code == expected
    assert "Secret" not in failure.value.message
    assert "polly-message" not in failure.value.message


def test_throttling_is_retried_and_then_served(polly: StubbedPolly) -> None:
    # Given Polly throttles once, then answers
    polly.fail("ThrottlingException", 400, "Rate exceeded")
    polly.answer(tone(0.3))

    # When speech is asked for
    audio = polly.speak(response_format="wav")

    # Then the second attempt's audio is the answer
    assert len(polly.calls) == 2
    assert decode(audio, "wav").seconds == pytest.approx(0.3, abs=0.01)


def test_a_quota_or_a_refusal_is_not_retried(polly: StubbedPolly) -> None:
    # Given Polly answers a quota error (retrying will not help)
    polly.fail("ServiceQuotaExceededException", 402, "quota")

    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        polly.speak()

    # Then there was one call only
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
    assert len(polly.calls) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectTimeoutError(endpoint_url="https://polly.us-east-1.amazonaws.com"), UpstreamFailure.TIMEOUT),
        (
            EndpointConnectionError(endpoint_url="https://polly.us-east-1.amazonaws.com"),
            UpstreamFailure.ERROR,
        ),
    ],
)
@pytest.mark.usefixtures("one_attempt")
def test_transport_errors_map_to_upstream_failures(error: Exception, expected: str) -> None:
    # Given a real client whose sending fails as the network would
    engine = PollyTextToSpeech(get_settings())
    client = engine.client(Deadline(10))

    def fail(**_: Any) -> None:
        raise error

    client.meta.events.register("before-send.polly.SynthesizeSpeech", fail)

    # When speech is asked for
    request = SpeechRequest(text="Hello.", voice="alloy", response_format="wav")
    with pytest.raises(UpstreamFailure) as failure:
        engine.synthesize(request, upstream_model="neural", deadline=Deadline(10))

    # Then it is our code
    assert failure.value.code == expected


def test_missing_credentials_are_an_auth_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no AWS credentials anywhere botocore looks (environment, files, container, instance)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_POLLY", closed_loopback_url())
    engine = PollyTextToSpeech(get_settings())

    # When speech is asked for
    request = SpeechRequest(text="Hello.", voice="alloy", response_format="wav")
    with pytest.raises(UpstreamFailure) as failure:
        engine.synthesize(request, upstream_model="neural", deadline=Deadline(10))

    # Then it is an authentication failure
    assert failure.value.code == UpstreamFailure.AUTH


# ---------------------------------------------------------------------------------------------
# Time


@pytest.fixture
def silent_polly(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback endpoint that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_POLLY", url)
    yield url
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_the_deadline_bounds_the_client_timeouts() -> None:
    # Given an engine
    engine = PollyTextToSpeech(get_settings())

    # When a client is wanted with 5.5 s left
    client = engine.client(Deadline(5.5))

    # Then neither timeout outlasts the deadline and botocore does not retry on its own
    config = client.meta.config
    assert config.read_timeout <= 5.5
    assert config.connect_timeout <= min(config.read_timeout, 2.0)
    assert config.retries["total_max_attempts"] == 1


def test_a_client_is_reused_while_it_fits_and_replaced_when_it_does_not() -> None:
    # Given an engine whose client was built with 20 s left
    engine = PollyTextToSpeech(get_settings())
    first = engine.client(Deadline(20))

    # When a request has 27 s left, one 4 s, and one 27 s again
    again = engine.client(Deadline(27))
    late = engine.client(Deadline(4))
    fresh = engine.client(Deadline(27))

    # Then the first client serves 27 s (its timeouts fit), 4 s needs shorter timeouts, and 27 s
    # gets a new client again rather than 4 s timeouts that would cut a long synthesis short
    assert again is first
    assert late is not first
    assert late.meta.config.read_timeout <= 4
    assert fresh is not late
    assert 27 / 2 <= fresh.meta.config.read_timeout <= 27


def test_no_call_starts_without_time_left(polly: StubbedPolly) -> None:
    # Given a request whose time is nearly up
    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        polly.speak(deadline=Deadline(0.5))

    # Then it is a timeout, and Polly was not called
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert polly.calls == []


def test_a_silent_polly_times_out_within_the_deadline(silent_polly: str) -> None:
    # Given Polly accepts the connection and never answers, and 2.5 s are left
    engine = PollyTextToSpeech(get_settings())
    request = SpeechRequest(text="Hello.", voice="alloy", response_format="wav")
    started = time.monotonic()

    # When speech is asked for
    with pytest.raises(UpstreamFailure) as failure:
        engine.synthesize(request, upstream_model="neural", deadline=Deadline(2.5))

    # Then it is a timeout, raised by the deadline (1 s of slack for a loaded machine)
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.5


# ---------------------------------------------------------------------------------------------
# Time: the deadline bounds the whole answer, however slowly its audio streams


@dataclass
class StreamingPolly:
    """A loopback Polly whose SynthesizeSpeech answers 200 at once, then its audio in `pieces`
    pieces, each `gap` seconds after the one before (as Polly streams audio while it makes it)."""

    audio: bytes = field(default_factory=lambda: tone(1.0))
    pieces: int = 20
    gap: float = 0.5
    calls: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def streaming_polly(monkeypatch: pytest.MonkeyPatch) -> Iterator[StreamingPolly]:
    polly = StreamingPolly()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            polly.calls += 1
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm")
            self.send_header("x-amzn-RequestCharacters", "12")
            self.send_header("Content-Length", str(len(polly.audio)))
            self.end_headers()
            size = -(-len(polly.audio) // polly.pieces)
            for start in range(0, len(polly.audio), size):
                if polly.stop.wait(polly.gap):
                    return
                try:
                    self.wfile.write(polly.audio[start : start + size])
                except OSError:
                    return  # the client gave up: expected when its deadline passes

        def log_message(self, format: str, *args: Any) -> None:
            """Silent."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_POLLY", f"http://127.0.0.1:{server.server_address[1]}")
    yield polly
    polly.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def speak_over_the_network(deadline: Deadline, response_format: str = "wav") -> bytes:
    engine = PollyTextToSpeech(get_settings())
    request = SpeechRequest(text="Hello there.", voice="alloy", response_format=response_format)
    return engine.synthesize(request, upstream_model="neural", deadline=deadline)


def test_a_slow_audio_stream_ends_at_the_deadline(streaming_polly: StreamingPolly) -> None:
    # Given Polly streams its audio in 20 pieces 0.5 s apart (10 s in all)
    started = time.monotonic()

    # When speech is asked for with 2.5 s left
    with pytest.raises(UpstreamFailure) as failure:
        speak_over_the_network(Deadline(2.5))

    # Then it is a timeout soon after the deadline, and not retried
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.5
    assert streaming_polly.calls == 1


def test_a_read_stalled_past_the_deadline_ends_at_the_deadline(streaming_polly: StreamingPolly) -> None:
    # Given audio pieces 2.5 s apart: each wait is shorter than the client's 3 s read timeout, but
    # the second one ends past the deadline
    streaming_polly.pieces, streaming_polly.gap = 3, 2.5
    started = time.monotonic()

    # When speech is asked for with 3.5 s left
    with pytest.raises(UpstreamFailure) as failure:
        speak_over_the_network(Deadline(3.5))

    # Then the read blocked at the deadline is ended there, not when the next piece comes (at 5 s)
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 4.2


def test_a_stream_that_ends_in_time_is_read_whole(streaming_polly: StreamingPolly) -> None:
    # Given Polly streams 1 s of audio in 10 pieces 0.02 s apart
    streaming_polly.pieces, streaming_polly.gap = 10, 0.02

    # When speech is asked for with time enough
    audio = speak_over_the_network(Deadline(10), response_format="pcm")

    # Then all of it arrived, in order (resampled from Polly's 16 kHz to 24 kHz)
    assert decode(audio, "pcm").seconds == pytest.approx(1.0, abs=0.01)
    assert streaming_polly.calls == 1


class TricklingAudio(io.RawIOBase):
    """A file-like AudioStream that hands out `piece` bytes per read, `gap` seconds apart."""

    def __init__(self, data: bytes, *, piece: int, gap: float) -> None:
        self._data, self._piece, self._gap = data, piece, gap

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        time.sleep(self._gap)
        count = self._piece if size < 0 else min(size, self._piece)
        out, self._data = self._data[:count], self._data[count:]
        return out


def test_a_stubbed_slow_stream_ends_at_the_deadline() -> None:
    # Given a stubbed Polly (no socket) whose AudioStream gives 1,600 bytes every 0.5 s (10 s in all)
    engine = PollyTextToSpeech(get_settings())
    stubber = Stubber(engine.client(Deadline(2.5)))
    audio = tone(1.0)
    stubber.add_response(
        "synthesize_speech",
        {
            "AudioStream": StreamingBody(TricklingAudio(audio, piece=1600, gap=0.5), len(audio)),
            "ContentType": "audio/pcm",
            "RequestCharacters": 12,
        },
    )
    request = SpeechRequest(text="Hello there.", voice="alloy", response_format="wav")
    started = time.monotonic()

    # When speech is asked for with 2.5 s left
    with stubber, pytest.raises(UpstreamFailure) as failure:
        engine.synthesize(request, upstream_model="neural", deadline=Deadline(2.5))

    # Then the check between chunks ends it soon after the deadline
    assert failure.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.5


@pytest.mark.parametrize(
    "answer", [b"", b"<html><body>Service Unavailable</body></html>"], ids=["empty", "html"]
)
def test_a_polly_answer_that_is_not_audio_is_retried_then_an_upstream_error(
    polly: StubbedPolly, answer: bytes
) -> None:
    # Given Polly answers three times with something that is not pcm audio
    for _ in range(3):
        polly.answer(answer)
    # When speech is asked for / Then the answer is never passed on as audio: upstream_error after 3 tries
    with pytest.raises(UpstreamFailure) as failure:
        polly.speak(response_format="wav")
    assert failure.value.code == UpstreamFailure.ERROR
    polly.stubber.assert_no_pending_responses()


def test_one_polly_answer_that_is_not_audio_then_real_audio_is_served(polly: StubbedPolly) -> None:
    # Given Polly's first answer is empty and its second real pcm
    polly.answer(b"")
    polly.answer(tone(0.5))
    # When speech is asked for / Then the retry's audio is served
    assert decode(polly.speak(response_format="wav"), "wav").seconds == pytest.approx(0.5, abs=0.05)


# ---------------------------------------------------------------------------------------------
# A speech job's text


def test_a_long_text_is_read_by_polly_piece_by_piece_and_encoded_once(
    polly: StubbedPolly, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tts-1 routed to Polly (one call at a time: the Stubber answers in order) and a text of
    # three pieces, each answered with one second of 16 kHz PCM
    monkeypatch.setenv("TTS_MODEL_ROUTES", "tts-1=polly:neural;tts-1-hd=polly:neural")
    monkeypatch.setenv("TTS_PARALLEL_CALLS", "1")
    get_settings.cache_clear()
    sentence = "The quick brown fox jumps over the lazy dog. "
    text = sentence * (2 * LONG_TEXT_PIECE_CHARS // len(sentence) + 3)
    for _ in range(3):
        polly.answer(tone(1.0))
    # When the job's text is read as opus
    request = SynthesisRequest(text=text, voice="echo", response_format="opus")
    speech, route, seconds = synthesize_long_text(request, Deadline(30))
    # Then Polly was asked three times as PCM with the same voice, and the whole is one opus file of 3 s
    assert str(route) == "polly:neural"
    assert [(c["OutputFormat"], c["VoiceId"]) for c in polly.calls] == [("pcm", "Matthew")] * 3
    assert seconds == pytest.approx(3.0, abs=0.01)
    with av.open(io.BytesIO(speech.audio)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
