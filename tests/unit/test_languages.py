"""The one table of languages: ISO-639-1 codes (/api, and inside) and Whisper's names (OpenAI's verbose_json)."""

from __future__ import annotations

import pytest

from speech_common.languages import WHISPER_NAMES, iso_code, most_heard, openai_name, whisper_code


@pytest.mark.parametrize(
    ("named", "code"),
    [
        ("english", "en"),  # whisper-1's verbose_json
        ("en", "en"),  # faster-whisper, and what a request asks
        ("English", "en"),
        ("haitian creole", "ht"),
        ("jw", "jv"),  # Whisper's code for Javanese is not ISO-639-1's
        ("javanese", "jv"),
        ("mandarin", "zh"),  # one of the aliases Whisper takes
        ("cantonese", "yue"),  # no two-letter code: Whisper's (ISO 639-3) is kept
        ("klingon", None),
        ("", None),
        (None, None),
    ],
)
def test_an_engines_name_for_a_language_becomes_its_code(named: str | None, code: str | None) -> None:
    # Given a language as an engine names it / When its code is looked up / Then it is the ISO-639-1 code
    assert iso_code(named) == code


def test_every_language_faster_whisper_knows_has_a_code_and_an_openai_name() -> None:
    # Given the codes of the offline engine's Whisper (a library nobody here wrote)
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    # When each is looked up
    codes = {whisper: iso_code(whisper) for whisper in _LANGUAGE_CODES}
    # Then each has a code of ours, with OpenAI's name, and the table has no language Whisper lacks
    assert None not in codes.values()
    assert all(openai_name(code) for code in codes.values())
    assert set(codes.values()) == set(WHISPER_NAMES)


@pytest.mark.parametrize(
    ("code", "name"), [("en", "english"), ("jv", "javanese"), ("zu", None), (None, None)]
)
def test_a_code_is_named_as_openai_names_it(code: str | None, name: str | None) -> None:
    # Given a code / When OpenAI's name is looked up / Then it is Whisper's lower-case name, None when unknown
    assert openai_name(code) == name


def test_a_code_is_given_to_whisper_in_its_own_spelling() -> None:
    # Given codes asked for / When turned into Whisper's / Then only Javanese differs
    assert (whisper_code("jv"), whisper_code("en"), whisper_code("yue")) == ("jw", "en", "yue")


def test_the_language_heard_longest_names_a_recording_of_many_pieces() -> None:
    # Given pieces of a recording: a short English one first, then longer French ones, one that named none
    heard = [("en", 300.0), ("fr", 200.0), (None, 900.0), ("fr", 200.0)]
    # When the recording's language is chosen / Then it is the one heard longest, not the first
    assert most_heard(heard) == "fr"


def test_a_tie_goes_to_the_language_heard_first_and_none_named_is_none() -> None:
    # Given two languages heard as long as each other / When chosen / Then the first heard
    assert most_heard([("de", 10.0), ("en", 5.0), ("en", 5.0)]) == "de"
    # And pieces that named no language give none
    assert most_heard([(None, 10.0)]) is None and most_heard([]) is None
