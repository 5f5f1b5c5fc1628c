"""Settings: route chains and voice maps parsed when read; a bad value is a start-up error naming it."""

import pytest

from speech_common.model_routing import Route
from speech_common.settings import ConfigurationError, Settings, get_settings, parse_voice_map


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
