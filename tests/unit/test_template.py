"""template.yaml says what the code assumes (checked without AWS; `make validate` lints it too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from speech_common.routes import parse_routes
from speech_common.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as {"Fn::X": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    return loaded


def test_route_defaults_match_the_code_defaults(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    settings = Settings()
    assert params["SttModelRoutes"]["Default"] == settings.stt_model_routes
    assert params["TtsModelRoutes"]["Default"] == settings.tts_model_routes
    # and they parse, naming every documented public model
    assert set(parse_routes(settings.stt_model_routes)) == {"whisper-1"}
    assert set(parse_routes(settings.tts_model_routes)) == {"tts-1", "tts-1-hd"}


def test_functions_run_python313_on_arm64_with_the_layer(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]
    layer = template["Resources"]["CommonLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}


def test_each_function_has_its_service_name_route_and_secret_policy(template: dict[str, Any]) -> None:
    for name, path, service in (
        ("SttFunction", "/api/stt", "speech-stt"),
        ("TtsFunction", "/api/tts", "speech-tts"),
    ):
        function = template["Resources"][name]["Properties"]
        assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
        (event,) = function["Events"].values()
        assert (event["Type"], event["Properties"]["Path"], event["Properties"]["Method"]) == (
            "Api",
            path,
            "post",
        )
        assert event["Properties"]["RestApiId"] == {"Ref": "SpeechApi"}
        secret_policy = function["Policies"][0]["AWSSecretsManagerGetSecretValuePolicy"]
        assert "${OpenAISecretName}-*" in secret_policy["SecretArn"]["Fn::Sub"]


def test_multipart_is_a_binary_media_type(template: dict[str, Any]) -> None:
    api = template["Resources"]["SpeechApi"]
    assert api["Type"] == "AWS::Serverless::Api"
    assert "multipart~1form-data" in api["Properties"]["BinaryMediaTypes"]


def test_polly_permission_exists_only_under_its_condition(template: dict[str, Any]) -> None:
    stt_policies = template["Resources"]["SttFunction"]["Properties"]["Policies"]
    assert "polly" not in str(stt_policies).lower()
    tts_policies = template["Resources"]["TtsFunction"]["Properties"]["Policies"]
    conditional = [p for p in tts_policies if "Fn::If" in p]
    assert len(conditional) == 1 and conditional[0]["Fn::If"][0] == "UsesPolly"
    assert "polly:SynthesizeSpeech" in str(conditional[0]["Fn::If"][1])
