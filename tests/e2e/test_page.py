"""The page at / (functions/page), used as a person would in headless Chromium (Debian's, driven by Playwright) against
`make serve` with the offline engines: a sentence said into Chromium's fake microphone becomes a transcript, text
becomes speech that plays (an audio element fed by a MediaSource, or Web Audio for pcm), a file larger than one
request takes goes through an upload and a job behind a progress bar, and refusals show the API's own words.

Each state is saved as a screenshot in PAGE_SCREENSHOTS (tests/e2e/screenshots/ by default, gitignored); the run
prints where.
"""

from __future__ import annotations

import base64
import io
import os
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.e2e.test_browser import chromium_path
from tests.helpers import ROOT
from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer

pytestmark = pytest.mark.e2e

SENTENCE = "The quick brown fox jumps over the lazy dog."
LONG_SENTENCE = "Long recordings go through an upload and a job."
SCREENSHOTS = Path(os.environ.get("PAGE_SCREENSHOTS") or Path(__file__).parent / "screenshots")
# Words a recogniser hears in the sentences whatever it makes of the rest.
HEARD = ("fox", "dog")
LONG_HEARD = ("upload", "job")
CONTROLS = (
    "API key",
    "Text",
    "Speech model",
    "Voice",
    "Format",
    "Speed",
    "Transcription model",
    "Label speakers",
    "Or an audio file",
)


def spoken_wav(server: LocalServer, text: str) -> bytes:
    """A sentence as the offline engine says it: 24 kHz mono 16-bit wav."""
    reply = server.post(
        "/api/tts/",
        f'{{"text": "{text}", "response_format": "wav"}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 200, reply.body
    return base64.b64decode(reply.json()["audio_base64"])


def large_wav(sentence: bytes, at_least_bytes: int) -> bytes:
    """The sentence then silence, as 48 kHz stereo (4 times the bytes a second), until the file is larger than one
    request may carry. Said once: a sentence said over and over makes Whisper's decoding fall back to sampling,
    which may hear nothing at all."""
    with wave.open(io.BytesIO(sentence)) as source:
        rate = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    frames = (
        at_least_bytes // 8 + rate
    )  # 8 bytes a frame at 48 kHz stereo for each 24 kHz sample, and a second more
    padded = np.concatenate([samples, np.zeros(max(0, frames - samples.size), dtype="<i2")])
    stereo_48k = np.repeat(padded, 4)  # each sample twice in time, then on both channels
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(2)
        target.setsampwidth(2)
        target.setframerate(rate * 2)
        target.writeframes(stereo_48k.astype("<i2").tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def screenshots(pytestconfig: pytest.Config) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nThe page's screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="module")
def microphone(speech_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wav Chromium's fake microphone plays (once), a sentence said by the offline engine."""
    path = tmp_path_factory.mktemp("microphone") / "sentence.wav"
    path.write_bytes(spoken_wav(speech_server, SENTENCE))
    return path


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=[
                "--no-sandbox",  # Chromium's sandbox cannot start as root (CI runs as root)
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",  # the microphone allowed without asking
                f"--use-file-for-fake-audio-capture={microphone}%noloop",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """One tab on the page, with what its console said (a Content-Security-Policy refusal would show there)."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.console: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))
        page.on("request", lambda request: self.requests.append(f"{request.method} {request.url}"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=self.shots / f"{name}.png", full_page=True)

    def csp_refusals(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]


def open_page(browser: Browser, server: LocalServer, shots: Path) -> Iterator[Tab]:
    context = browser.new_context(accept_downloads=True)
    try:
        tab = Tab(context.new_page(), shots)
        tab.page.goto(f"http://127.0.0.1:{server.port}/")
        tab.page.get_by_label("API key", exact=True).fill("page-key")
        tab.page.get_by_role("button", name="Use this key").click()
        expect(tab.page.get_by_label("Voice").locator("option")).to_have_count(6)
        yield tab
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser, speech_server: LocalServer, screenshots: Path) -> Iterator[Tab]:
    yield from open_page(browser, speech_server, screenshots)


def test_the_page_fills_its_lists_and_keeps_the_key_for_the_tab_only(tab: Tab) -> None:
    # Given the page, opened at / with no key, then given one
    page = tab.page
    # When its lists have been filled from GET /v1/models and GET /v1/audio/voices
    models = page.get_by_label("Speech model").locator("option").all_inner_texts()
    voices = page.get_by_label("Voice").locator("option").all_inner_texts()
    # Then the speech models and the six voices are offered, and the transcription model in its own list
    assert models == ["tts-1", "tts-1-hd"]
    assert voices == ["Alloy", "Echo", "Fable", "Onyx", "Nova", "Shimmer"]
    assert page.get_by_label("Transcription model").locator("option").all_inner_texts() == ["whisper-1"]
    # And the key is kept in the tab's sessionStorage, not in localStorage or a cookie
    assert page.evaluate("sessionStorage.getItem('speech-api-key')") == "page-key"
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []
    tab.shot("1-ready")
    assert tab.csp_refusals() == []


def test_text_becomes_speech_that_plays_while_it_streams(tab: Tab) -> None:
    # Given the page, with a text typed in
    page = tab.page
    page.get_by_label("Text", exact=True).fill("Speech from the page. It plays while the rest is read.")
    page.get_by_label("Voice").select_option("nova")
    # When Speak is pressed (mp3: the audio element plays from a MediaSource as the bytes come)
    page.get_by_role("button", name="Speak").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Speech ready"), timeout=30_000)
    # Then the audio element has played some of it
    page.wait_for_function(
        "() => { const a = document.getElementById('tts-audio'); return a.played.length > 0 && a.currentTime > 0.2; }",
        timeout=15_000,
    )
    assert page.evaluate("document.getElementById('tts-audio').src").startswith("blob:")
    tab.shot("2-speech-playing")
    # And the download link gives the whole mp3
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the speech").click()
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "speech.mp3"
    assert saved[:3] == b"ID3" or saved[0] == 0xFF, saved[:8]
    # And it asked /v1/audio/speech, which streams
    assert any(line.startswith("POST ") and line.endswith("/v1/audio/speech") for line in tab.requests)
    assert tab.csp_refusals() == []


def test_pcm_plays_through_web_audio(tab: Tab) -> None:
    # Given the page, pcm chosen
    page = tab.page
    page.get_by_label("Text", exact=True).fill("Raw samples, played as they arrive.")
    page.get_by_label("Format").select_option("pcm")
    # When Speak is pressed
    page.get_by_role("button", name="Speak").click()
    # Then Web Audio played it to the end, and says how long it was
    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile(r"Played \d+\.\d s of speech"), timeout=30_000)
    seconds = float(re.search(r"Played (\d+\.\d)", status.inner_text()).group(1))  # type: ignore[union-attr]
    assert seconds > 1.0, seconds
    # And the download is the same samples as a wav
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the speech").click()
    assert Path(download.value.path()).read_bytes()[:4] == b"RIFF"
    tab.shot("3-pcm-played")
    assert tab.csp_refusals() == []


def test_a_sentence_said_into_the_microphone_becomes_a_transcript(tab: Tab) -> None:
    # Given the page, and a microphone that says one sentence
    page = tab.page
    record = page.get_by_role("button", name="Record")
    # When Record is pressed, the sentence said, and recording stopped
    record.click()
    expect(record).to_have_attribute("aria-pressed", "true")
    tab.shot("4-recording")
    page.wait_for_timeout(4500)
    page.get_by_role("button", name="Stop recording").click()
    # Then its transcript shows, with subtitles to download
    transcript = page.locator("#transcript")
    expect(transcript).not_to_be_empty(timeout=60_000)
    said = transcript.inner_text().lower()
    assert all(word in said for word in HEARD), said
    expect(page.get_by_role("status")).to_have_text("Transcript ready.")
    tab.shot("5-transcript")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download subtitles (vtt)").click()
    vtt = Path(download.value.path()).read_text()
    assert vtt.startswith("WEBVTT") and " --> " in vtt, vtt
    # And the recording went in one request (Chromium records webm/opus)
    assert any(line.startswith("POST ") and line.endswith("/api/stt/") for line in tab.requests)
    assert tab.csp_refusals() == []


def test_a_large_file_goes_through_an_upload_and_a_job_with_a_progress_bar(
    tab: Tab, speech_server: LocalServer, tmp_path: Path
) -> None:
    # Given a recording larger than one request may carry (about 4.4 MB)
    path = tmp_path / "long-recording.wav"
    path.write_bytes(large_wav(spoken_wav(speech_server, LONG_SENTENCE), 4_600_000))
    assert path.stat().st_size > 4_600_000
    page = tab.page
    job_states: list[dict] = []
    page.on(
        "response",
        lambda answer: job_states.append(answer.json()) if "/api/jobs/" in answer.url and answer.ok else None,
    )
    # When it is picked
    page.get_by_label("Or an audio file").set_input_files(path)
    # Then a progress bar shows while it is uploaded and transcribed
    progress = page.get_by_role("progressbar")
    expect(progress).to_be_visible()
    tab.shot("6-long-file-in-progress")
    # And the transcript comes, as for a short one
    transcript = page.locator("#transcript")
    expect(transcript).not_to_be_empty(timeout=120_000)
    said = transcript.inner_text().lower()
    assert all(word in said for word in LONG_HEARD), said
    expect(progress).to_be_hidden()
    tab.shot("7-long-file-transcript")
    # And it went to the bucket and through a job, never through /api/stt/ itself
    assert any(line.startswith("POST ") and line.endswith("/api/uploads/") for line in tab.requests)
    assert any(line.startswith("POST ") and line.endswith("/api/stt/jobs/") for line in tab.requests)
    assert any(line.startswith("GET ") and "/api/jobs/" in line for line in tab.requests)
    assert not any(line.endswith("/api/stt/") for line in tab.requests)
    assert tab.csp_refusals() == []
    # And the job's last answer said every piece was done
    finished = [state for state in job_states if state["status"] == "succeeded"]
    assert finished and finished[-1]["progress"]["done"] == finished[-1]["progress"]["total"] >= 1, finished


def test_a_jobs_progress_is_drawn_when_the_job_gives_it(
    tab: Tab, speech_server: LocalServer, tmp_path: Path
) -> None:
    # Given a large recording, and the job's answers while it runs held at 1 of 4 pieces (offline, its one piece
    # of speech is heard in about a second: too soon for a poll to catch it between 0 and done)
    path = tmp_path / "long-recording.wav"
    path.write_bytes(large_wav(spoken_wav(speech_server, LONG_SENTENCE), 4_600_000))
    page = tab.page

    def with_progress(route: Route) -> None:
        answer = route.fetch()
        state = answer.json()
        if state["status"] in ("queued", "running"):
            state["progress"] = {"done": 1, "total": 4}
        route.fulfill(response=answer, json=state)

    page.route("**/api/jobs/*", with_progress)
    # When it is picked
    page.get_by_label("Or an audio file").set_input_files(path)
    # Then the bar shows the share of pieces done, and says so
    page.wait_for_function(
        "() => document.getElementById('stt-progress').getAttribute('value') !== null && "
        "document.getElementById('stt-progress-label').textContent.includes(' of ')",
        timeout=60_000,
    )
    done = page.locator("#stt-progress").evaluate("bar => bar.value")
    assert 0 < done <= 1, done
    tab.shot("6b-long-file-progress")
    expect(page.locator("#transcript")).not_to_be_empty(timeout=120_000)


def test_speakers_asked_of_an_engine_that_cannot_tell_them_apart_say_so(
    tab: Tab, speech_server: LocalServer, tmp_path: Path
) -> None:
    # Given the offline engine (it cannot tell speakers apart), a recording, and "Label speakers" ticked
    path = tmp_path / "sentence.wav"
    path.write_bytes(spoken_wav(speech_server, SENTENCE))
    page = tab.page
    page.get_by_label("Label speakers").check()
    # When the recording is picked
    page.get_by_label("Or an audio file").set_input_files(path)
    # Then the API was asked for speakers, and its refusal is shown in its own words
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=30_000)
    expect(alert).to_contain_text("unsupported_diarization")
    expect(alert).to_contain_text("cannot tell speakers apart")
    tab.shot("8b-speakers-refused")


def test_a_refusal_shows_the_apis_own_words(tab: Tab, tmp_path: Path) -> None:
    # Given a file that is not audio, named as if it were
    path = tmp_path / "notes.mp3"
    path.write_text("These are notes, not a recording.\n" * 20)
    page = tab.page
    # When it is picked
    page.get_by_label("Or an audio file").set_input_files(path)
    # Then the alert shows the API's status, code and detail
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=30_000)
    expect(alert).to_contain_text("(400 unsupported_audio)")
    tab.shot("8-refused")


def test_keyboard_alone_reaches_every_control_in_order_and_speaks(tab: Tab) -> None:
    # Given the page, opened afresh (the key kept by the tab), focus at its start
    page = tab.page
    page.reload()
    expect(page.get_by_label("Voice").locator("option")).to_have_count(6)
    assert page.get_by_label("API key", exact=True).input_value() == "page-key"
    # When Tab is pressed through it
    order: list[str] = []
    for _ in range(17):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        if not order or order[-1] != focused:  # the audio element's own controls are stops of the one element
            order.append(focused)
    # Then every control comes in reading order
    assert order[:13] == [
        "key",
        "Use this key",
        "tts-text",
        "tts-model",
        "tts-voice",
        "tts-format",
        "tts-speed",
        "tts-go",
        "tts-audio",
        "stt-model",
        "stt-speakers",
        "record",
        "stt-file",
    ], order
    # And each control has its label, the results a live status region and an alert
    for name in CONTROLS:
        expect(page.get_by_label(name, exact=True)).to_have_count(1)
    expect(page.get_by_role("status")).to_have_attribute("aria-live", "polite")
    # And speech is asked for with the keyboard alone
    page.get_by_label("Text", exact=True).focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Typed with the keyboard.")
    page.locator("#tts-go").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(re.compile("Speech ready"), timeout=30_000)
    (tab.shots / "accessibility-tree.yaml").write_text(page.locator("main").aria_snapshot())
    tab.shot("9-keyboard")


def test_deployed_a_first_visit_is_asked_for_the_key(
    browser: Browser, speech_server: LocalServer, screenshots: Path
) -> None:
    # Given the deployed API's answer to /v1 without a key: the template's UNAUTHORIZED gateway response (make serve
    # needs no key, so the browser is handed that answer for the two list calls)
    template = yaml.safe_load(re.sub(r"!\w+", "", (ROOT / "template.yaml").read_text()))
    unauthorized = template["Resources"]["SpeechApi"]["Properties"]["GatewayResponses"]["UNAUTHORIZED"]
    body = unauthorized["ResponseTemplates"]["application/json"]
    context = browser.new_context()
    try:
        for path in ("**/v1/models", "**/v1/audio/voices"):
            context.route(
                path, lambda route: route.fulfill(status=401, body=body, content_type="application/json")
            )
        page = context.new_page()
        # When the page is opened with no key kept
        page.goto(f"http://127.0.0.1:{speech_server.port}/")
        # Then it asks for the key, its field focused, rather than raising an alert
        expect(page.get_by_role("status")).to_have_text("Enter your API key to start.")
        expect(page.get_by_label("API key", exact=True)).to_be_focused()
        expect(page.get_by_role("alert")).to_be_hidden()
        page.screenshot(path=screenshots / "0-first-visit.png", full_page=True)
        # And once a key is given and accepted, the lists are filled
        context.unroute("**/v1/models")
        context.unroute("**/v1/audio/voices")
        page.get_by_label("API key", exact=True).fill("page-key")
        page.keyboard.press("Enter")
        expect(page.get_by_label("Voice").locator("option")).to_have_count(6)
    finally:
        context.close()


@pytest.fixture(scope="module")
def budgeted_server(serve: StartServer) -> LocalServer:
    """make serve PARAMS='BudgetCharactersPerDay=40': 40 characters of speech a day."""
    return serve(SPEECH_TEMPLATE, args=["--parameter-overrides", "BudgetCharactersPerDay=40"])


def test_a_budget_refusal_says_so_and_when_to_try_again(
    browser: Browser, budgeted_server: LocalServer, screenshots: Path
) -> None:
    # Given the page of a server whose key may have 40 characters of speech a day
    for tab in open_page(browser, budgeted_server, screenshots):
        page = tab.page
        # When a longer text is asked for
        page.get_by_label("Text", exact=True).fill(
            "This text is longer than the forty characters of the budget."
        )
        page.get_by_role("button", name="Speak").click()
        # Then the alert says the key is over its budget, in the API's words, and when to try again
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Over this key's budget (429 insufficient_quota)", timeout=30_000)
        expect(alert).to_contain_text("Try again in")
        tab.shot("10-over-budget")
