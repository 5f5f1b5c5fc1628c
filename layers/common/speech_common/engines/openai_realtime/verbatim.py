"""Does a transcript say the text? The realtime engine's verbatim check.

A transcript of speech writes what was said in its own way: "20" comes back as "twenty" (or
"twenty" as "20"), "$5" as "five dollars", "3:30" as "three thirty", "1st" as "first", "Dr." as
"doctor", "&" as "and". Both texts are cut into segments; a number, a symbol or a known
abbreviation has several spoken forms (its written letters among them), any other word only its
letters. The texts say the same words when some choice of forms on each side spells the same
letters (spaces ignored, so "well-known" is "well known"). There is no fuzzy tolerance on top:
every accepted difference is a listed way of saying the same thing, so a different number
("20" and "thirty"), a word more or less, or another word still fails. Whatever matched letter
for letter before (case, punctuation and spacing ignored) still matches, in any language.
"""

from __future__ import annotations

import re
import unicodedata
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from speech_common.engines.openai_realtime.spoken_forms import (
    ABBREVIATIONS,
    BEFORE_NUMBERS,
    CURRENCIES,
    DASH_WORDS,
    DASHES,
    MAGNITUDES,
    MONTHS,
    NUMBER_LANGUAGES,
    SYMBOLS,
    UNITS,
)

# Longer runs of digits are read digit by digit only (nobody says a 16-digit number as one; int()
# refuses over 4,300 digits).
_MAX_DIGITS: Final = 15
# Bounds the comparison's work (a 1,000-character chunk with numbers visits a few hundred states).
_MAX_READING_STATES: Final = 100_000
_INTEGER: Final = rf"(?<![\d,])\d{{1,3}}(?:,\d{{3}}){{1,4}}(?![\d,])|\d{{1,{_MAX_DIGITS}}}(?!\d)"
_AMOUNT: Final = rf"(?:{_INTEGER})(?:\.\d+)?"
_NOT_LETTER_AFTER: Final = r"(?![^\W\d_])"
_SEGMENT: Final = re.compile(
    rf"""
      (?P<currency>[$€£¥])\s?(?P<amount>{_AMOUNT})
          (?:\s?(?P<magnitude>thousand|million|billion|trillion|bn|mn|k|m){_NOT_LETTER_AFTER})?
    | (?P<amount_before>{_AMOUNT})\s?(?P<currency_after>[$€£¥])
    | (?P<hour>\d{{1,2}}):(?P<minute>[0-5]\d)(?!\d)
    | (?P<ordinal>\d{{1,{_MAX_DIGITS}}})(?:st|nd|rd|th){_NOT_LETTER_AFTER}
    | (?P<decade>\d{{1,{_MAX_DIGITS}}})s{_NOT_LETTER_AFTER}
    | (?P<whole>{_INTEGER})\.(?P<fraction>\d{{1,{_MAX_DIGITS}}})
    | (?P<integer>{_INTEGER})
    | (?P<digits>\d+)
    | (?P<word>[^\W\d_]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_DIGIT_AHEAD: Final = re.compile(r" ?\d")
# "e.g.", "a.m.", "U.S." -> "eg", "am", "us": single letters joined by dots.
_INITIALISM: Final = re.compile(r"(?<![^\W\d_.])[^\W\d_](?:\.[^\W\d_])+(?![^\W\d_])\.?")


def _letters(text: str) -> str:
    """Lowercase words without punctuation, single-spaced."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _forms(*forms: str) -> tuple[str, ...]:
    """Distinct normalised forms, first seen first."""
    return tuple(dict.fromkeys(_letters(form) for form in forms))


@dataclass(frozen=True)
class _Segment:
    forms: tuple[str, ...]  # the first is how it is said in English (or simply its letters)
    number: int | None = None  # a plain whole number
    numeric: bool = False  # a number a unit may follow ("5 km", "0.5 g")
    word: str | None = None


def _num2words(number: int, **options: str) -> str:
    from num2words import num2words  # only texts with digits need it

    return str(num2words(number, **options))


def _english_variants(spoken: str) -> list[str]:
    """Also without "and" and with "a" for "one": "one hundred five", "a hundred and five"."""
    variants = [spoken, spoken.replace(" and ", " ")]
    variants += [
        "a " + variant.removeprefix("one ")
        for variant in variants
        if variant.startswith(("one hundred", "one thousand", "one million", "one billion"))
    ]
    return variants


@lru_cache(maxsize=4096)  # bounded: numbers come from requests
def _english_cardinals(number: int) -> tuple[str, ...]:
    """English ways to say a whole number, the usual one first."""
    forms = _english_variants(_letters(_num2words(number)))
    high, low = divmod(number, 100)
    if 1000 <= number <= 9999 and (high % 10 or low):
        # In pairs, like years and prices: "nineteen ninety-nine", "nineteen oh five", "fifteen hundred".
        head = _letters(_num2words(high))
        tail = "hundred" if low == 0 else _letters(_num2words(low))
        forms.append(f"{head} {tail}" if low >= 10 or low == 0 else f"{head} oh {tail}")
        if low:
            forms += _english_variants(f"{head} hundred and {tail}")
    return _forms(*forms)


@lru_cache(maxsize=4096)
def _cardinals(number: int, every_language: bool) -> tuple[str, ...]:
    """A whole number said in English, then (if asked) in the other languages that are tried."""
    forms = list(_english_cardinals(number))
    if every_language:
        for lang in NUMBER_LANGUAGES[1:]:
            # A language's converter failing on a number must not fail the request.
            with suppress(Exception):
                forms.append(_num2words(number, lang=lang))
    return _forms(*forms)


def _digit_by_digit(digits: str) -> tuple[str, ...]:
    names = [_letters(_num2words(int(digit))) for digit in digits]
    return _forms(" ".join(names), " ".join("oh" if digit == "zero" else digit for digit in names))


def _integer_forms(written: str, every_language: bool) -> tuple[str, ...]:
    digits = written.replace(",", "")
    forms = [*_cardinals(int(digits), every_language), digits]
    if len(digits) >= 3 or digits.startswith("0"):  # phone numbers, codes, "007"
        forms += _digit_by_digit(digits)
    return _forms(*forms)


def _decimal_forms(whole: str, fraction: str, every_language: bool = False) -> tuple[str, ...]:
    """A decimal, digit by digit after the point: 3.14 is "three point one four", 0.5 "point five"."""
    number = int(whole.replace(",", ""))
    heads = list(_cardinals(number, every_language))
    if number == 0:
        heads += ["", "oh", "nought"]
    tails = _digit_by_digit(fraction)
    return _forms(*(f"{head} point {tail}" for head in heads for tail in tails))


def _amount_forms(currency: str, amount: str, magnitude: str | None, every_language: bool) -> tuple[str, ...]:
    """An amount of money: $5 is "five dollars", $5.50 "five dollars and fifty cents" or "five fifty"."""
    units, hundredths = CURRENCIES[currency]
    scale = f" {MAGNITUDES[magnitude]}" if magnitude else ""
    whole, _, fraction = amount.partition(".")
    number = int(whole.replace(",", ""))
    if fraction.strip("0") == "" or magnitude:
        if fraction.strip("0") == "":
            heads = _cardinals(number, every_language)
        else:
            heads = _decimal_forms(whole, fraction)
        return _forms(*(f"{head}{scale} {unit}" for head in heads for unit in units))
    decimals = _decimal_forms(whole, fraction)
    forms = [f"{head} {unit}" for head in decimals for unit in units]
    if len(fraction) == 2:
        cents = _english_cardinals(int(fraction))
        if number == 0:
            forms += [f"{cent} {name}" for cent in cents for name in hundredths]
        for head in _english_cardinals(number):
            for cent in cents:
                forms.append(f"{head} {cent}")
                for unit in units:
                    forms += [f"{head} {unit} {cent}", f"{head} {unit} and {cent}"]
                    forms += [
                        f"{head} {unit} {link}{cent} {name}" for link in ("", "and ") for name in hundredths
                    ]
    return _forms(*forms)


def _time_forms(hour: str, minute: str) -> tuple[str, ...]:
    """A time of day: 3:30 is "three thirty", 3:05 "three oh five", 3:00 "three o'clock"."""
    minutes = int(minute)
    if minutes == 0:
        tails: tuple[str, ...] = ("o'clock", "", "hundred", "hundred hours")
    elif minutes < 10:
        name = _letters(_num2words(minutes))
        tails = (f"oh {name}", f"zero {name}")
    else:
        tails = _english_cardinals(minutes)
    return _forms(*(f"{head} {tail}" for head in _english_cardinals(int(hour)) for tail in tails))


def _ordinal_forms(number: int) -> tuple[str, ...]:
    return _forms(*_english_variants(_letters(_num2words(number, to="ordinal"))))


def _plural(spoken: str) -> str:
    """The plural of a number's last word: "nineteen ninety" -> "nineteen nineties" (the 1990s)."""
    if spoken.endswith("y"):
        return spoken[:-1] + "ies"
    return spoken + ("es" if spoken.endswith(("x", "s")) else "s")


def _segments(text: str, every_language: bool = False) -> list[_Segment]:
    folded = _INITIALISM.sub(lambda match: match.group().replace(".", ""), _folded(text))
    segments: list[_Segment] = []
    for match in _SEGMENT.finditer(folded):
        value = match.group()
        raw = _letters(value)
        if match["word"]:
            segments.append(_Segment(_forms(*ABBREVIATIONS.get(value, ()), raw), word=value))
        elif match["integer"]:
            number = int(value.replace(",", ""))
            segments.append(_Segment(_integer_forms(value, every_language), number=number, numeric=True))
        elif match["digits"]:
            segments.append(_Segment(_forms(*_digit_by_digit(value), raw), numeric=True))
        elif match["whole"]:
            forms = _decimal_forms(match["whole"], match["fraction"], every_language)
            segments.append(_Segment(_forms(*forms, raw), numeric=True))
        elif match["currency"]:
            forms = _amount_forms(match["currency"], match["amount"], match["magnitude"], every_language)
            segments.append(_Segment(_forms(*forms, raw)))
        elif match["currency_after"]:
            forms = _amount_forms(match["currency_after"], match["amount_before"], None, every_language)
            segments.append(_Segment(_forms(*forms, raw)))
        elif match["hour"]:
            segments.append(_Segment(_forms(*_time_forms(match["hour"], match["minute"]), raw)))
        elif match["ordinal"]:
            segments.append(_Segment(_forms(*_ordinal_forms(int(match["ordinal"])), raw)))
        elif match["decade"]:  # "the 1990s", or "30s" (seconds)
            cardinals = _english_cardinals(int(match["decade"]))
            seconds = [f"{form} {unit}" for form in cardinals for unit in ("seconds", "second")]
            segments.append(_Segment(_forms(*map(_plural, cardinals), *seconds, raw)))
        elif value in SYMBOLS:  # "20°C": a unit may follow a degree sign
            segments.append(_Segment(_forms(*SYMBOLS[value]), numeric=value == "°"))
        elif value in DASHES and _DIGIT_AHEAD.match(folded, match.end()):
            segments.append(_Segment(_forms("", *DASH_WORDS)))
        elif (
            value == "."
            and folded[match.start() - 1 : match.start()].isalnum()
            and folded[match.end() : match.end() + 1].isalnum()
        ):
            # "example.com": a dot inside a name may be said ("the 2.5" is a decimal, matched above).
            segments.append(_Segment(_forms("", "dot")))
        elif raw:  # a letter or digit of no other kind
            segments.append(_Segment((raw,)))
    return _in_context(segments)


def _in_context(segments: list[_Segment]) -> list[_Segment]:
    """Forms that depend on the neighbours: "5 km" (a unit), "No. 5", "May 5" (also "May fifth")."""
    words = [segment.word for segment in segments]
    result = []
    for index, segment in enumerate(segments):
        before = segments[index - 1] if index else None
        after = segments[index + 1] if index + 1 < len(segments) else None
        if segment.word in UNITS and before is not None and before.numeric:
            segment = _Segment(_forms(*segment.forms, *UNITS[segment.word]), word=segment.word)
        elif segment.word in BEFORE_NUMBERS and after is not None and after.numeric:
            segment = _Segment(_forms(*segment.forms, *BEFORE_NUMBERS[segment.word]), word=segment.word)
        elif segment.number is not None and 1 <= segment.number <= 31:
            around = {
                words[index - 1] if index else None,
                words[index + 1] if index + 1 < len(words) else None,
            }
            if around & MONTHS:
                forms = segment.forms + _ordinal_forms(segment.number)
                segment = _Segment(forms, number=segment.number, numeric=True)
        result.append(segment)
    return result


def _usual_reading(segments: list[_Segment]) -> str:
    return " ".join(filter(None, (segment.forms[0] for segment in segments)))


def _spellings(segments: list[_Segment]) -> list[tuple[str, ...]]:
    """Each segment's forms without spaces; runs of plain text (a single form) joined into one."""
    spellings: list[tuple[str, ...]] = []
    for segment in segments:
        forms = tuple(dict.fromkeys(form.replace(" ", "") for form in segment.forms))
        if len(forms) == 1 and spellings and len(spellings[-1]) == 1:
            spellings[-1] = (spellings[-1][0] + forms[0],)
        else:
            spellings.append(forms)
    return spellings


def _spelled_alike(first: list[tuple[str, ...]], second: list[tuple[str, ...]]) -> bool | None:
    """Whether one form of each segment, in order, spells the same letters on both sides.

    A search over states (i, j, ahead, form, offset): segments first[:i] and second[:j] are read,
    and the side `ahead` (0: neither, 1: first, 2: second) has read the letters of its last
    segment's `form` only up to `offset` on the other side. Readings that meet in a state are
    explored once, so the work grows with the text, not with the number of readings.
    None: more states than _MAX_READING_STATES (a pathological text).
    """
    sides = (first, second)
    seen: set[tuple[int, int, int, int, int]] = set()
    stack = [(0, 0, 0, 0, 0)]
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        if len(seen) > _MAX_READING_STATES:
            return None
        i, j, ahead, form, offset = state
        if ahead == 0:
            if i == len(first) and j == len(second):
                return True
            # The first side reads its next segment; the second may say nothing for its next one.
            if i < len(first):
                for choice, letters in enumerate(first[i]):
                    stack.append((i + 1, j, 1, choice, 0) if letters else (i + 1, j, 0, 0, 0))
            if j < len(second) and "" in second[j]:
                stack.append((i, j + 1, 0, 0, 0))
            continue
        # The side behind reads its next segment against the letters the other has left over.
        behind = 2 if ahead == 1 else 1
        position = j if behind == 2 else i
        if position == len(sides[behind - 1]):
            continue
        pending = sides[ahead - 1][(i if ahead == 1 else j) - 1][form]
        left = len(pending) - offset
        for choice, letters in enumerate(sides[behind - 1][position]):
            after = (i, j + 1) if behind == 2 else (i + 1, j)
            if len(letters) <= left:
                if pending.startswith(letters, offset):
                    stack.append(
                        (*after, ahead, form, offset + len(letters))
                        if len(letters) < left
                        else (*after, 0, 0, 0)
                    )
            elif letters.startswith(pending[offset:]):
                stack.append((*after, behind, choice, left))
    return False


def same_words(expected: str, spoken: str) -> bool:
    """Whether a transcript says the text: compared without case, punctuation or spacing, with
    numbers, symbols and common abbreviations in any of their usual spoken or written forms.

    Spacing is ignored too, so "well-known" read as "well known" (or "U.S." as "US") still matches.
    """
    if _letters(_folded(expected)).replace(" ", "") == _letters(_folded(spoken)).replace(" ", ""):
        return True  # letter for letter, the cheap and usual case
    with_digits = any(ch.isdecimal() for ch in expected + spoken)
    for every_language in (False, True) if with_digits else (False,):
        first, second = _segments(expected, every_language), _segments(spoken, every_language)
        verdict = _spelled_alike(_spellings(first), _spellings(second))
        if verdict is None:  # a pathological text: its usual reading only
            verdict = _usual_reading(first) == _usual_reading(second)
        if verdict:
            return True
    return False
