"""A web page on another origin calls `make serve`'s API from headless Chromium (Debian's, driven by Playwright):
CORS preflights for the key and token headers, speech that decodes as audio in the page, a FormData upload of a
Blob, the presigned upload straight to the bucket, and errors the page can read.

`make test` installs Chromium first (`make browser`); CHROMIUM names another binary.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.local_server import SPEECH_TEMPLATE, LocalServer, StartServer

pytestmark = pytest.mark.e2e

PAGE_HTML = (
    b"<!doctype html><html><head><title>speech client</title></head><body>another origin</body></html>"
)

# The page's calls. Each returns plain JSON values, so that Playwright hands them back to the test.
SPEAK_AND_DECODE = """
async ([api, text]) => {
  const reply = await fetch(`${api}/api/tts/`, {
    method: "POST",
    headers: {"Content-Type": "application/json", "x-api-key": "page-key", "Authorization": "Bearer page-token"},
    body: JSON.stringify({text, voice: "nova"}),
  });
  const answer = await reply.json();
  const bytes = Uint8Array.from(atob(answer.audio_base64), (c) => c.charCodeAt(0));
  const audio = await new OfflineAudioContext(1, 1, 24000).decodeAudioData(bytes.buffer);
  return {status: reply.status, engine: reply.headers.get("X-Speech-Engine"), voice: answer.voice,
          seconds: audio.duration, channels: audio.numberOfChannels};
}
"""

FETCH_LINKED_SPEECH = """
async ([api, text]) => {
  const reply = await fetch(`${api}/api/tts/`, {
    method: "POST", headers: {"Content-Type": "application/json", "x-api-key": "page-key"},
    body: JSON.stringify({text, response_format: "wav", delivery: "url"}),
  });
  const answer = await reply.json();
  const audio = await fetch(answer.audio_url);
  const decoded = await new OfflineAudioContext(1, 1, 24000).decodeAudioData(await audio.arrayBuffer());
  return {status: reply.status, audioStatus: audio.status, seconds: decoded.duration};
}
"""

SPEECH_AS_BLOB = """
async (api, text) => {
  const reply = await fetch(`${api}/api/tts/`, {
    method: "POST", headers: {"Content-Type": "application/json", "x-api-key": "page-key"},
    body: JSON.stringify({text, response_format: "wav"}),
  });
  const answer = await reply.json();
  return new Blob([Uint8Array.from(atob(answer.audio_base64), (c) => c.charCodeAt(0))], {type: "audio/wav"});
}
"""

UPLOAD_BLOB = f"""
async ([api, text]) => {{
  const blob = await ({SPEECH_AS_BLOB})(api, text);
  const form = new FormData();
  form.append("audio", blob, "recording.wav");
  form.append("model", "whisper-1");
  const reply = await fetch(`${{api}}/api/stt/`, {{method: "POST", headers: {{"x-api-key": "page-key"}}, body: form}});
  return {{status: reply.status, answer: await reply.json()}};
}}
"""

UPLOAD_TO_BUCKET = f"""
async ([api, text]) => {{
  const blob = await ({SPEECH_AS_BLOB})(api, text);
  const asked = await fetch(`${{api}}/api/uploads/`, {{
    method: "POST", headers: {{"Content-Type": "application/json", "x-api-key": "page-key"}},
    body: JSON.stringify({{filename: "recording.wav", content_type: "audio/wav"}}),
  }});
  const upload = await asked.json();
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", blob, "recording.wav");
  const stored = await fetch(upload.url, {{method: "POST", body: form}});
  const named = new FormData();
  named.append("upload_id", upload.upload_id);
  const reply = await fetch(`${{api}}/api/stt/`, {{method: "POST", headers: {{"x-api-key": "page-key"}}, body: named}});
  return {{asked: asked.status, stored: stored.status, status: reply.status, answer: await reply.json()}};
}}
"""

READ_ERRORS = """
async (api) => {
  const refused = await fetch(`${api}/api/tts/`, {
    method: "POST", headers: {"Content-Type": "application/json", "x-api-key": "page-key"},
    body: JSON.stringify({text: "Hi", voice: "nobody"}),
  });
  // No custom header: a preflight to a path without routes fails, on API Gateway too (a 404 is not a 2xx).
  const unknown = await fetch(`${api}/api/nothing/`, {method: "POST", body: "{}"});
  return [[refused.status, (await refused.json()).code], [unknown.status, (await unknown.json()).code]];
}
"""


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "no Chromium: `make browser` installs Debian's (apt-get install chromium)"
    return found


@contextlib.contextmanager
def page_origin() -> Iterator[str]:
    """A static page on its own loopback port: another origin than the API's."""

    class PageHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE_HTML)))
            self.end_headers()
            self.wfile.write(PAGE_HTML)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A page on another origin, in headless Chromium, that records what the console says (CORS refusals)."""
    with page_origin() as origin, sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox cannot start as root (CI runs as root).
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            tab.goto(f"{origin}/")
            yield tab
        finally:
            browser.close()


def api_url(server: LocalServer) -> str:
    # "localhost" is another origin than the page's 127.0.0.1 (host and port both differ).
    return f"http://localhost:{server.port}"


def test_a_page_on_another_origin_gets_speech_it_can_decode(speech_server: LocalServer, page: Page) -> None:
    # Given a page on another origin, sending the key and a token (so the browser asks a preflight first)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    # When it asks for speech and decodes the mp3 with the Web Audio API
    result = page.evaluate(SPEAK_AND_DECODE, [api_url(speech_server), "Hello from a web page."])
    # Then the browser let it read the answer, which plays as about a second of audio or more
    assert result["status"] == 200, result
    assert result["voice"] == "nova"
    assert result["engine"] and result["engine"].startswith("local:")  # an exposed header
    assert result["channels"] >= 1 and result["seconds"] > 0.5, result
    assert not [line for line in console if "CORS" in line]


def test_a_page_fetches_the_audio_a_link_points_to(speech_server: LocalServer, page: Page) -> None:
    # Given a page on another origin that asks for speech as a link ("delivery": "url")
    # When it fetches the presigned link from the bucket and decodes the wav
    result = page.evaluate(FETCH_LINKED_SPEECH, [api_url(speech_server), "Hello from a linked file."])
    # Then the bucket's CORS rule let it read the audio, which plays
    assert (result["status"], result["audioStatus"]) == (200, 200), result
    assert result["seconds"] > 0.5, result


def test_a_page_uploads_a_blob_with_form_data(speech_server: LocalServer, page: Page) -> None:
    # Given a page on another origin holding a recording as a Blob
    # When it posts the Blob in a FormData, as a file input or MediaRecorder would be sent
    result = page.evaluate(UPLOAD_BLOB, [api_url(speech_server), "hello world this is a test"])
    # Then it reads the transcript
    assert result["status"] == 200, result
    assert result["answer"]["model"] == "whisper-1"
    assert result["answer"]["transcript"].strip(), "the offline engine heard nothing"


def test_a_page_uploads_to_the_bucket_then_names_the_upload(speech_server: LocalServer, page: Page) -> None:
    # Given a page on another origin holding a recording as a Blob
    # When it asks for an upload, posts the Blob straight to the bucket, then transcribes it by upload_id
    result = page.evaluate(UPLOAD_TO_BUCKET, [api_url(speech_server), "hello world this is a test"])
    # Then the bucket took it from that origin (its CORS rule) and the transcript came back
    assert (result["asked"], result["stored"], result["status"]) == (201, 204, 200), result
    assert result["answer"]["transcript"].strip(), "the offline engine heard nothing"


SPEAK = """
async ([api, text]) => {
  try {
    const reply = await fetch(`${api}/api/tts/`, {
      method: "POST", headers: {"Content-Type": "application/json", "x-api-key": "page-key"},
      body: JSON.stringify({text}),
    });
    return reply.status;
  } catch (error) {
    return String(error);
  }
}
"""


@pytest.fixture(scope="module")
def restricted_server(serve: StartServer) -> LocalServer:
    """template.yaml served with AllowedOrigins naming one origin, not the test page's."""
    return serve(SPEECH_TEMPLATE, args=["--parameter-overrides", "AllowedOrigins=https://app.example.test"])


def test_a_page_of_another_origin_than_the_allowed_one_is_refused(
    restricted_server: LocalServer, page: Page
) -> None:
    # Given a server whose AllowedOrigins names https://app.example.test, and a page on 127.0.0.1
    # When the page asks for speech
    result = page.evaluate(SPEAK, [api_url(restricted_server), "Hello"])
    # Then the browser refuses to hand it the answer
    assert result == "TypeError: Failed to fetch", result
    # And the preflight names only the allowed origin, as does the bucket's rule for browser uploads
    preflight = restricted_server.request(
        "OPTIONS",
        "/api/tts/",
        headers={"Origin": "https://app.example.test", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.test"
    upload = restricted_server.post(
        "/api/uploads/",
        b'{"filename": "a.wav", "content_type": "audio/wav"}',
        headers={"Content-Type": "application/json"},
    )
    bucket_url = upload.json()["url"]
    for origin, allowed in (("https://app.example.test", True), ("http://127.0.0.1:1", False)):
        reply = bucket_preflight(bucket_url, origin)
        assert (reply.get("Access-Control-Allow-Origin") == origin) is allowed, (origin, reply)


def bucket_preflight(url: str, origin: str) -> dict[str, str]:
    """The embedded S3's answer to a browser's preflight for a POST to the bucket: its headers."""
    request = urllib.request.Request(
        url, method="OPTIONS", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return dict(reply.headers)
    except urllib.error.HTTPError as refused:
        return dict(refused.headers)


def test_a_page_can_read_the_errors(speech_server: LocalServer, page: Page) -> None:
    # Given a page on another origin
    # When it sends a bad voice (the function's 400) and posts to a path that does not exist (the gateway's 404)
    errors = page.evaluate(READ_ERRORS, api_url(speech_server))
    # Then it can read both codes, instead of an opaque "Failed to fetch"
    assert errors == [[400, "unsupported_voice"], [404, "not_found"]]
