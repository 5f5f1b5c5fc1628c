"""A 400 answer, or a cold start, must not pay for importing the OpenAI SDK, boto3 or PyAV; a cold 200
loads what its request uses and nothing more (checked on the built artifacts, as deployed)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from speech_common.engine_names import STT_ENGINES, TTS_ENGINES
from speech_common.engines.base import SpeechToTextEngine, TextToSpeechEngine
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.secrets_manager import FakeSecretsManager
from tests.helpers import fresh_python, multipart_body, stt_event, tts_event
from tests.lambda_cold import Artifacts, cold_start, lambda_environment
from tests.samples import tone

HEAVY = (
    "openai",
    "httpx2",
    "av",
    "boto3",
    "faster_whisper",
    "ctranslate2",
    "espeakng_loader",
    "websockets",
    "num2words",
)

PROBE = (
    f"HEAVY = {HEAVY!r}\n"
    + """
import json, sys
from tests.helpers import invoke, multipart_body, stt_event, tts_event
bad_tts = invoke("tts", tts_event({"text": "hi", "voice": "nobody"}))
bad_stt = invoke("stt", stt_event(multipart_body({}, {"audio": ("a.mp3", b"not audio at all", "audio/mpeg")})))
heavy = [name for name in HEAVY if name in sys.modules]
print(json.dumps({"codes": [bad_tts["statusCode"], bad_stt["statusCode"]], "heavy": heavy}))
"""
)


def test_bad_requests_are_answered_without_importing_heavy_libraries() -> None:
    # Given a fresh interpreter / When it answers a bad TTS and a bad STT request
    report = json.loads(fresh_python(PROBE, OPENAI_API_KEY="sk-x"))
    # Then both are 400s and none of the heavy libraries was imported
    assert report["codes"] == [400, 400]
    assert report["heavy"] == []


@pytest.mark.parametrize(
    "module",
    [
        "speech_common.transcode",
        "speech_common.engines.openai_engine",
        "speech_common.engines.openai_realtime.engine",
        "speech_common.engines.polly",
        "speech_common.engines.local",
        "speech_common.engines",
        "speech_common.core",
    ],
)
def test_importing_an_engine_loads_none_of_its_libraries(module: str) -> None:
    # Given a fresh interpreter / When the module is imported
    loaded = fresh_python(f"import sys, {module}; print([m for m in {HEAVY!r} if m in sys.modules])")
    # Then its SDKs and codecs wait until a request needs them
    assert loaded == "[]"


# What a plain request's cold start loads from the layer, by top-level package. A package missing here
# fails the test: import it where it is needed (lazily), or add it here knowing what it costs.
COMMON = {
    "annotated_types", "aws_lambda_powertools", "botocore", "jmespath", "pydantic", "pydantic_core",
    "speech_common", "typing_extensions", "typing_inspection",
}  # fmt: skip
# The form parser: only where a form is parsed (a JSON request reads its Content-Type without it).
FORMS = {"multipart"}
# PyAV: a transcription counts every upload's length by decoding it, whatever its size (a header can lie); and
# finds its speech with WebRTC's voice activity detector (only speech goes upstream).
MEASURED = {
    "av",
    "_cyutil",
    "webrtcvad",
    "_webrtcvad",
}  # _cyutil: a top-level extension module of the av wheel
# The HTTP client the openai engine calls OpenAI with; botocore's own for the secret (no boto3); the X-Ray SDK
# for the Tracer.
UPSTREAM = {
    "httpx2", "httpcore2", "h11", "anyio", "sniffio", "idna", "truststore", "tenacity",
    "urllib3", "dateutil", "six", "aws_xray_sdk", "wrapt",
}  # fmt: skip
# Text cleaned before it is read: the Markdown parser for a text that may hold markup, regex for one that is not ASCII
# (a plain ASCII text, as tts-200's, loads neither).
CLEANED = {"markdown_it", "mdurl", "regex"}
# Never on these paths: the OpenAI SDK (the realtime engine's), boto3, pydantic-settings; other engines, their SDKs
# and codecs, the realtime client.
NOT_NEEDED = (
    "openai", "boto3", "s3transfer", "pydantic_settings", "dotenv",
    "av", "websockets", "num2words", "docopt", "faster_whisper", "ctranslate2", "espeakng_loader",
    "speech_common.engines.openai_realtime", "speech_common.engines.polly",
    "speech_common.engines.local", "openai.resources.realtime", "openai.types.realtime",
)  # fmt: skip


def _cold_paths() -> dict[str, tuple[str, Any, int, set[str]]]:
    """name -> (function, event, status, third-party packages it may load)."""
    upload = {"audio": ("hello.mp3", tone("mp3"), "audio/mpeg")}
    return {
        "tts-400": ("tts", tts_event({"text": "hi", "voice": "nobody"}), 400, COMMON),
        "tts-200": (
            "tts",
            tts_event({"text": "Hello, world!", "model": "tts-1", "voice": "alloy"}),
            200,
            COMMON | UPSTREAM,
        ),
        "tts-200-markdown": (
            "tts",
            tts_event({"text": "## Hello 👋\n\nThis is **bold**.", "model": "tts-1", "voice": "alloy"}),
            200,
            COMMON | UPSTREAM | CLEANED,
        ),
        "stt-200": (
            "stt",
            stt_event(multipart_body({"model": "whisper-1"}, upload)),
            200,
            COMMON | FORMS | UPSTREAM | MEASURED,
        ),
    }


@pytest.mark.parametrize("path", ["tts-400", "tts-200", "tts-200-markdown", "stt-200"])
def test_a_cold_start_of_the_built_function_loads_only_what_its_request_needs(
    path: str,
    built_artifacts: Artifacts,
    fake_openai: FakeOpenAI,
    fake_secrets_manager: FakeSecretsManager,
    xray_port: int,
) -> None:
    # Given the built function and layer, in a fresh interpreter with a deployed function's environment
    function, event, status, allowed = _cold_paths()[path]
    env = lambda_environment(
        function,
        memory_mb=512,
        openai_base_url=fake_openai.base_url,
        aws=fake_secrets_manager.client_environment(),
        xray_port=xray_port,
        task=built_artifacts.task(function),
    )
    # When it answers its first request
    cold = cold_start(built_artifacts, function, event, env)
    # Then the answer is the expected one
    assert cold.statuses == [status]
    # And nothing it does not need was loaded, and no package beyond those this path uses
    assert [name for name in NOT_NEEDED if name in cold.modules and name not in allowed] == []
    assert cold.third_party(built_artifacts) - allowed == set()
    # And nothing came from outside the artifacts and the standard library (no dev venv)
    assert not [name for name, file in cold.modules.items() if file and "site-packages" in file]


def test_every_registered_engine_names_an_engine_of_its_kind() -> None:
    # Given the engine registries (module:Class, imported on first use)
    for registry, kind in ((TTS_ENGINES, TextToSpeechEngine), (STT_ENGINES, SpeechToTextEngine)):
        for name, where in registry.items():
            # When an entry is resolved
            module, _, class_name = where.partition(":")
            engine = getattr(importlib.import_module(module), class_name)
            # Then it is an engine of its registry's kind, named as registered
            assert issubclass(engine, kind) and engine.name == name, where
