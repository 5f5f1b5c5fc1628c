"""The page at / (functions/page): its files, its base under the stage's path, and its security headers. What it
does in a browser: tests/e2e/test_page.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import api_event, load_handler


@pytest.fixture
def page_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """functions/page/app.py with the environment a test sets, its headers worked out afresh."""
    handler = load_handler("page")
    handler.security_headers.cache_clear()
    yield handler
    monkeypatch.undo()
    handler.security_headers.cache_clear()


def get(
    handler: Any, path: str, *, resource: str, stage_path: str | None = None, file: str | None = None
) -> Any:
    event = api_event("GET", path, content_type=None, api_key_id=None)
    event["resource"] = resource
    event["pathParameters"] = {"file": file} if file is not None else None
    if stage_path is not None:
        event["requestContext"]["path"] = stage_path
    return handler.lambda_handler(event, None)


def csp_of(response: dict[str, Any]) -> dict[str, list[str]]:
    directives = (part.split() for part in response["headers"]["Content-Security-Policy"].split(";"))
    return {name: values for name, *values in directives}


def test_the_page_is_served_under_the_stages_path(page_handler: Any) -> None:
    # Given the deployed stage, asked for its root with and without the trailing slash
    # When the page is asked for
    with_slash = get(page_handler, "/", resource="/", stage_path="/Prod/")
    without = get(page_handler, "/", resource="/", stage_path="/Prod")
    # Then it is HTML whose relative links (its files, the API's routes) resolve under /Prod/
    for response in (with_slash, without):
        assert response["statusCode"] == 200
        assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
        assert '<base href="/Prod/">' in response["body"]
        assert 'src="page/page.js"' in response["body"] and 'href="page/page.css"' in response["body"]


def test_a_stage_path_that_is_not_a_plain_path_is_not_written_into_the_page(page_handler: Any) -> None:
    # Given a path that would break out of the attribute
    # When the page is asked for
    response = get(page_handler, "/", resource="/", stage_path='/Prod/"><script>alert(1)</script>')
    # Then the page's base is the root, and nothing of the path is in it
    assert '<base href="/">' in response["body"] and "alert(1)" not in response["body"]


def test_its_script_and_style_sheet_and_nothing_else(page_handler: Any) -> None:
    # Given the page's folder / When its files, then others, are asked for
    script = get(page_handler, "/page/page.js", resource="/page/{file}", file="page.js")
    style = get(page_handler, "/page/page.css", resource="/page/{file}", file="page.css")
    others = [
        get(page_handler, f"/page/{name}", resource="/page/{file}", file=name)
        for name in ("app.py", "index.html", "..%2Fapp.py", "../app.py", "")
    ]
    # Then the two are served with their types, and every other name is a 404 in the /api shape
    assert (script["statusCode"], script["headers"]["Content-Type"]) == (
        200,
        "text/javascript; charset=utf-8",
    )
    assert "sessionStorage" in script["body"]
    assert (style["statusCode"], style["headers"]["Content-Type"]) == (200, "text/css; charset=utf-8")
    assert [response["statusCode"] for response in others] == [404] * len(others)
    assert all('"code": "not_found"' in response["body"] for response in others)


def test_the_security_headers_allow_only_the_page_itself_this_api_and_the_bucket(
    page_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployed function: its bucket and region (no local S3 endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("SPEECH_BUCKET", "speech-bucket-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    # When the page is asked for
    response = get(page_handler, "/", resource="/", stage_path="/Prod/")
    # Then scripts, styles and images come from the page's own origin only, nothing inline, no plug-ins or frames
    csp = csp_of(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == csp["style-src"] == csp["img-src"] == ["'self'"]
    assert csp["frame-ancestors"] == csp["form-action"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    # And speech may play from blob: URLs, and calls go to this API and the bucket's presigned POSTs only
    assert csp["media-src"] == ["'self'", "blob:"]
    assert csp["connect-src"] == [
        "'self'",
        "https://speech-bucket-1.s3.amazonaws.com",
        "https://speech-bucket-1.s3.eu-west-1.amazonaws.com",
    ]
    headers = response["headers"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Permissions-Policy"].startswith("microphone=(self)")
    # And the page's files carry the same headers
    script = get(page_handler, "/page/page.js", resource="/page/{file}", file="page.js")
    assert script["headers"]["Content-Security-Policy"] == headers["Content-Security-Policy"]


def test_under_make_serve_the_uploads_go_to_the_local_s3(
    page_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given make serve's S3 endpoint in the function's environment
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:40123")
    # When the page is asked for
    response = get(page_handler, "/", resource="/", stage_path="/")
    # Then its connect-src names that endpoint's origin beside the page's own
    assert csp_of(response)["connect-src"] == ["'self'", "http://127.0.0.1:40123"]
