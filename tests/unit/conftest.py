"""Fixtures of the unit tier: template.yaml as a dict, for every module that checks what it declares."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers import ROOT


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
    """template.yaml as written (short-form tags kept as {"Ref": ...} / {"Fn::X": ...})."""
    loaded: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    return loaded


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """template.yaml as CloudFormation receives it, after the SAM transform (no AWS call)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    source = yaml_parse((ROOT / "template.yaml").read_text())
    # Local code paths are uploaded by `sam deploy`; the transform wants S3 URIs in their place.
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    source["Resources"]["CommonLayer"]["Properties"]["ContentUri"] = "s3://bucket/layer.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        result: dict[str, Any] = transform(source, {}, NoManagedPolicies())
    return result
