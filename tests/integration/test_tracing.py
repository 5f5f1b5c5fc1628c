"""X-Ray: with TRACE_UPSTREAM_CALLS=true each upstream route attempt is a subsegment, sent to the daemon as
Lambda's would receive it; without it nothing loads the X-Ray SDK (Lambda's active tracing needs none)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import fresh_python

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PARENT_ID = "53995c3f42cd8ad8"
SECRET_TEXT = "the words nobody may trace"

INVOKE = f"""
from tests.helpers import invoke, tts_event
print(invoke("tts", tts_event({{"text": {SECRET_TEXT!r}}}))["statusCode"])
"""
INVOKE_AND_LIST_SDK = f"""
import json, sys
from tests.helpers import invoke, tts_event
status = invoke("tts", tts_event({{"text": {SECRET_TEXT!r}}}))["statusCode"]
print(json.dumps({{"status": status, "xray": sorted(m for m in ("aws_xray_sdk", "wrapt") if m in sys.modules)}}))
"""


@pytest.fixture
def xray_daemon() -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon (the SDK's wire protocol: header line + JSON)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def lambda_with_tracing(
    xray_daemon: socket.socket, fake_openai: FakeOpenAI, *, trace_upstream_calls: bool = True
) -> dict[str, str]:
    """The environment of a function on Lambda with tracing active, its daemon and upstream on loopback."""
    return {
        "TRACE_UPSTREAM_CALLS": "true" if trace_upstream_calls else "false",
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_daemon.getsockname()[1]}",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent={PARENT_ID};Sampled=1",
        "OPENAI_API_KEY": fake_openai.api_key,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "MODEL_SHUTDOWN_DATES": "",  # the real date must not decide which route serves
    }


def received_documents(sock: socket.socket) -> list[dict]:
    documents = []
    sock.settimeout(0.5)
    try:
        while True:
            data, _ = sock.recvfrom(65536)
            header, _, body = data.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
    except TimeoutError:
        return documents


def test_an_upstream_call_is_a_subsegment_without_request_data(
    fake_openai: FakeOpenAI, xray_daemon: socket.socket
) -> None:
    # Given a function running as on Lambda with tracing active, upstream calls traced, and an upstream that answers
    env = lambda_with_tracing(xray_daemon, fake_openai)
    # When it serves a TTS request
    status = fresh_python(INVOKE, **env)
    # Then the daemon received one subsegment for the upstream route, in the invocation's trace
    assert status == "200"
    documents = received_documents(xray_daemon)
    upstream = [doc for doc in documents if doc.get("name") == "## openai:tts-1"]
    assert len(upstream) == 1
    assert upstream[0]["trace_id"] == TRACE_ID and upstream[0]["parent_id"] == PARENT_ID
    assert upstream[0]["annotations"] == {"engine": "openai", "upstream_model": "tts-1"}
    assert upstream[0]["end_time"] >= upstream[0]["start_time"]
    # And nothing of the request (its text) or the key is in any trace document
    sent = json.dumps(documents)
    assert SECRET_TEXT not in sent and fake_openai.api_key not in sent


def test_a_fallback_route_is_a_subsegment_of_its_own(
    fake_openai: FakeOpenAI, xray_daemon: socket.socket
) -> None:
    # Given whisper-1 already retired upstream, so that the chain moves on to gpt-transcribe
    code = """
from tests.helpers import invoke, multipart_body, stt_event
from tests.samples import tone
print(invoke("stt", stt_event(multipart_body({}, {"audio": ("a.mp3", tone("mp3"), "audio/mpeg")})))["statusCode"])
"""
    fake_openai.transcription_models["whisper-1"] = fake_openai.today.replace(year=2000)
    env = lambda_with_tracing(xray_daemon, fake_openai)
    # When a transcription is asked for
    status = fresh_python(code, **env)
    # Then both attempts show, each under its own name
    names = [doc.get("name") for doc in received_documents(xray_daemon)]
    assert status == "200"
    assert names.count("## openai:whisper-1") == 1 and names.count("## openai:gpt-transcribe") == 1


def test_untraced_upstream_calls_send_nothing_and_never_load_the_xray_sdk(
    fake_openai: FakeOpenAI, xray_daemon: socket.socket
) -> None:
    # Given a function on Lambda with active tracing but upstream calls not traced (the template's default)
    env = lambda_with_tracing(xray_daemon, fake_openai, trace_upstream_calls=False)
    # When a fresh interpreter serves a TTS request that calls the upstream
    report = json.loads(fresh_python(INVOKE_AND_LIST_SDK, **env))
    # Then it is served, without the X-Ray SDK (or its wrapt) ever imported
    assert report == {"status": 200, "xray": []}
    # And the daemon received nothing from the function (Lambda's own segments are Lambda's)
    assert received_documents(xray_daemon) == []
    # And it is the switch that decides: traced, the same request loads the SDK
    traced = json.loads(fresh_python(INVOKE_AND_LIST_SDK, **lambda_with_tracing(xray_daemon, fake_openai)))
    assert traced == {"status": 200, "xray": ["aws_xray_sdk", "wrapt"]}
