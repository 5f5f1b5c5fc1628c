"""The docs' curl examples over real HTTP against `make serve`'s server, offline (`local` engine)."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid

import av
import pytest

from tests.local_server import LocalServer, Reply
from tests.samples import UPLOAD_FORMATS, encode

VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")
JSON_HEADERS = {"Content-Type": "application/json"}
ROUND_TRIP_SENTENCE = "hello world this is a test"


def post_tts(server: LocalServer, body: dict[str, object] | bytes) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return server.post("/api/tts/", data, headers=JSON_HEADERS)


def post_stt(
    server: LocalServer,
    audio: bytes,
    filename: str,
    model: str | None = "whisper-1",
    origin: str | None = None,
) -> Reply:
    """As `curl -F "audio=@file" -F "model=whisper-1"` sends it."""
    boundary = f"------------------------{uuid.uuid4().hex[:16]}"
    parts = [
        (
            f'Content-Disposition: form-data; name="audio"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + audio
    ]
    if model is not None:
        parts.append(f'Content-Disposition: form-data; name="model"\r\n\r\n{model}'.encode())
    body = (
        b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
        + f"--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return server.post("/api/stt/", body, headers={**headers, **({"Origin": origin} if origin else {})})


def mp3_pcm(audio: bytes) -> tuple[str, int]:
    """(codec, decoded samples) of an mp3 file."""
    with av.open(io.BytesIO(audio)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return str(stream.codec_context.name), samples


def speech_pcm(server: LocalServer, text: str) -> bytes:
    """16-bit 24 kHz speech from the TTS endpoint (response_format pcm)."""
    reply = post_tts(server, {"text": text, "response_format": "pcm"})
    assert reply.status == 200, reply.body
    return base64.b64decode(reply.json()["audio_base64"])


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd"])
@pytest.mark.parametrize("voice", VOICES)
def test_tts_curl_example_gives_decodable_mp3(speech_server: LocalServer, model: str, voice: str) -> None:
    # Given the docs' curl example / When it is sent over HTTP
    reply = post_tts(speech_server, {"text": "Hello, world!", "model": model, "voice": voice})
    # Then 200, the documented shape, and real mp3
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"audio_base64", "model", "voice"}
    assert (body["model"], body["voice"]) == (model, voice)
    codec, samples = mp3_pcm(base64.b64decode(body["audio_base64"]))
    assert codec in ("mp3", "mp3float") and samples > 12_000  # over half a second of speech
    assert reply.headers["X-Speech-Engine"] == "local:local"


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_stt_curl_example_transcribes_each_upload_format(speech_server: LocalServer, fmt: str) -> None:
    # Given spoken words saved in that format
    audio = encode(fmt, speech_pcm(speech_server, ROUND_TRIP_SENTENCE), 24_000)
    # When uploaded as in the docs
    reply = post_stt(speech_server, audio, f"audio_file.{fmt}")
    # Then a transcript comes back in the documented shape
    assert reply.status == 200, reply.body
    body = reply.json()
    assert set(body) == {"transcript", "model"} and body["model"] == "whisper-1"
    assert body["transcript"].strip()


def test_round_trip_recovers_recognisable_words(speech_server: LocalServer) -> None:
    # Given a fixed sentence spoken by the local TTS, as mp3
    reply = post_tts(speech_server, {"text": ROUND_TRIP_SENTENCE, "voice": "alloy"})
    audio = base64.b64decode(reply.json()["audio_base64"])
    # When transcribed by the local STT
    transcript = post_stt(speech_server, audio, "speech.mp3").json()["transcript"]
    # Then most of its words come back (espeak-ng's robotic voice is sometimes misheard: how well the
    # offline engine hears is tested in tests/integration/test_local_engine.py and bench/offline_wer.py)
    recovered = set(ROUND_TRIP_SENTENCE.split()) & set(re.sub(r"[^a-z ]", " ", transcript.lower()).split())
    assert len(recovered) >= 3, transcript


BAD_TTS = [
    (b"{not json", "invalid_json"),
    (json.dumps({"text": "hi", "voice": "ash"}).encode(), "unsupported_voice"),
    (json.dumps({"text": "hi", "model": "tts-2"}).encode(), "unsupported_model"),
    (json.dumps({"text": ""}).encode(), "empty_field"),
    (json.dumps({"voice": "alloy"}).encode(), "missing_field"),
    (json.dumps({"text": "x" * 4097}).encode(), "text_too_long"),
]


@pytest.mark.parametrize(("body", "code"), BAD_TTS)
def test_bad_tts_input_is_a_400_over_http(speech_server: LocalServer, body: bytes, code: str) -> None:
    # Given an invalid TTS body / When it is posted over HTTP
    reply = post_tts(speech_server, body)
    # Then a 400 with the expected code and a detail
    assert reply.status == 400, reply.body
    assert reply.json()["code"] == code and reply.json()["detail"]


def test_bad_stt_inputs_are_400s_over_http(speech_server: LocalServer) -> None:
    # Given / When five bad uploads are posted over HTTP: text named .mp3, no file, no boundary,
    # a JSON content type, and an unknown model
    not_audio = post_stt(speech_server, b"this is just text pretending to be an mp3", "fake.mp3")
    no_file = speech_server.post(
        "/api/stt/",
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--b--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    no_boundary = speech_server.post(
        "/api/stt/", b"--b--\r\n", headers={"Content-Type": "multipart/form-data"}
    )
    wrong_type = speech_server.post("/api/stt/", b'{"audio": "x"}', headers=JSON_HEADERS)
    bad_model = post_stt(speech_server, encode("wav", b"\0\0" * 16000, 16000), "a.wav", model="whisper-9")
    # Then each is a 400 with its own code
    codes = [r.json()["code"] for r in (not_audio, no_file, no_boundary, wrong_type, bad_model)]
    assert [r.status for r in (not_audio, no_file, no_boundary, wrong_type, bad_model)] == [400] * 5
    assert codes == [
        "unsupported_audio",
        "missing_field",
        "malformed_multipart",
        "unsupported_content_type",
        "unsupported_model",
    ]


def test_a_request_over_api_gateways_limit_is_refused(speech_server: LocalServer) -> None:
    # Given an upload just over API Gateway's 10 MB limit / When it is posted over HTTP
    reply = post_stt(speech_server, b"\0" * (10 * 1024 * 1024 + 1), "big.wav")
    # Then API Gateway's 413, in the API's error shape (the template's GatewayResponses)
    assert reply.status == 413
    assert reply.json()["code"] == "payload_too_large"


def test_a_wav_too_large_for_lambda_names_the_limit_and_the_upload_route(speech_server: LocalServer) -> None:
    # Given a 4.8 MB wav: under API Gateway's 10 MB, but over Lambda's 6 MB once base64-encoded in the event
    pcm = b"\0\1" * (16_000 * 150)  # 150 s of 16 kHz 16-bit mono
    wav = encode("wav", pcm, 16_000)
    assert 4_700_000 < len(wav) < 5_000_000
    # When a page posts it
    reply = post_stt(speech_server, wav, "long.wav", origin="http://page.example.test")
    # Then the template's INTEGRATION_FAILURE answer: API Gateway's 500, naming the limit and the way out
    assert reply.status == 500, reply.body
    answer = reply.json()
    assert answer["code"] == "integration_failure"
    assert "6 MB" in answer["detail"] and "POST /api/uploads/" in answer["detail"]
    assert "upload_id" in answer["detail"]
    # And the page may read it
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/api/tts/", "/api/stt", "/api/uploads/", "/api/jobs/abc"])
def test_a_browser_preflight_is_answered_for_the_key_and_token_headers(
    speech_server: LocalServer, path: str
) -> None:
    # Given template.yaml's Cors (AllowedOrigins defaulting to *)
    # When a browser on another origin asks whether it may send the key and a token
    reply = speech_server.request(
        "OPTIONS",
        path,
        headers={
            "Origin": "http://page.example.test",
            "Access-Control-Request-Method": "GET" if "jobs" in path else "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-api-key",
        },
    )
    # Then it may, from any origin, without invoking a function
    assert reply.status == 200, reply.body
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in reply.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-api-key"} <= allowed
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]


def test_answers_and_gateway_errors_carry_the_cors_header(speech_server: LocalServer) -> None:
    # Given a page on another origin
    origin = {"Origin": "http://page.example.test"}
    # When it gets speech, a 400 from a function, and a 404 from the gateway
    served = speech_server.post("/api/tts/", b'{"text": "Hi"}', headers={**JSON_HEADERS, **origin})
    refused = speech_server.post("/api/tts/", b'{"text": ""}', headers={**JSON_HEADERS, **origin})
    unknown = speech_server.post("/api/nothing", b"{}", headers={**JSON_HEADERS, **origin})
    # Then every answer may be read by the page
    assert (served.status, refused.status, unknown.status) == (200, 400, 404)
    for reply in (served, refused, unknown):
        assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_start_up_prints_one_block_and_no_warnings(speech_server: LocalServer) -> None:
    # Given make serve's server, started
    out = speech_server.stdout
    # When what it printed is read
    # Then the URL, who can reach it, the documented routes and where the docs are
    assert f"Speech API at http://127.0.0.1:{speech_server.port} (listening on 127.0.0.1 only;" in out
    for route in ("POST  {url}/api/tts/", "POST  {url}/api/stt/", "GET   {url}/api/jobs/{{job_id}}"):
        assert route.format(url=f"http://127.0.0.1:{speech_server.port}") in out
    assert "Docs: docs/api.md" in out
    # And none of SAM's or werkzeug's start-up warnings
    for noise in ("No current session found", "development server", "Mounting"):
        assert noise not in speech_server.log and noise not in out


def test_an_unknown_path_is_a_json_404(speech_server: LocalServer) -> None:
    # Given a path the API does not have / When posted to over HTTP / Then a JSON 404 with not_found
    reply = speech_server.post("/api/nothing", b"{}", headers=JSON_HEADERS)
    assert reply.status == 404 and reply.json()["code"] == "not_found"
