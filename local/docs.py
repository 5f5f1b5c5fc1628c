"""The OpenAPI document (openapi.json, written by `make openapi`) at /openapi.json and Swagger UI at /docs.

Local only: the deployed API serves neither. Swagger UI's files come from the flask-swagger-ui wheel (its
swagger-ui dist), served from here: the page loads nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response

DOCUMENT_PATH = "/openapi.json"
DOCS_PATH = "/docs"


def register(app: Flask, document: Path) -> None:
    from flask_swagger_ui import get_swaggerui_blueprint

    def openapi_document() -> Response:
        if not document.is_file():
            body = '{"detail": "openapi.json is missing: run make openapi", "code": "not_found"}'
            return Response(body, status=404, content_type="application/json")
        return Response(document.read_bytes(), content_type="application/json")

    app.add_url_rule(DOCUMENT_PATH, endpoint="openapi_document", view_func=openapi_document, methods=["GET"])
    app.register_blueprint(
        get_swaggerui_blueprint(DOCS_PATH, DOCUMENT_PATH, config={"app_name": "Speech API"}),
        url_prefix=DOCS_PATH,
    )
