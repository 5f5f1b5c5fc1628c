"""The realtime engine's verbatim check: a transcript of speech against the text it was asked to read.

A transcript writes what was said in its own way ("20" as "twenty", "$5" as "five dollars"); those
are the same words. A rewording, a word more or less, or another number are not.
"""

from __future__ import annotations

import time

import pytest

from speech_common.engines.openai_realtime import verbatim
from speech_common.engines.openai_realtime.verbatim import same_words

# --- the same words, written differently -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # whole numbers, both ways
        ("It costs 20 dollars.", "It costs twenty dollars."),
        ("It costs twenty dollars.", "It costs 20 dollars."),
        ("There are 345 seats", "there are three hundred and forty-five seats"),
        ("There are 345 seats", "there are three hundred forty five seats"),
        ("1,000 people came", "one thousand people came"),
        ("1,000 people came", "1000 people came"),
        ("A hundred people came", "100 people came"),
        ("twenty-five", "25"),
        # years and numbers in pairs
        ("In 2024 we moved.", "In twenty twenty-four we moved."),
        ("In 2024 we moved.", "In two thousand and twenty-four we moved."),
        ("Born in 1999", "born in nineteen ninety-nine"),
        ("Built in 1905", "built in nineteen oh five"),
        ("the 1990s", "the nineteen nineties"),
        ("1500 metres", "fifteen hundred metres"),
        # decimals
        ("Pi is 3.14", "pi is three point one four"),
        ("Add 0.5 g of salt", "add point five grams of salt"),
        # money
        ("It costs $5.", "It costs five dollars."),
        ("It costs $5.50", "it costs five dollars and fifty cents"),
        ("It costs $5.50", "it costs five fifty"),
        ("Only $0.99!", "only ninety-nine cents"),
        ("A €20 note", "a twenty euro note"),
        ("It is 20 € each", "it is twenty euros each"),
        ("£5 a month", "five pounds a month"),
        ("They raised $5 million", "they raised five million dollars"),
        # times
        ("Meet me at 3:30 p.m.", "Meet me at three thirty PM."),
        ("Meet me at 3:05", "meet me at three oh five"),
        ("Meet me at 3:00", "meet me at three o'clock"),
        # percentages and other symbols
        ("Prices rose 50%.", "Prices rose fifty percent."),
        ("Prices rose 50 %", "prices rose fifty per cent"),
        ("Tom & Jerry", "Tom and Jerry"),
        ("1 + 1 = 2", "one plus one equals two"),
        ("Write to me@example.com", "write to me at example dot com"),
        ("It is -5 degrees", "it is minus five degrees"),
        ("It is 20°C", "it is twenty degrees celsius"),
        ("Open 9-5", "open nine to five"),
        ("yes and/or no", "yes and or no"),
        # ordinals
        ("the 1st day", "the first day"),
        ("the 21st century", "the twenty-first century"),
        ("On May 5 we leave", "on May fifth we leave"),
        # abbreviations and units
        ("Dr. Smith lives on Baker St.", "Doctor Smith lives on Baker Street"),
        ("Doctor Smith", "Dr. Smith"),
        ("Mr. and Mrs. Jones", "Mister and Missus Jones"),
        ("cats vs. dogs", "cats versus dogs"),
        ("fruit, e.g. apples", "fruit, for example apples"),
        ("a 5 km run", "a five kilometre run"),
        ("see No. 5", "see number five"),
        ("Call 555-1234", "call five five five one two three four"),
        # case, punctuation and spacing (as before)
        ("Hello, world!", "hello world"),
        ("A well-known fact.", "A well known fact"),
        ("The U.S. team", "the US team"),
        ("Dots...and   spaces", "dots and spaces"),
    ],
)
def test_the_same_words_written_differently_match(text: str, spoken: str) -> None:
    # Given a text and a transcript saying the same words in another way (digits, symbols, short forms)
    # When compared either way round / Then they match
    assert same_words(text, spoken)
    assert same_words(spoken, text)  # whichever side writes the digits


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Grüße aus Köln", "grüße aus köln"),
        ("¿Dónde está la estación?", "Dónde está la estación"),
        ("Привет, мир!", "привет мир"),
        ("東京へ行きます。", "東京へ行きます"),
        ("Er zahlte 20 Euro.", "Er zahlte 20 Euro."),
    ],
)
def test_text_in_other_languages_compares_as_before(text: str, spoken: str) -> None:
    # Given a non-English text and a transcript differing only in case and punctuation
    # When compared / Then they match
    assert same_words(text, spoken)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Er zahlte 20 Euro.", "Er zahlte zwanzig Euro."),
        ("Il a 20 ans.", "Il a vingt ans."),
        ("Tengo 3 gatos", "tengo tres gatos"),
    ],
)
def test_whole_numbers_may_be_said_in_the_texts_language(text: str, spoken: str) -> None:
    # Given a German, French or Spanish text with a digit, and a transcript saying it in that language
    # When compared / Then they match
    assert same_words(text, spoken)


# --- different words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # another number
        ("20", "thirty"),
        ("It costs 20 dollars", "It costs thirty dollars"),
        ("In 2024 we moved.", "In twenty twenty-five we moved."),
        ("Meet me at 3:30", "meet me at four thirty"),
        ("Prices rose 50%", "prices rose fifteen percent"),
        ("the 1st day", "the second day"),
        ("Er zahlte 20 Euro.", "Er zahlte dreißig Euro."),
        # another unit, or a word left out
        ("It costs $5", "It costs five euros"),
        ("It costs $5", "It costs five"),
        ("Prices rose 50%", "prices rose fifty"),
        ("Dr. Smith", "Mister Smith"),
        # rewording, chatter, answering
        ("Read this", "Sure! Read this"),
        ("Hello, world!", "Hello, world! How can I help you today?"),
        ("The quick brown fox.", "Sure! Here is your text: The quick brown fox."),
        ("What is 2 + 2?", "Four."),
        ("What is 2 + 2?", "2 + 2 is 4."),
        ("It costs 20 dollars.", "The price is 20 dollars."),
        # a word dropped, added or moved
        ("The quick brown fox jumps.", "The quick fox jumps."),
        ("The quick brown fox jumps.", "The quick brown fox jumps high."),
        ("one two", "two one"),
    ],
)
def test_different_words_do_not_match(text: str, spoken: str) -> None:
    # Given a transcript with another number or unit, a rewording, or a word dropped, added or moved
    # When compared either way round / Then they do not match
    assert not same_words(text, spoken)
    assert not same_words(spoken, text)


# --- the usual reading -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("It costs $5 & 20%.", "it costs five dollars and twenty percent"),
        ("Dr. Who at 3:30, the 1st!", "doctor who at three thirty the first"),
        ("Grüße aus Köln", "grüsse aus köln"),  # casefolded, as before
        ("", ""),
    ],
)
def test_the_usual_reading_spells_numbers_and_symbols_in_english(text: str, words: str) -> None:
    # Given a text with numbers and symbols / When read the usual way / Then they are said in English
    assert usual_reading(text) == words


def usual_reading(text: str) -> str:
    """The text as words, lowercase, numbers and symbols said in English: the first form of each segment."""
    return verbatim._usual_reading(verbatim._segments(text))


# --- bounds ------------------------------------------------------------------------------------


def test_long_runs_of_digits_compare_without_failing() -> None:
    # Given digit runs longer than int() accepts (4,300 digits)
    digits = "9" * 5000

    # When such runs are compared: with themselves, spelled digit by digit, or with a digit fewer
    # Then they compare as digits or digit by digit, and never raise
    assert same_words(f"code {digits}", f"code {digits}")
    assert same_words(
        "code 12345678901234567",
        "code one two three four five six seven eight nine zero one two three four five six seven",
    )
    assert not same_words(f"code {digits}", f"code {digits[:-1]}")


@pytest.mark.parametrize(
    "text",
    [
        " ".join(
            f"Item {n} costs ${n}.{n % 100:02d} at {n % 12 + 1}:{n % 60:02d} & 50% off." for n in range(60)
        ),
        " - ".join(str(n) for n in range(700)),
        "/".join("ab" for _ in range(1300)),
        "1 " * 2000,
    ],
    ids=["numbers", "dashes", "slashes", "ones"],
)
def test_comparison_of_a_long_text_stays_fast(text: str) -> None:
    # Given a long text full of numbers or optional symbols, against a transcript with one more word
    started = time.monotonic()

    # When compared
    verdict = same_words(text[:4096], text[:4096] + " anything")

    # Then it is refused, in well under the time a response takes
    assert verdict is False
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("OK, let's go.", "Okay, let's go."),
        ("Due Jan 5th.", "Due January fifth."),
        ("Sept 1", "September first"),
    ],
)
def test_common_short_forms_match(text: str, spoken: str) -> None:
    # Given a text with "OK" or a short month name and a transcript with the long form
    # When compared either way round / Then they match
    assert same_words(text, spoken) and same_words(spoken, text)
