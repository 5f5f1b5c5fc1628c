"""The OpenAPI 3 document of both doors, generated from the code: `make openapi` writes openapi.json.

Each function's doors (the /api one and the /v1 one) describe their routes with Powertools; this merges
them into one document and adds what Powertools cannot infer: the multipart forms (read by our own parser, from
the same pydantic models), the text answers, each door's error shape and statuses (Powertools would say 422),
and how to authenticate. `python -m tools.openapi --check` fails when openapi.json is not current (make lint).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from tools.generated import write_or_check
from tools.handlers import load_handler

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "layers" / "common") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "common"))  # the layer, as Lambda puts it on the path
DOCUMENT = ROOT / "openapi.json"
FUNCTIONS = ("tts", "stt", "jobs", "stream")  # each lists its DOORS
TITLE = "Speech API"
DESCRIPTION = (
    "Speech to text and text to speech through two doors over one core: /api (the documented contract, errors "
    '{"detail", "code"}) and /v1 (OpenAI\'s audio endpoints, errors {"error": {message, type, param, code}}).'
)
VERSION = "1.0.0"
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
_BINARY = {"type": "string", "format": "binary"}
_API_ERRORS = {
    "400": "The request is wrong (a field, the body, the audio)",
    "403": "Missing or invalid API key (deployed only)",
    "404": "No such route or resource",
    "413": "The request, or the answer it asks for, is too large",
    "429": "Over the usage plan's rate or quota (deployed only)",
    "500": "The upstream or the service failed",
}
_V1_ERRORS = {
    "400": "The request is wrong (the error names the parameter)",
    "401": "Missing or invalid API key (deployed only)",
    "404": "No such route or model",
    "413": "The request, or the answer it asks for, is too large",
    "429": "Rate limited (the upstream, or the usage plan when deployed); retry after Retry-After",
    "500": "The upstream or the service failed",
}


def _form_schema(model: type[Any], file_field: str, file_description: str) -> dict[str, Any]:
    """A multipart/form-data body: the file and the model's fields (as the form's parser validates them)."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    properties = {file_field: {**_BINARY, "description": file_description}, **schema.get("properties", {})}
    return {"type": "object", "properties": properties, "required": [file_field, *schema.get("required", [])]}


def _multipart_forms() -> dict[tuple[str, str], dict[str, Any]]:
    from speech_common.doors.api.models import SttForm, SttJobForm
    from speech_common.doors.openai.transcription_models import TranscriptionForm

    api = _form_schema(SttForm, "audio", "The recording (or send upload_id instead); recognised by content")
    api["required"] = [name for name in api["required"] if name != "audio"]  # audio or upload_id
    # A job's form: audio, upload_id or audio_url, and a webhook_url.
    job = _form_schema(
        SttJobForm, "audio", "The recording (or send upload_id or audio_url instead); recognised by content"
    )
    job["required"] = [name for name in job["required"] if name != "audio"]
    v1 = _form_schema(TranscriptionForm, "file", "The recording; recognised by content")
    return {
        ("/api/stt", "post"): api,
        ("/api/stt/jobs", "post"): job,
        ("/v1/audio/transcriptions", "post"): v1,
        ("/v1/audio/translations", "post"): v1,
    }


def _text_answers() -> dict[str, tuple[str, ...]]:
    """Routes whose 200 is JSON (json, verbose_json), text/plain (text, srt) or text/vtt: their JSON models."""
    return {
        "/api/stt": ("SttResponse", "SttVerboseResponse"),
        "/v1/audio/transcriptions": ("Transcription", "TranscriptionVerbose"),
    }


def _error_responses(path: str) -> dict[str, Any]:
    v1 = path.startswith("/v1/")
    schema = {"$ref": f"#/components/schemas/{'OpenAIErrorBody' if v1 else 'ErrorBody'}"}
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
        for status, description in (_V1_ERRORS if v1 else _API_ERRORS).items()
    }


def _merge(documents: list[dict[str, Any]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for document in documents:
        for path, operations in document.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(document.get("components", {}).get("schemas", {}))
    return {"paths": dict(sorted(paths.items())), "schemas": schemas}


def _complete(path: str, method: str, operation: dict[str, Any], forms: dict[tuple[str, str], Any]) -> None:
    responses = operation["responses"]
    responses.pop("422", None)
    for status, response in _error_responses(path).items():
        responses.setdefault(status, response)
    form = forms.get((path, method))
    if form is not None:
        content = {"multipart/form-data": {"schema": form}}
        if path.startswith(
            "/api/"
        ):  # fields only (an upload_id), as requests and fetch send a form with no file
            fields = copy.deepcopy(form)
            fields["properties"].pop("audio", None)
            content["application/x-www-form-urlencoded"] = {"schema": fields}
        operation["requestBody"] = {"required": True, "content": content}
    models = _text_answers().get(path)
    if models is not None:
        refs = [{"$ref": f"#/components/schemas/{model}"} for model in models]
        responses["200"]["content"] = {
            "application/json": {"schema": {"anyOf": refs}},
            "text/plain": {"schema": {"type": "string"}},
            "text/vtt": {"schema": {"type": "string"}},
        }
        if path == "/v1/audio/transcriptions":  # stream=true: transcript.text.delta events, then .done
            from speech_common.http_kit.streaming import SSE_CONTENT_TYPE, SSE_EVENT_SCHEMA

            responses["200"]["content"][SSE_CONTENT_TYPE] = {"schema": dict(SSE_EVENT_SCHEMA)}
    v1 = path.startswith("/v1/")
    operation["tags"] = ["OpenAI-compatible (/v1)" if v1 else "Speech API (/api)"]
    operation["security"] = [{"Bearer": []}] if v1 else [{"ApiKey": []}, {"Bearer": []}]


def build() -> dict[str, Any]:
    """The document, from the code as it is now."""
    from speech_common.doors.api.models import ErrorBody, SttResponse, SttVerboseResponse
    from speech_common.doors.openai.models import OpenAIErrorBody
    from speech_common.doors.openai.transcription_models import Transcription, TranscriptionVerbose

    documents = []
    for name in FUNCTIONS:
        handler = load_handler(name)
        for resolver in (door.build() for door in handler.DOORS):
            documents.append(json.loads(resolver.get_openapi_json_schema(title=TITLE, version=VERSION)))
    merged = _merge(documents)
    forms = _multipart_forms()
    for path, operations in merged["paths"].items():
        for method, operation in operations.items():
            _complete(path, method, operation, forms)
    schemas = {k: v for k, v in merged["schemas"].items() if k not in _POWERTOOLS_SCHEMAS}
    for model in (
        ErrorBody,
        OpenAIErrorBody,
        SttResponse,
        SttVerboseResponse,
        Transcription,
        TranscriptionVerbose,
    ):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(copy.deepcopy(schema.pop("$defs", {})))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [
            {"url": "http://localhost:8000", "description": "make serve (no API key needed)"},
            {
                "url": "https://{api_id}.execute-api.{region}.amazonaws.com/Prod",
                "description": "Deployed (the stack's ApiUrl output)",
                "variables": {"api_id": {"default": "api-id"}, "region": {"default": "us-east-1"}},
            },
        ],
        "paths": merged["paths"],
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The API key, as the OpenAI SDKs send it",
                },
            },
        },
    }


def rendered() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if openapi.json is not current")
    args = parser.parse_args(argv)
    return write_or_check(DOCUMENT, rendered(), check=args.check, command="make openapi")


if __name__ == "__main__":
    sys.exit(main())
