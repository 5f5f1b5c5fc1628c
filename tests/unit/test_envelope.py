"""The envelope's media type: read without the form parser, the same as the form parser reads it."""

from __future__ import annotations

import pytest

from speech_common.http_kit.envelope import media_type, mime_of


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON; charset=UTF-8",
        '  multipart/form-data ; boundary="a;b"',
        "application/x-www-form-urlencoded;",
        "text/plain",
        "",
        None,
    ],
)
def test_the_media_type_alone_is_the_form_parsers_media_type(content_type: str | None) -> None:
    # Given a Content-Type header, with or without parameters (quoted ones too)
    # When its media type is read alone, and by the form parser with its parameters
    alone = mime_of(content_type)
    with_parameters, _ = media_type(content_type)
    # Then both read the same lower-cased media type
    assert alone == with_parameters
    assert alone == alone.strip().lower()


def test_the_parameters_are_kept_for_the_form_parser() -> None:
    # Given a multipart Content-Type whose boundary is quoted and case-sensitive
    # When it is read with its parameters
    mime, params = media_type('Multipart/Form-Data; boundary="AbC;9"')
    # Then the boundary is kept as sent
    assert (mime, params) == ("multipart/form-data", {"boundary": "AbC;9"})
