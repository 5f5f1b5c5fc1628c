"""The shared HTTP kit: its framework-neutral parts load without a web framework; forms of both kinds."""

from __future__ import annotations

import json

import pytest

from speech_common.errors import InvalidRequest
from speech_common.http_kit.forms import MAX_FORM_PARTS, read_form_parts
from tests.helpers import fresh_python

NEUTRAL = ("answers", "envelope", "forms", "headers", "paths", "validation")


def test_the_neutral_kit_loads_no_web_framework() -> None:
    # Given a fresh interpreter / When the kit's framework-neutral modules are imported
    imports = "; ".join(f"import speech_common.http_kit.{name}" for name in NEUTRAL)
    loaded = fresh_python(
        f"import sys, json; {imports}; "
        "print(json.dumps(sorted(m for m in sys.modules if 'event_handler' in m or 'data_classes' in m)))"
    )
    # Then neither Powertools' resolver nor its event classes came with them (an ASGI door can use them)
    assert json.loads(loaded) == []


def test_an_urlencoded_form_gives_its_fields() -> None:
    # Given a form with fields only, as requests and fetch(URLSearchParams) send it
    body = b"upload_id=abc123&model=whisper-1&language="
    # When it is read
    files, fields, lists = read_form_parts(body, "application/x-www-form-urlencoded; charset=UTF-8")
    # Then there are no files and every field, the blank one too
    assert (files, fields, lists) == ({}, {"upload_id": "abc123", "model": "whisper-1", "language": ""}, {})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"model=a&model=b", "duplicate_field"),
        (b"&".join(b"f%d=1" % n for n in range(MAX_FORM_PARTS + 1)), "too_many_fields"),
        (b"\xff=1", "unsupported_content_type"),  # curl --data-binary @file.mp3
    ],
)
def test_a_bad_urlencoded_form_is_a_400(body: bytes, code: str) -> None:
    # Given an urlencoded body with a repeated field, too many fields, or bytes that are not UTF-8 (a file)
    # When it is read / Then it is refused with the code that says why
    with pytest.raises(InvalidRequest) as refused:
        read_form_parts(body, "application/x-www-form-urlencoded")
    assert refused.value.code == code
