"""Settings: route chains and voice maps parsed when read; a bad value is a start-up error naming it."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from speech_common import engine_names
from speech_common.model_routing import Route
from speech_common.settings import (
    ConfigurationError,
    Settings,
    get_settings,
    parse_voice_map,
    require,
    resource,
)


def test_voice_map_parses_names_case_insensitively() -> None:
    # Given a map with spaces and a capitalised voice / When parsed / Then keys are documented voices
    assert parse_voice_map("fable=ballad; Onyx = cedar ;") == {"fable": "ballad", "onyx": "cedar"}


@pytest.mark.parametrize("spec", ["broken", "=x", "nova=", "robot=Joanna"])
def test_a_malformed_voice_map_entry_is_refused(spec: str) -> None:
    # Given an entry without a voice, without an upstream voice, or naming no documented voice
    # When parsed / Then it is an error, not silently dropped
    with pytest.raises(ValueError):
        parse_voice_map(spec)


def test_routes_and_voice_maps_are_parsed_when_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given routes and a voice map in the environment
    monkeypatch.setenv("TTS_MODEL_ROUTES", "tts-1=polly:neural;tts-1-hd=openai:tts-1-hd,polly:neural")
    monkeypatch.setenv("REALTIME_VOICE_MAP", "nova=marin")
    # When the settings are read
    settings = Settings()
    # Then they are typed already
    assert settings.tts_model_routes["tts-1-hd"] == (Route("openai", "tts-1-hd"), Route("polly", "neural"))
    assert settings.realtime_voice_map == {"nova": "marin"}


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("TTS_MODEL_ROUTES", "tts-1=openai", "is not 'engine:upstream_model'"),
        ("TTS_MODEL_ROUTES", "tts-1=opneai:tts-1;tts-1-hd=openai:tts-1-hd", "'opneai' is not a tts engine"),
        ("TTS_MODEL_ROUTES", "tts-1=openai:tts-1", "no route for 'tts-1-hd'"),
        (
            "TTS_MODEL_ROUTES",
            "tts-1=openai:tts-1;tts-1-hd=openai:x;tts-2=openai:x",
            "'tts-2' is not a documented",
        ),
        ("STT_MODEL_ROUTES", "whisper-1=polly:neural", "'polly' is not a stt engine"),
        ("POLLY_VOICE_MAP", "alloy=Joanna;broken", "'broken' is not 'voice=upstream_voice'"),
        ("REALTIME_VOICE_MAP", "robot=marin", "'robot' is not a documented voice"),
    ],
)
def test_a_bad_configuration_fails_when_read_and_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    # Given a malformed value in the environment
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    # When the settings are read / Then the error names the variable and the problem
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert f"{variable}: " in str(caught.value) and problem in str(caught.value)


def test_a_secret_value_is_never_part_of_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bad setting next to a key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("UPSTREAM_MAX_ATTEMPTS", "sk-very-secret")
    get_settings.cache_clear()
    # When read / Then the error names the variable without echoing any value
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert "UPSTREAM_MAX_ATTEMPTS" in str(caught.value) and "sk-very-secret" not in str(caught.value)


RESOURCES = {"SPEECH_BUCKET": "speech-bucket", "JOBS_TABLE": "jobs", "JOBS_QUEUE_URL": "https://sqs.test/q"}


def test_a_function_gets_the_resources_it_requires(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the bucket, the table and the queue in the environment
    for variable, value in RESOURCES.items():
        monkeypatch.setenv(variable, value)
    # When a function requires all three
    settings = require("speech_bucket", "jobs_table", "jobs_queue_url")
    # Then its settings hold them, and each can be read as a plain string
    assert (settings.speech_bucket, settings.jobs_table, settings.jobs_queue_url) == tuple(RESOURCES.values())
    assert resource("jobs_queue_url") == "https://sqs.test/q"


@pytest.mark.parametrize("unset", ["", None], ids=["empty", "absent"])
def test_a_missing_resource_fails_the_start_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch, unset: str | None
) -> None:
    # Given a bucket, but a table and a queue that are empty or absent
    monkeypatch.setenv("SPEECH_BUCKET", "speech-bucket")
    for variable in ("JOBS_TABLE", "JOBS_QUEUE_URL"):
        if unset is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, unset)
    # When a function requires all three / Then the error names both missing variables and not the bucket
    with pytest.raises(ConfigurationError) as caught:
        require("speech_bucket", "jobs_table", "jobs_queue_url")
    message = str(caught.value)
    assert "JOBS_TABLE: required by this function" in message and "JOBS_QUEUE_URL: required" in message
    assert "SPEECH_BUCKET" not in message
    # And a function that requires only the bucket starts
    assert require("speech_bucket").speech_bucket == "speech-bucket"


def test_reading_an_unset_resource_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no queue in the environment
    monkeypatch.delenv("JOBS_QUEUE_URL", raising=False)
    # When code reads the queue's URL / Then the error names its variable
    with pytest.raises(ConfigurationError, match="JOBS_QUEUE_URL"):
        resource("jobs_queue_url")


def test_the_engine_registry_imports_nothing_and_settings_do_not_import_the_engines() -> None:
    # Given the engine-name registry's source
    source = Path(engine_names.__file__).read_text()
    # When its imports are listed
    tree = ast.parse(source)
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    # Then it needs nothing but typing
    assert imported <= {"__future__", "typing"}
    # And settings, read in a fresh interpreter (routes checked), load no engine module: no cycle between the two
    probe = (
        "import sys, speech_common.settings as s; s.Settings(); "
        "print([m for m in sys.modules if m.startswith('speech_common.engines')])"
    )
    layer = Path(engine_names.__file__).parent.parent
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(layer)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert loaded == "[]"


def test_each_setting_is_read_from_its_variable_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given variables named in upper and lower case, a number and a flag among them, and an empty one
    monkeypatch.setenv("TTS_PARALLEL_CALLS", "4")
    monkeypatch.setenv("tts_cache", "false")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    monkeypatch.setenv("NOT_A_SETTING", "ignored")
    # When the settings are read
    settings = Settings()
    # Then each is its variable's value, as its type reads it (an empty one stays empty)
    assert (settings.tts_parallel_calls, settings.tts_cache, settings.openai_base_url) == (4, False, "")


def test_a_value_given_to_the_settings_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a variable set in the environment
    monkeypatch.setenv("TTS_PARALLEL_CALLS", "4")
    # When the settings are built with another value / Then the given value wins, the rest keep their defaults
    settings = Settings(tts_parallel_calls=2)
    assert settings.tts_parallel_calls == 2 and settings.stt_parallel_calls == 16


def test_the_stream_functions_timeout_sets_the_gateways_and_the_upstream_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the stream function's integration timeout, 5 minutes
    monkeypatch.setenv("GATEWAY_TIMEOUT_MILLIS", "300000")
    # When settings are read
    settings = Settings()
    # Then upstream work may run that long, less the reserve for the answer, not the buffered routes' 27 s
    assert settings.gateway_timeout_seconds == 300
    assert settings.upstream_budget_seconds == 300 - settings.response_reserve_seconds


def test_without_it_the_buffered_routes_timeout_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no stream timeout / When settings are read / Then the gateway's 29 s and a 27 s budget
    monkeypatch.delenv("GATEWAY_TIMEOUT_MILLIS", raising=False)
    settings = Settings()
    assert (settings.gateway_timeout_seconds, settings.upstream_budget_seconds) == (29, 27)
