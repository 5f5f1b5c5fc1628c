"""The documented examples against `make serve`, run as written: every bash block of the README, then of
docs/api.md, that calls the local API, in order, in one shell (as a reader pastes them into one terminal), from a
folder holding only samples/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from tests.helpers import ROOT
from tests.local_server import LocalServer

pytestmark = pytest.mark.e2e

BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Where the examples live, in the order a reader meets them: the README's first two, then the API's reference.
DOCUMENTS = ("README.md", "docs/api.md")


def local_api_blocks(*documents: str) -> list[str]:
    blocks = [block for document in documents for block in BLOCK.findall((ROOT / document).read_text())]
    return [block for block in blocks if "localhost:8000" in block or '"$API/' in block]


def test_the_readme_shows_one_tts_and_one_stt_example() -> None:
    # Given the README
    # When its bash blocks that call the local API are picked
    joined = "\n".join(local_api_blocks("README.md"))
    # Then they hold the TTS call and the STT call of the sample
    assert "/api/tts/" in joined and "samples/hello.mp3" in joined


def test_the_docs_name_the_examples_this_test_runs() -> None:
    # Given the README and docs/api.md
    # When their bash blocks that call the local API are picked
    blocks = local_api_blocks(*DOCUMENTS)
    # Then they are the TTS call, saving its audio, the STT call, the upload, both jobs and subtitles from a job
    joined = "\n".join(blocks)
    examples = (
        "/api/tts/",
        "> hello.mp3",
        "samples/hello.mp3",
        "/api/uploads/",
        "/api/stt/jobs/",
        "response_format=vtt",
        "/api/tts/jobs/",
    )
    for example in examples:
        assert example in joined
    assert not any(line.lstrip().startswith("make ") for line in joined.splitlines())


def test_every_documented_example_runs_as_written(speech_server: LocalServer, tmp_path: Path) -> None:
    # Given a folder with the repository's samples/, and the documented examples aimed at this server's port
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    script = "set -euo pipefail\n" + "\n".join(local_api_blocks(*DOCUMENTS))
    script = script.replace("localhost:8000", f"localhost:{speech_server.port}")
    # And, for the streaming example's player, an ffplay that keeps what it was given to play
    player = tmp_path / "bin" / "ffplay"
    player.parent.mkdir()
    player.write_text(f'#!/bin/sh\ncat >> "{tmp_path / "played.pcm"}"\n')
    player.chmod(0o755)
    env = {**os.environ, "PATH": f"{player.parent}{os.pathsep}{os.environ['PATH']}"}
    # When they run in one shell, one after the other
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # Then all of them succeed, and none answered an error
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"code"' not in done.stdout, done.stdout[-2000:]
    assert '"audio_base64"' in done.stdout
    assert done.stdout.count('"transcript"') >= 2  # the file, then the upload by its upload_id
    assert '"job_id"' in done.stdout and '"kind": "stt"' in done.stdout.replace(
        '"kind":"stt"', '"kind": "stt"'
    )
    # And the streamed speech reached the player as raw 16-bit PCM: whole samples, over half a second of them
    played = (tmp_path / "played.pcm").read_bytes()
    assert len(played) > 24_000 and len(played) % 2 == 0
    # And the job's subtitles were saved as WebVTT with a timed cue
    subtitles = (tmp_path / "hello.vtt").read_text()
    assert subtitles.startswith("WEBVTT\n\n") and " --> " in subtitles, subtitles
    # And the saved audio, and the speech job's, are mp3s that decode (the job's a minute and more)
    for saved, samples in (("hello.mp3", 24_000), ("speech-job.mp3", 60 * 24_000)):
        with av.open(str(tmp_path / saved)) as container:
            assert container.streams.audio[0].codec_context.name in ("mp3", "mp3float")
            assert sum(frame.samples for frame in container.decode(audio=0)) > samples
