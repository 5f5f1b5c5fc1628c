"""The OpenAI key: environment first, else Secrets Manager (through moto), never leaked."""

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from moto import mock_aws

from speech_common.errors import UpstreamFailure
from speech_common.secrets import has_openai_key, openai_api_key
from speech_common.settings import Settings
from tests.fakes.secrets_manager import FakeSecretsManager


@pytest.fixture
def secrets_manager():
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_the_environment_key_wins_over_the_secret(secrets_manager) -> None:
    # Given a key in Secrets Manager and another in the environment
    secrets_manager.create_secret(Name="speech-api/openai", SecretString="sk-from-secret")
    settings = Settings(openai_api_key="sk-from-env", openai_secret_name="speech-api/openai")
    # When the key is read / Then it is the environment's
    assert openai_api_key(settings) == "sk-from-env"


@pytest.mark.parametrize("stored", ["sk-plain", '{"OPENAI_API_KEY": "sk-plain"}', "  sk-plain\n"])
def test_the_secret_holds_a_bare_key_or_json(secrets_manager, stored: str) -> None:
    # Given a secret holding the key bare, as JSON, or with whitespace around it
    secrets_manager.create_secret(Name="speech-api/openai", SecretString=stored)
    # When the key is read / Then it is the bare key
    assert openai_api_key(Settings(openai_secret_name="speech-api/openai")) == "sk-plain"


def test_the_secret_is_cached_between_invocations(secrets_manager) -> None:
    # Given a key read once
    secrets_manager.create_secret(Name="speech-api/openai", SecretString="sk-first")
    settings = Settings(openai_secret_name="speech-api/openai", secret_max_age_seconds=300)
    assert openai_api_key(settings) == "sk-first"
    # When the secret changes within max_age / Then the cached key is used (no second API call)
    secrets_manager.put_secret_value(SecretId="speech-api/openai", SecretString="sk-second")
    assert openai_api_key(settings) == "sk-first"


def test_the_secret_is_read_again_once_its_max_age_has_passed(secrets_manager) -> None:
    # Given a key read once, kept for no time at all
    secrets_manager.create_secret(Name="speech-api/openai", SecretString="sk-first")
    settings = Settings(openai_secret_name="speech-api/openai", secret_max_age_seconds=0)
    assert openai_api_key(settings) == "sk-first"
    # When the secret is rotated / Then the next read has the new key
    secrets_manager.put_secret_value(SecretId="speech-api/openai", SecretString="sk-rotated")
    assert openai_api_key(settings) == "sk-rotated"


def test_a_binary_secret_holds_the_key_too(secrets_manager) -> None:
    # Given a secret stored as binary (SecretBinary), holding the key as JSON
    secrets_manager.create_secret(Name="speech-api/openai", SecretBinary=b'{"OPENAI_API_KEY": "sk-binary"}')
    # When the key is read / Then it is the key
    assert openai_api_key(Settings(openai_secret_name="speech-api/openai")) == "sk-binary"


def test_a_missing_secret_is_a_configuration_failure_that_does_not_leak(secrets_manager) -> None:
    # Given a secret name that Secrets Manager does not hold
    # When the key is read / Then it is a not-configured failure
    with pytest.raises(UpstreamFailure) as failure:
        openai_api_key(Settings(openai_secret_name="speech-api/absent"))
    assert failure.value.code == UpstreamFailure.NOT_CONFIGURED
    # And the message does not name the secret
    assert "speech-api/absent" not in failure.value.message


def test_an_empty_json_secret_is_a_configuration_failure(secrets_manager) -> None:
    # Given a JSON secret without the key's field
    secrets_manager.create_secret(Name="speech-api/openai", SecretString='{"other": "x"}')
    # When the key is read / Then it is a not-configured failure
    with pytest.raises(UpstreamFailure) as failure:
        openai_api_key(Settings(openai_secret_name="speech-api/openai"))
    assert failure.value.code == UpstreamFailure.NOT_CONFIGURED


def test_no_key_at_all_is_reported() -> None:
    # Given settings with neither a key nor a secret name
    settings = Settings()
    # When asked whether there is a key / Then there is none
    assert not has_openai_key(settings)
    # And reading the key is a not-configured failure
    with pytest.raises(UpstreamFailure) as failure:
        openai_api_key(settings)
    assert failure.value.code == UpstreamFailure.NOT_CONFIGURED
    # And a secret name alone or a key alone counts as having one
    assert has_openai_key(Settings(openai_secret_name="x")) and has_openai_key(Settings(openai_api_key="k"))


def test_secrets_manager_calls_are_bounded_in_time() -> None:
    # A slow Secrets Manager must not hold a request past the gateway's 29 s.
    # Given the Secrets Manager provider
    from speech_common.secrets import secrets_provider

    # When its client's configuration is read
    config = secrets_provider().client.meta.config
    # Then connecting, reading and retrying are all bounded
    assert config.connect_timeout <= 2 and config.read_timeout <= 3
    assert config.retries["total_max_attempts"] <= 2


def test_callers_arriving_together_on_a_cold_container_read_the_secret_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a cold container (no provider, nothing cached) and a Secrets Manager that counts its calls
    with FakeSecretsManager({"speech-api/openai": "sk-once"}) as fake:
        for name, value in fake.client_environment().items():
            monkeypatch.setenv(name, value)
        settings = Settings(openai_secret_name="speech-api/openai")
        start = threading.Barrier(16)

        def read() -> str:
            start.wait()
            return openai_api_key(settings)

        # When 16 calls (a long text's pieces) ask for the key at the same moment
        with ThreadPoolExecutor(max_workers=16) as pool:
            keys = list(pool.map(lambda _: read(), range(16)))
        # Then every one has it, and Secrets Manager was asked once
        assert keys == ["sk-once"] * 16
        assert fake.calls == 1
