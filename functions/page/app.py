"""GET /: a page to try the API in a browser; GET /page/{file}: its script and style sheet. No key: the page asks
for one and sends it with each call it makes.

Plain files beside this module (static/), served as they are, with a Content-Security-Policy that lets the page
load only its own files and talk only to this API and the bucket its uploads go to (a presigned POST). Of the layer
only the error codes are imported: the page costs little more than reading a file.
"""

from __future__ import annotations

import html
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from speech_common.error_codes import ErrorCode

STATIC = Path(__file__).resolve().parent / "static"
# The files /page/{file} serves, and their types: nothing else in the folder is reachable.
ASSETS = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}
HTML = "text/html; charset=utf-8"
# The stage's path as the gateway saw it ("/Prod/", "/" locally): what the page's relative links resolve against.
SAFE_BASE = re.compile(r"^/[A-Za-z0-9._~/-]*$")


def upload_origins() -> list[str]:
    """Where a presigned upload POSTs to: the S3 endpoint make serve sets, else the bucket's own hosts."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if endpoint:
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"]
    bucket, region = os.environ.get("SPEECH_BUCKET"), os.environ.get("AWS_REGION")
    if not bucket:
        return []
    hosts = [f"https://{bucket}.s3.amazonaws.com"]
    if region:
        hosts.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return hosts


@cache
def security_headers() -> dict[str, str]:
    policy = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            # Speech plays from blob: URLs (a MediaSource, or the whole answer) made by the page itself.
            "media-src 'self' blob:",
            "connect-src " + " ".join(["'self'", *upload_origins()]),
            "base-uri 'self'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


@cache
def static_file(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def answer(status: int, body: str, content_type: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **security_headers()},
        "body": body,
        "isBase64Encoded": False,
    }


def page_base(event: dict[str, Any]) -> str:
    base = str((event.get("requestContext") or {}).get("path") or "/")
    if not SAFE_BASE.match(base):
        return "/"
    return base if base.endswith("/") else base + "/"


def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    asset = ((event.get("pathParameters") or {}).get("file")) or ""
    if event.get("resource") == "/" or (not asset and event.get("path") in ("/", "")):
        page = static_file("index.html").replace(
            '<base href="/">', f'<base href="{html.escape(page_base(event))}">'
        )
        return answer(200, page, HTML)
    if asset in ASSETS:
        return answer(200, static_file(asset), ASSETS[asset])
    return answer(
        404,
        json.dumps({"detail": "No such file of the page", "code": ErrorCode.NOT_FOUND}),
        "application/json",
    )
