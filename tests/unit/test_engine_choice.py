"""local/engine_choice.py: the engine `make serve` uses, and the start-up check of each function's settings.

The settings are asked of a layer in a subprocess (the probe): of the real layer, and of small fake layers
written here, whose validators stand for the ones the real layer may gain (route chains, voice maps).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from local import engine_choice
from local.engine_choice import SettingsProblem

REPO = Path(__file__).resolve().parents[2]
REAL_LAYER = (str(REPO / "layers" / "common"),)

FAKE_SETTINGS = """
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    openai_api_key: SecretStr | None = None
    realtime_voice_map: str = "fable=ballad"
    polly_voice_map: dict[str, str] = {}  # a complex field: pydantic-settings parses it as JSON

    @field_validator("openai_api_key")
    @classmethod
    def key_has_no_space(cls, value: SecretStr | None) -> SecretStr | None:
        # A careless validator: its message quotes the secret.
        if value is not None and " " in value.get_secret_value():
            raise ValueError(f"key {value.get_secret_value()!r} has a space")
        return value

    @field_validator("realtime_voice_map")
    @classmethod
    def pairs(cls, value: str) -> str:
        if "=" not in value:
            raise ValueError("expected voice=upstream_voice pairs separated by ';'")
        return value
"""
FAKE_SECRETS = """
def has_openai_key(settings):
    return settings.openai_api_key is not None
"""


def write_layer(root: Path, settings_source: str) -> tuple[str, ...]:
    """A layer at `root` whose speech_common.settings is `settings_source`; its layer paths."""
    package = root / "speech_common"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(textwrap.dedent(settings_source))
    (package / "secrets.py").write_text(textwrap.dedent(FAKE_SECRETS))
    return (str(root),)


@pytest.fixture
def fake_layer(tmp_path: Path) -> tuple[str, ...]:
    return write_layer(tmp_path, FAKE_SETTINGS)


def test_out_of_range_value_is_named_with_pydantics_message() -> None:
    # Given a function whose workers would get UPSTREAM_MAX_ATTEMPTS=99 (the real layer allows 1 to 5)
    functions = {"SttFunction": ({"UPSTREAM_MAX_ATTEMPTS": "99"}, REAL_LAYER)}
    # When its settings are checked
    invalid = engine_choice.invalid_settings(functions)
    # Then the variable and pydantic's message are reported for that function
    assert invalid == {
        "SttFunction": (SettingsProblem("UPSTREAM_MAX_ATTEMPTS", "Input should be less than or equal to 5"),)
    }


def test_valid_environments_report_nothing() -> None:
    # Given two functions with valid settings (a limit value, and the defaults)
    functions = {
        "SttFunction": ({"UPSTREAM_MAX_ATTEMPTS": "5"}, REAL_LAYER),
        "TtsFunction": ({}, REAL_LAYER),
    }
    # When they are checked / Then nothing is refused
    assert engine_choice.invalid_settings(functions) == {}


def test_layers_without_speech_common_are_not_checked(tmp_path: Path) -> None:
    # Given another template's layer (no speech_common) and a value speech_common would refuse
    functions = {"OtherFunction": ({"UPSTREAM_MAX_ATTEMPTS": "99"}, (str(tmp_path),))}
    # When it is checked / Then there is nothing to say: the server starts as before
    assert engine_choice.invalid_settings(functions) == {}


def test_a_validators_message_names_the_variable(fake_layer: tuple[str, ...]) -> None:
    # Given a malformed voice map, refused by the layer's own validator
    functions = {"TtsFunction": ({"REALTIME_VOICE_MAP": "fable"}, fake_layer)}
    # When it is checked
    (problem,) = engine_choice.invalid_settings(functions)["TtsFunction"]
    # Then the variable is named, with the validator's message (without pydantic's "Value error, ")
    assert problem == SettingsProblem(
        "REALTIME_VOICE_MAP", "expected voice=upstream_voice pairs separated by ';'"
    )


def test_a_value_that_cannot_be_parsed_names_the_variable(fake_layer: tuple[str, ...]) -> None:
    # Given a value pydantic-settings cannot parse (not JSON for a dict field): a SettingsError, not a ValidationError
    functions = {"TtsFunction": ({"POLLY_VOICE_MAP": "alloy=Joanna-not-json"}, fake_layer)}
    # When it is checked
    (problem,) = engine_choice.invalid_settings(functions)["TtsFunction"]
    # Then the variable is named and the value is not repeated
    assert problem.variable == "POLLY_VOICE_MAP"
    assert "Joanna-not-json" not in problem.message


def test_the_message_about_a_secret_variable_is_withheld(fake_layer: tuple[str, ...]) -> None:
    # Given a key the layer refuses with a message that quotes it
    functions = {"SttFunction": ({"OPENAI_API_KEY": "sk-with space-7f3a"}, fake_layer)}
    # When it is checked and explained
    invalid = engine_choice.invalid_settings(functions)
    explained = engine_choice.explain(invalid)
    # Then the variable is named, and the key appears nowhere
    assert invalid["SttFunction"][0].variable == "OPENAI_API_KEY"
    assert "OPENAI_API_KEY: invalid (value_error;" in explained
    assert "7f3a" not in repr(invalid) + explained


def test_explain_names_each_problem_once_with_the_functions_it_concerns() -> None:
    # Given the same problem in two functions, and one of a single function
    shared = SettingsProblem("UPSTREAM_MAX_ATTEMPTS", "Input should be less than or equal to 5")
    own = SettingsProblem("TTS_MODEL_ROUTES", "'nosuch' is not a tts engine")
    invalid = {"TtsFunction": (shared, own), "SttFunction": (shared,)}
    # When it is explained
    lines = engine_choice.explain(invalid).splitlines()
    # Then one line per problem, naming the variable, the message and the functions
    assert lines[0] == "Invalid configuration: the local server did not start."
    assert lines[1:3] == [
        "  TTS_MODEL_ROUTES: 'nosuch' is not a tts engine (TtsFunction)",
        "  UPSTREAM_MAX_ATTEMPTS: Input should be less than or equal to 5 (SttFunction, TtsFunction)",
    ]
    assert "then start again" in lines[-1]


def test_no_key_variable_means_local_routes_except_those_the_user_set() -> None:
    # Given no OpenAI key, and the user's own STT route
    user_env = {"STT_MODEL_ROUTES": "whisper-1=local:custom"}
    # When the engine is chosen (no probe: nothing to ask the layer)
    choice = engine_choice.choose(user_env, ())
    # Then the local engine, with the local TTS route only (the user's STT route stays)
    assert choice == engine_choice.EngineChoice(
        "local", {"TTS_MODEL_ROUTES": engine_choice.LOCAL_ROUTES["TTS_MODEL_ROUTES"]}
    )


def test_a_key_with_invalid_settings_still_counts_as_configured() -> None:
    # Given a key and a setting the layer refuses: the key rule cannot be evaluated on these settings
    user_env = {"OPENAI_API_KEY": "sk-test-invalid-settings", "UPSTREAM_MAX_ATTEMPTS": "99"}
    # When the engine is chosen
    choice = engine_choice.choose(user_env, REAL_LAYER)
    # Then a set key variable is read as configured (invalid_settings is what stops the server)
    assert choice.engine == "openai"


def test_a_layer_that_fails_to_import_is_served_unchecked_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a speech_common whose settings module imports something missing (a layer mid-refactor)
    layer = write_layer(tmp_path, "import no_such_module_here\n")
    # When its settings are checked
    invalid = engine_choice.invalid_settings({"SttFunction": ({}, layer)})
    # Then nothing is refused (the workers will show the import error) and a warning says why
    assert invalid == {}
    assert "Settings of SttFunction not checked" in caplog.text
    assert "No module named 'no_such_module_here'" in caplog.text


def test_another_exception_is_reported_by_its_type_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a settings class whose construction fails outside pydantic, with a value in its message
    layer = write_layer(
        tmp_path,
        """
        import os

        class Settings:
            def __init__(self):
                raise RuntimeError(os.environ["OPENAI_API_KEY"])
        """,
    )
    # When its settings are checked
    invalid = engine_choice.invalid_settings({"SttFunction": ({"OPENAI_API_KEY": "sk-test-7f3a"}, layer)})
    # Then it is not a configuration problem, and the warning names the exception's type, not its message
    assert invalid == {}
    assert "(RuntimeError)" in caplog.text
    assert "7f3a" not in caplog.text
