"""Whether the REST API returns a function's base64 answer as bytes, by API Gateway's documented rule.

API Gateway decodes a Lambda proxy answer marked isBase64Encoded only when the first media type of the
request's Accept header matches one of the API's BinaryMediaTypes (an entry may use `*`, as `audio/*` or
`*/*`); otherwise the client receives the base64 text. SAM's emulation instead matches the best Accept type
against the answer's Content-Type, which returns text to the OpenAI SDKs (Accept: application/octet-stream)
where the deployed API returns audio.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase


def first_accept_type(accept: str | None) -> str | None:
    """The first media type of an Accept header, lower-cased, without parameters (None: no header)."""
    if not accept:
        return None
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first or None


def returns_binary(accept: str | None, binary_media_types: Iterable[str]) -> bool:
    """Whether a base64-encoded answer reaches a client sending this Accept header as bytes."""
    wanted = first_accept_type(accept)
    if wanted is None:
        return False
    return any(fnmatchcase(wanted, entry.replace("~1", "/").lower()) for entry in binary_media_types)
