"""The /v1 door under `make serve`, driven by the official `openai` npm package (installed by make js-sdk)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.audio_helpers import codec_and_samples
from tests.helpers import V1_SPEECH_CODECS, V1_SPEECH_CONTENT_TYPES, V1_VOICES
from tests.local_server import LocalServer

SDK_DIR = Path(__file__).resolve().parent / "sdk_js"
SCRIPT = SDK_DIR / "speech_and_transcription.mjs"


@pytest.fixture(scope="module")
def report(speech_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The script's report, after it ran every call against make serve."""
    node = shutil.which("node")
    assert node, "Node.js (20+) is needed for this test"
    assert (SDK_DIR / "node_modules" / "openai").is_dir(), "run make js-sdk (make test does)"
    env = {
        **os.environ,
        "BASE_URL": f"http://127.0.0.1:{speech_server.port}/v1",
        "OUT_DIR": str(tmp_path_factory.mktemp("sdk-js")),
    }
    done = subprocess.run(
        [node, str(SCRIPT)], cwd=SDK_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_speech_in_every_voice_and_format_is_real_audio(report: dict[str, Any]) -> None:
    # Given the npm SDK's speech.create in every voice and format / When each saved answer is read
    speech = report["speech"]
    # Then there is one per voice and format, typed per format, and each decodes as that format's audio
    assert {(item["voice"], item["format"]) for item in speech} == {
        (v, f) for v in V1_VOICES for f in V1_SPEECH_CONTENT_TYPES
    }
    for item in speech:
        audio = Path(item["file"]).read_bytes()
        assert item["contentType"] == V1_SPEECH_CONTENT_TYPES[item["format"]]
        if item["format"] == "pcm":
            assert len(audio) > 24_000 and len(audio) % 2 == 0
        else:
            codec, samples = codec_and_samples(audio)
            assert codec in V1_SPEECH_CODECS[item["format"]] and samples > 12_000


def test_transcriptions_in_json_and_text(report: dict[str, Any]) -> None:
    # Given the npm SDK's transcriptions.create of spoken words / When json and text are asked for
    # Then both carry the same transcript (text as one line)
    transcripts = report["transcriptions"]
    assert transcripts["json"].strip() and transcripts["text"] == transcripts["json"] + "\n"


def test_timed_transcriptions(report: dict[str, Any]) -> None:
    # Given the npm SDK's transcriptions.create asked for srt, and for verbose_json with word timings / When it answered
    transcripts = report["transcriptions"]
    # Then srt is a string of numbered, timed cues
    assert re.match(r"^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n\S", transcripts["srt"])
    # And verbose_json has words in order within the recording, and no segments (only words were asked for)
    verbose = transcripts["verbose_json"]
    assert verbose["segments"] is None and verbose["words"]
    starts = [word["start"] for word in verbose["words"]]
    assert (
        starts == sorted(starts)
        and starts[0] >= 0
        and verbose["words"][-1]["end"] <= verbose["duration"] + 0.3
    )


def test_typed_errors_and_models(report: dict[str, Any]) -> None:
    # Given a model this API does not serve, a bad voice and a bad file sent with the npm SDK / When it raised
    errors = report["errors"]
    # Then each is a BadRequestError naming the parameter
    assert errors["badModel"] == {**errors["badModel"], "badRequest": True, "param": "model"}
    assert errors["badVoice"] == {
        **errors["badVoice"],
        "badRequest": True,
        "param": "voice",
        "code": "unsupported_voice",
    }
    assert errors["badFile"] == {
        **errors["badFile"],
        "badRequest": True,
        "param": "file",
        "code": "unsupported_audio",
    }
    # And models.list names the three public models
    assert report["models"] == ["gpt-4o-transcribe-diarize", "tts-1", "tts-1-hd", "whisper-1"]
