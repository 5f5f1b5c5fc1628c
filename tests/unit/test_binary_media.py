"""local/binary_media.py: API Gateway's rule for returning a base64 answer as bytes, with the template's types."""

from __future__ import annotations

from typing import Any

import pytest

from local.binary_media import first_accept_type, returns_binary
from speech_common.doors.openai.answers import SPEECH_CONTENT_TYPES


@pytest.fixture
def binary_media_types(template: dict[str, Any]) -> list[str]:
    return list(template["Resources"]["SpeechApi"]["Properties"]["BinaryMediaTypes"])


@pytest.mark.parametrize(
    ("accept", "first"),
    [
        ("Audio/MPEG;q=0.9, */*", "audio/mpeg"),
        ("application/octet-stream", "application/octet-stream"),
        ("", None),
        (None, None),
    ],
)
def test_the_first_accept_type_is_what_counts(accept: str | None, first: str | None) -> None:
    # Given an Accept header / When its first type is read
    # Then it is lower-cased and without parameters (None without a header)
    assert first_accept_type(accept) == first


def test_what_the_sdks_send_gets_bytes_from_the_deployed_api(binary_media_types: list[str]) -> None:
    # Given the template's BinaryMediaTypes / When the OpenAI SDKs' Accept is checked
    # Then the speech answer reaches them as bytes
    assert returns_binary("application/octet-stream", binary_media_types)


@pytest.mark.parametrize("content_type", SPEECH_CONTENT_TYPES.values())
def test_asking_for_each_audio_type_gets_bytes(binary_media_types: list[str], content_type: str) -> None:
    # Given the template's BinaryMediaTypes / When a client accepts the format's own type first
    # Then the answer is bytes
    assert returns_binary(content_type, binary_media_types)


@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/json, audio/mpeg", None])
def test_other_accept_headers_get_base64_text(binary_media_types: list[str], accept: str | None) -> None:
    # Given the template's BinaryMediaTypes / When another type comes first, or no Accept at all
    # Then API Gateway passes the base64 text through (docs/api.md says to send Accept)
    assert not returns_binary(accept, binary_media_types)


def test_a_wildcard_entry_matches_every_type() -> None:
    # Given a BinaryMediaTypes of */* (written as CloudFormation writes it) / When anything is accepted
    # Then the answer is bytes
    assert returns_binary("text/html", ["*~1*"])
