"""`make serve PARAMS=...`: an override the template does not declare is refused, as CloudFormation does."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from local import sam_adapter, server

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
NO_API_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Declared:
    Type: String
    Default: x
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""


def test_the_templates_parameters_are_read_in_its_order() -> None:
    # Given template.yaml, which declares the OpenAI secret's name first and the allowed origins among others
    # When its parameters are read
    declared = sam_adapter.template_parameters(str(TEMPLATE))
    # Then they are its Parameters' names, in order
    assert declared[0] == "OpenAISecretName"
    assert "AllowedOrigins" in declared


def test_an_undeclared_override_is_named_with_what_the_template_declares() -> None:
    # Given overrides with a misspelt name beside a declared one
    overrides = {"AllowedOrigins": "https://example.com", "NoSuchParameter": "1"}
    # When they are checked against the declared names
    refusal = server.undeclared_parameters(overrides, ["OpenAISecretName", "AllowedOrigins"])
    # Then the refusal names the undeclared one only, in CloudFormation's words, and lists the declared ones
    assert refusal is not None
    assert refusal.startswith("Parameters: [NoSuchParameter] do not exist in the template.")
    assert "It declares: OpenAISecretName, AllowedOrigins" in refusal


def test_declared_overrides_and_pseudo_parameters_pass() -> None:
    # Given a declared parameter and a pseudo parameter (sam local lets one set AWS::Region)
    overrides = {"AllowedOrigins": "*", "AWS::Region": "eu-west-1"}
    # When they are checked / Then nothing is refused
    assert server.undeclared_parameters(overrides, ["AllowedOrigins"]) is None


def test_serve_refuses_to_start_with_an_undeclared_parameter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a template with one parameter and no API (served, it would stop at once with status 1)
    template = tmp_path / "template.yaml"
    template.write_text(NO_API_TEMPLATE)
    # When the server is asked to serve it with an override the template does not declare
    with caplog.at_level(logging.ERROR, logger="local.server"):
        status = server.serve(
            template=str(template),
            host="127.0.0.1",
            port=0,
            eager=False,
            concurrency=1,
            env_vars_file=None,
            parameter_overrides={"NoSuchParameter": "1"},
            region=None,
            profile=None,
        )
    # Then it exits with the configuration status before starting anything, naming the parameter
    assert status == server.INVALID_CONFIGURATION
    assert "Parameters: [NoSuchParameter] do not exist in the template" in caplog.text
