"""`make deploy`: guided the first time, plain `sam deploy` once samconfig.toml holds the answers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRST_TIME = """version = 0.1
[default.deploy.parameters]
capabilities = "CAPABILITY_IAM"
"""
GUIDED_BEFORE = FIRST_TIME + 'region = "eu-west-1"\nstack_name = "speech-api"\n'


def deploy_arguments(tmp_path: Path, samconfig: str, *make_args: str) -> list[str]:
    """What `make deploy` passes to sam (a stand-in that records its arguments; the build is skipped)."""
    config = tmp_path / "samconfig.toml"
    config.write_text(samconfig)
    recorded = tmp_path / "sam-args"
    sam = tmp_path / "sam"
    sam.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {recorded}\n')
    sam.chmod(0o755)
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            "build",
            "deploy",
            f"SAM={sam}",
            f"SAMCONFIG={config}",
            *make_args,
        ],
        cwd=REPO,
        env={**os.environ, "MAKEFLAGS": ""},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return recorded.read_text().split()


@pytest.mark.parametrize(
    ("samconfig", "make_args", "guided"),
    [(FIRST_TIME, (), True), (GUIDED_BEFORE, (), False), (GUIDED_BEFORE, ("GUIDED=1",), True)],
)
def test_deploy_is_guided_until_samconfig_names_a_region(
    tmp_path: Path, samconfig: str, make_args: tuple[str, ...], guided: bool
) -> None:
    # Given a samconfig.toml without or with the answers of a guided deploy (a region)
    # When make deploy runs
    arguments = deploy_arguments(tmp_path, samconfig, *make_args)
    # Then sam deploy is guided only the first time (or when asked), with that config file
    assert arguments[0] == "deploy"
    assert ("--guided" in arguments) is guided
    assert arguments[arguments.index("--config-file") + 1] == str(tmp_path / "samconfig.toml")


def test_params_reach_sam_as_one_argument_quotes_and_all(tmp_path: Path) -> None:
    # Given parameter overrides with a quoted value holding ; and = (docs/operations.md's Polly example) and a quote
    params = """TtsModelRoutes="tts-1=polly:neural;tts-1-hd=polly:neural" OpenAISecretName=it's"""
    # When make deploy gets them as PARAMS
    arguments = deploy_arguments(tmp_path, GUIDED_BEFORE, f"PARAMS={params}")
    # Then sam gets them as written, for its own parser
    recorded = (tmp_path / "sam-args").read_text().splitlines()
    assert recorded[recorded.index("--parameter-overrides") + 1] == params
    assert "--guided" not in arguments
