"""`make serve` refuses to start when the layer's settings refuse the functions' environment, and says why.

The server is started as `make serve` starts it (template.yaml); a bad value must stop it before it serves,
with the variable's name and pydantic's message, never the value.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.local_server import (
    MECHANICS_TEMPLATE,
    SPEECH_TEMPLATE,
    accepts_connections,
    running_server,
    server_env,
    start_expecting_exit,
)

pytestmark = pytest.mark.e2e


def test_out_of_range_setting_stops_the_server_naming_the_variable() -> None:
    # Given UPSTREAM_MAX_ATTEMPTS over the layer's limit (at most 5) in the user's environment
    env = server_env(UPSTREAM_MAX_ATTEMPTS="99")
    # When the server is started as `make serve` starts it
    exited = start_expecting_exit(SPEECH_TEMPLATE, env)
    # Then it exits with an error, before serving, naming the variable and pydantic's message
    assert exited.returncode != 0, exited.stderr
    assert "UPSTREAM_MAX_ATTEMPTS: Input should be less than or equal to 5" in exited.stderr
    assert "SttFunction" in exited.stderr and "TtsFunction" in exited.stderr
    assert "Engine:" not in exited.stdout
    assert not accepts_connections(exited.port)


def test_values_are_never_printed_neither_the_bad_one_nor_a_key() -> None:
    # Given a value the layer cannot parse, and an OpenAI key, both carrying a marker
    env = server_env(UPSTREAM_BUDGET_SECONDS="not-a-number-7f3a", OPENAI_API_KEY="sk-test-7f3a-not-real")
    # When the server is started
    exited = start_expecting_exit(SPEECH_TEMPLATE, env)
    # Then it names the variable and the problem, and neither value appears anywhere in its output
    assert exited.returncode != 0, exited.stderr
    assert "UPSTREAM_BUDGET_SECONDS: Input should be a valid number" in exited.stderr
    assert "7f3a" not in exited.stdout + exited.stderr


def test_every_refused_variable_is_named_at_once() -> None:
    # Given two bad values
    env = server_env(UPSTREAM_MAX_ATTEMPTS="0", UPSTREAM_BUDGET_SECONDS="-1")
    # When the server is started
    exited = start_expecting_exit(SPEECH_TEMPLATE, env)
    # Then both are reported in one start, not one per attempt
    assert exited.returncode != 0, exited.stderr
    assert "UPSTREAM_MAX_ATTEMPTS: Input should be greater than or equal to 1" in exited.stderr
    assert "UPSTREAM_BUDGET_SECONDS: Input should be greater than 0" in exited.stderr


def test_a_setting_at_its_limit_still_starts(tmp_path: Path) -> None:
    # Given UPSTREAM_MAX_ATTEMPTS at the layer's limit (5 is allowed)
    env = server_env(UPSTREAM_MAX_ATTEMPTS="5")
    # When the server is started / Then it serves (running_server fails the test if it exits)
    with running_server(SPEECH_TEMPLATE, tmp_path, env) as server:
        tts = server.post("/api/tts/", b'{"text": "Hello"}', headers={"Content-Type": "application/json"})
        assert tts.status == 200, tts.body
        assert server.stdout.startswith("Engine: local")


def test_a_template_without_the_speech_layer_is_not_checked(tmp_path: Path) -> None:
    # Given a template whose layer has no speech_common, and a value speech_common would refuse
    env = server_env(UPSTREAM_MAX_ATTEMPTS="99")
    # When it is served / Then it starts and serves as before: its settings are not ours to judge
    with running_server(MECHANICS_TEMPLATE, tmp_path, env) as server:
        assert server.post("/ping").status == 200
