"""A 400 answer, or a cold start, must not pay for importing the OpenAI SDK, boto3 or PyAV."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

HEAVY = ("openai", "av", "boto3", "pocketsphinx", "espeakng_loader", "websockets", "num2words")

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


def fresh_python(code: str, **env: str) -> str:
    """The last line `code` prints in a new interpreter (like a new Lambda container)."""
    pythonpath = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": pythonpath, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


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
        "speech_common.engines.openai_realtime",
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
