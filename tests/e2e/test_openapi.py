"""The generated OpenAPI document under `make serve`: served with Swagger UI, and schemathesis finds no 5xx."""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.helpers import ROOT
from tests.local_server import LocalServer

DOCUMENT = ROOT / "openapi.json"
OPERATIONS = [
    (path, method.upper())
    for path, operations in json.loads(DOCUMENT.read_text())["paths"].items()
    for method in operations
]
# Generated cases per operation: enough to try each field's edges, few enough for make test on 2 cores.
EXAMPLES = 25


def test_the_document_and_swagger_ui_are_served_without_a_cdn(speech_server: LocalServer) -> None:
    # Given make serve / When /openapi.json and /docs/ are asked for
    document = speech_server.request("GET", "/openapi.json")
    page = speech_server.request("GET", "/docs/")
    # Then the document is openapi.json as generated
    assert document.status == 200 and document.json() == json.loads(DOCUMENT.read_text())
    # And Swagger UI loads its scripts from this server, none from another host
    assert page.status == 200
    html = page.body.decode()
    scripts = re.findall(r'src="([^"]+)"', html)
    assert any(src.endswith("swagger-ui-bundle.js") for src in scripts)
    assert not any(src.startswith(("http:", "https:", "//")) for src in scripts)
    bundle = next(src for src in scripts if src.endswith("swagger-ui-bundle.js"))
    assert speech_server.request("GET", bundle).status == 200


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_schemathesis_finds_no_server_error_and_answers_match_the_document(
    speech_server: LocalServer, path: str, method: str
) -> None:
    # Given the document and make serve (offline engine, embedded AWS)
    operation = schemathesis.openapi.from_path(DOCUMENT)[path][method]
    base_url = f"http://127.0.0.1:{speech_server.port}"
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def generated(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, checks=checks, timeout=60)

    # When schemathesis sends the cases it generates for the operation
    # Then none is a 5xx, and each answer matches its documented status, content type and schema
    generated()
