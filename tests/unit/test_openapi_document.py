"""openapi.json is what `make openapi` generates from the code now (make lint checks the same)."""

from __future__ import annotations

import json

from tools import openapi


def test_the_committed_document_is_current() -> None:
    # Given the code as it is / When the document is generated
    generated = openapi.rendered()
    # Then it is the committed openapi.json, byte for byte (else: run make openapi)
    assert openapi.DOCUMENT.read_text() == generated


def test_both_doors_and_their_error_shapes_are_described() -> None:
    # Given the generated document / When its paths are read
    document = json.loads(openapi.rendered())
    paths = document["paths"]
    # Then the multipart routes describe their forms, and each door its own error body
    form = paths["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"
    ]
    assert form["properties"]["file"]["format"] == "binary" and "response_format" in form["properties"]
    api_form = paths["/api/stt"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"audio", "model", "language", "prompt", "response_format"} <= set(api_form["properties"])
    v1_error = paths["/v1/audio/speech"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    api_error = paths["/api/tts"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert v1_error == {"$ref": "#/components/schemas/OpenAIErrorBody"}
    assert api_error == {"$ref": "#/components/schemas/ErrorBody"}
    assert not any("422" in op["responses"] for ops in paths.values() for op in ops.values())
