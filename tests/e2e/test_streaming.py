"""Streamed speech and transcripts under `make serve`, read by clients nobody here wrote (issue 21, items 7 and 9):
curl --no-buffer, the official Python SDK, the official npm SDK, and a page in headless Chromium that plays speech
while it streams.

The server answers with the openai engine against a fake OpenAI (tests/fakes) that speaks as OpenAI does: the first
audio after 0.3 s, the rest at OpenAI's pace (0.012 s a character). Each test checks that the first bytes arrived
well before the last, and that what arrived is whole, decodable audio (or the documented events).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent
from playwright.sync_api import Page, sync_playwright

from tests.audio_helpers import codec_and_samples
from tests.e2e.test_browser import chromium_path, page_origin
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import ROOT, V1_SPEECH_CODECS, V1_SPEECH_CONTENT_TYPES
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer, server_env

pytestmark = pytest.mark.e2e

# Six sentences: a short first piece is sent while the rest is read. (Each test asks in its own voice: an answer
# already in the speech cache would come at once, not at the upstream's pace.)
TEXT = (
    "Streaming starts with this sentence. The rest of the text is read while the first part plays. "
    "Each piece follows the one before it, in order, as soon as it is ready. A listener hears the start "
    "almost at once, instead of waiting for the whole answer. That is the point of streaming speech. "
    "This last sentence ends the test."
)
FIRST_AUDIO_SECONDS = 0.3
SECONDS_PER_CHAR = 0.012  # OpenAI's pace
SAMPLE_RATE = 24_000
SDK_JS = Path(__file__).resolve().parent / "sdk_js"
SPOKEN = ROOT / "samples" / "hello.mp3"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-streaming") as fake:
        yield fake


@pytest.fixture
def paced(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """Speech at OpenAI's pace, and as long as the text (the fake caps it at 1 s otherwise)."""
    fake_openai.reset()
    fake_openai.first_audio_seconds = FIRST_AUDIO_SECONDS
    fake_openai.seconds_per_input_char = SECONDS_PER_CHAR
    fake_openai.max_speech_seconds = 60.0
    return fake_openai


@pytest.fixture(scope="module")
def openai_server(serve: StartServer, fake_openai: FakeOpenAI) -> LocalServer:
    """template.yaml as make serve serves it, answering with OpenAI (the fake), its streaming function warm: the tests
    time streaming, not the web app's first start and imports (seconds on a busy machine)."""
    server = serve(
        SPEECH_TEMPLATE, server_env(OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    )
    warm_up = httpx.post(
        f"http://127.0.0.1:{server.port}/v1/audio/speech",
        json={"model": "tts-1", "voice": "echo", "input": "Warming up.", "response_format": "pcm"},
        timeout=60,
    )
    assert warm_up.status_code == 200, warm_up.text
    return server


@pytest.fixture(scope="module")
def client(openai_server: LocalServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{openai_server.port}/v1", api_key="sk-local", max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def assert_streamed(arrivals: list[float]) -> None:
    """The first bytes came well before the last: while the rest was still being made, not all at the end."""
    assert len(arrivals) >= 3, arrivals
    first, last = arrivals[0], arrivals[-1]
    assert last - first >= 1.0 and first <= 0.5 * last, (first, last)


def assert_pcm(audio: bytes) -> None:
    """Raw 16-bit samples, over 5 s of them (the six sentences' speech), not base64 text or a container."""
    assert len(audio) % 2 == 0 and len(audio) > 5 * SAMPLE_RATE * 2, len(audio)
    assert not audio.startswith((b"RIFF", b"ID3", b"fLaC", b"OggS"))


def test_curl_no_buffer_receives_speech_in_pieces_before_its_end(
    openai_server: LocalServer, paced: FakeOpenAI
) -> None:
    # Given curl --no-buffer asking for pcm speech, its output read as it writes it
    body = json.dumps({"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm"})
    command = [
        "curl", "--no-buffer", "--silent", "--show-error", "--fail",
        f"http://127.0.0.1:{openai_server.port}/v1/audio/speech",
        "-H", "Content-Type: application/json", "-d", body,
    ]  # fmt: skip
    # When curl runs
    started = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as curl:
        assert curl.stdout is not None
        arrivals, audio = [], b""
        while piece := os.read(curl.stdout.fileno(), 65536):
            arrivals.append(time.monotonic() - started)
            audio += piece
        assert curl.wait(timeout=60) == 0, curl.stderr.read() if curl.stderr else ""
    # Then the audio came in pieces, the first well before the last, and it is whole pcm
    assert_streamed(arrivals)
    assert_pcm(audio)
    # And its first bytes followed the upstream's first audio closely (the fake runs in this process: one clock)
    upstream_first = min(paced.first_audio_sent) - started
    assert arrivals[0] - upstream_first < 0.5, (upstream_first, arrivals[0])


@pytest.mark.parametrize("fmt", [*V1_SPEECH_CODECS, "pcm"])
def test_the_python_sdk_gets_the_first_bytes_before_the_last_were_made(
    client: openai.OpenAI, paced: FakeOpenAI, fmt: str
) -> None:
    # Given the SDK's streaming interface / When speech is read with iter_bytes()
    started = time.monotonic()
    arrivals, audio = [], b""
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=TEXT, response_format=fmt
    ) as response:
        content_type = response.headers["content-type"]
        for chunk in response.iter_bytes():
            arrivals.append(time.monotonic() - started)
            audio += chunk
    # Then the first bytes came before the last were made, and together they are one file of the format
    assert content_type == V1_SPEECH_CONTENT_TYPES[fmt]
    assert_streamed(arrivals)
    if fmt == "pcm":
        assert_pcm(audio)
        return
    codec, samples = codec_and_samples(audio)
    assert codec in V1_SPEECH_CODECS[fmt] and samples > 5 * SAMPLE_RATE


def test_speech_as_server_sent_events_arrives_event_by_event(
    openai_server: LocalServer, paced: FakeOpenAI
) -> None:
    # Given stream_format sse / When the events are read line by line as they come
    started = time.monotonic()
    arrivals, events = [], []
    request = {
        "model": "tts-1",
        "voice": "echo",
        "input": TEXT,
        "response_format": "pcm",
        "stream_format": "sse",
    }
    url = f"http://127.0.0.1:{openai_server.port}/v1/audio/speech"
    with httpx.stream("POST", url, json=request, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/event-stream"
        )
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - started)
                events.append(json.loads(line.removeprefix("data: ")))
    # Then audio deltas came one by one, the first well before the end, then one done event
    assert [event["type"] for event in events] == ["speech.audio.delta"] * (len(events) - 1) + [
        "speech.audio.done"
    ]
    assert_streamed(arrivals)
    assert_pcm(b"".join(base64.b64decode(event["audio"]) for event in events[:-1]))


def test_the_python_sdk_streams_a_transcription_as_typed_events(
    client: openai.OpenAI, paced: FakeOpenAI
) -> None:
    # Given spoken words / When the SDK asks for their transcript with stream=True
    with SPOKEN.open("rb") as audio:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True))
    # Then text deltas, then one done event whose text is theirs joined
    assert events and isinstance(events[-1], TranscriptionTextDoneEvent)
    deltas = events[:-1]
    assert deltas and all(isinstance(event, TranscriptionTextDeltaEvent) for event in deltas)
    assert "".join(event.delta for event in deltas).strip() == events[-1].text.strip()
    assert events[-1].text.strip() == paced.transcript


def test_the_npm_sdk_reads_streamed_speech_and_transcript_events(
    openai_server: LocalServer, paced: FakeOpenAI, tmp_path: Path
) -> None:
    # Given the npm SDK's speech.create read from its body as it comes, and transcriptions.create with stream
    node = shutil.which("node")
    assert node, "Node.js (20+) is needed for this test"
    assert (SDK_JS / "node_modules" / "openai").is_dir(), "run make js-sdk (make test does)"
    env = {
        **os.environ,
        "BASE_URL": f"http://127.0.0.1:{openai_server.port}/v1",
        "OUT_DIR": str(tmp_path),
        "TEXT": TEXT,
        "WAV": str(SPOKEN),
    }
    # When the script runs against the server
    done = subprocess.run(
        [node, str(SDK_JS / "streaming.mjs")],
        cwd=SDK_JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    # Then speech came in chunks, the first well before the last, and is whole pcm
    speech = report["speech"]
    assert speech["contentType"] == "audio/pcm"
    assert_streamed(speech["arrivals"])
    assert_pcm(Path(speech["file"]).read_bytes())
    # And the transcript came as delta events, then a done event with their text
    events = report["transcription"]
    assert [e["type"] for e in events] == ["transcript.text.delta"] * (len(events) - 1) + [
        "transcript.text.done"
    ]
    assert "".join(e["delta"] for e in events[:-1]).strip() == events[-1]["text"].strip() == paced.transcript


# The page's player: pcm chunks scheduled on Web Audio as they arrive (an odd byte kept for the next chunk). It
# reports when the first chunk had finished playing and when the answer ended, in ms after the fetch began.
PLAY_WHILE_STREAMING = """
async ([api, text]) => {
  const context = new AudioContext({sampleRate: 24000});
  await context.resume();
  const began = performance.now();
  const reply = await fetch(`${api}/v1/audio/speech`, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer page-key"},
    body: JSON.stringify({model: "tts-1", voice: "shimmer", input: text, response_format: "pcm"}),
  });
  const reader = reply.body.getReader();
  let playAt = 0, pending = new Uint8Array(0), chunks = 0, bytes = 0, firstPlayedMs = null, firstStart = null;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    chunks += 1;
    bytes += value.length;
    const joined = new Uint8Array(pending.length + value.length);
    joined.set(pending);
    joined.set(value, pending.length);
    const whole = joined.length - (joined.length % 2);
    pending = joined.slice(whole);
    if (whole === 0) continue;
    const samples = new Int16Array(joined.buffer.slice(0, whole));
    const buffer = context.createBuffer(1, samples.length, 24000);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    playAt = Math.max(playAt, context.currentTime);
    if (firstStart === null) {
      firstStart = playAt;
      source.onended = () => { firstPlayedMs = performance.now() - began; };
    }
    source.start(playAt);
    playAt += buffer.duration;
  }
  const endedMs = performance.now() - began;
  return {status: reply.status, chunks, bytes, firstPlayedMs, endedMs, state: context.state,
          playedBeforeEndSeconds: context.currentTime - firstStart, scheduledSeconds: playAt - firstStart};
}
"""


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A page on another origin, in headless Chromium, allowed to play audio without a click."""
    with page_origin() as origin, sync_playwright() as playwright:
        args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=args)
        try:
            tab = browser.new_page()
            tab.goto(f"{origin}/")
            yield tab
        finally:
            browser.close()


def test_a_page_plays_speech_while_it_streams(
    openai_server: LocalServer, paced: FakeOpenAI, page: Page
) -> None:
    # Given a page on another origin that plays pcm chunks with Web Audio as they arrive
    api = f"http://127.0.0.1:{openai_server.port}"
    # When it asks for speech
    played = page.evaluate(PLAY_WHILE_STREAMING, [api, TEXT])
    # Then the answer came in chunks and the audio was playing before the answer ended: its first chunk had
    # already been played through, and more than a second of it had been heard
    assert played["status"] == 200 and played["state"] == "running", played
    assert played["chunks"] >= 3 and played["bytes"] > 5 * SAMPLE_RATE * 2, played
    assert played["firstPlayedMs"] is not None and played["firstPlayedMs"] < played["endedMs"], played
    assert played["playedBeforeEndSeconds"] > 1.0, played
    # And all of it was scheduled to play: over 5 s of speech
    assert played["scheduledSeconds"] > 5, played
