"""How numbers, symbols and abbreviations are said: the tables of the verbatim check (verbatim.py).

Each maps what is written to the ways it is said, the usual one first. English, except for whole numbers,
which are also tried in NUMBER_LANGUAGES. A way of saying a thing missing here makes a faithful reading
fail the check (and be asked for again): add it here, with a test in tests/unit/test_verbatim.py.
"""

from __future__ import annotations

from typing import Final

# Whole numbers are also accepted in these languages (the engine is not told the text's language;
# they are tried only when English forms do not match); ordinals, times, cents and abbreviations
# are English.
NUMBER_LANGUAGES: Final = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs")
MONTHS: Final = frozenset(
    {
        *("january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
_MONTH_NAMES: Final = (
    *("january", "february", "march", "april", "may", "june"),
    *("july", "august", "september", "october", "november", "december"),
)
# Abbreviations read in full, wherever they are (after dotted initialisms lose their dots).
ABBREVIATIONS: Final[dict[str, tuple[str, ...]]] = {
    "dr": ("doctor", "drive"),
    "mr": ("mister",),
    "mrs": ("missus", "misses"),
    "ms": ("miss", "mizz"),
    "prof": ("professor",),
    "jr": ("junior",),
    "sr": ("senior",),
    "st": ("saint", "street"),
    "ave": ("avenue",),
    "rd": ("road",),
    "blvd": ("boulevard",),
    "mt": ("mount", "mountain"),
    "vs": ("versus",),
    "etc": ("etcetera", "et cetera"),
    "eg": ("for example",),
    "ie": ("that is",),
    "approx": ("approximately",),
    "dept": ("department",),
    "inc": ("incorporated",),
    "ltd": ("limited",),
    "ok": ("okay",),
    **{month[:3]: (month,) for month in _MONTH_NAMES if month != "may"},
    "sept": ("september",),
}
# Units and multipliers read in full after a number ("5 km", "10k").
UNITS: Final[dict[str, tuple[str, ...]]] = {
    "k": ("thousand",),
    "m": ("million", "meters", "metres", "meter", "metre"),
    "bn": ("billion",),
    "km": ("kilometers", "kilometres", "kilometer", "kilometre"),
    "cm": ("centimeters", "centimetres", "centimeter", "centimetre"),
    "mm": ("millimeters", "millimetres", "millimeter", "millimetre"),
    "kg": ("kilograms", "kilogram", "kilos", "kilo"),
    "g": ("grams", "gram"),
    "lb": ("pounds", "pound"),
    "lbs": ("pounds", "pound"),
    "oz": ("ounces", "ounce"),
    "ft": ("feet", "foot"),
    "mph": ("miles per hour",),
    "kph": ("kilometers per hour", "kilometres per hour"),
    "h": ("hours", "hour"),
    "hr": ("hours", "hour"),
    "hrs": ("hours",),
    "min": ("minutes", "minute"),
    "mins": ("minutes",),
    "sec": ("seconds", "second"),
    "ms": ("milliseconds", "millisecond"),
    "kb": ("kilobytes", "kilobyte"),
    "mb": ("megabytes", "megabyte"),
    "gb": ("gigabytes", "gigabyte"),
    "tb": ("terabytes", "terabyte"),
    "c": ("celsius", "centigrade"),
    "f": ("fahrenheit",),
    "usd": ("dollars", "dollar", "us dollars"),
    "eur": ("euros", "euro"),
    "gbp": ("pounds", "pound"),
}
# Abbreviations read in full before a number ("No. 5", "vol. 2").
BEFORE_NUMBERS: Final[dict[str, tuple[str, ...]]] = {
    "no": ("number",),
    "nr": ("number",),
    "vol": ("volume",),
    "ch": ("chapter",),
    "fig": ("figure",),
    "p": ("page",),
    "pp": ("pages",),
}
# Symbols said as words; only "/" may also go unsaid ("and/or"): "50%" read as "fifty" is not
# the text.
SYMBOLS: Final[dict[str, tuple[str, ...]]] = {
    "&": ("and",),
    "+": ("plus",),
    "@": ("at",),
    "%": ("percent",),
    "=": ("equals",),
    "#": ("number", "hash"),
    "/": ("", "slash", "per", "or"),
    "°": ("degrees", "degree"),
}
# A dash before a number: a minus sign or a range ("-5", "9-5", "1990-1995", with any dash).
DASHES: Final = frozenset("-‐‑‒–—−")
DASH_WORDS: Final = ("minus", "negative", "to")
# Currency symbol -> (unit names, hundredth names).
CURRENCIES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "$": (("dollars", "dollar"), ("cents", "cent")),
    "€": (("euros", "euro"), ("cents", "cent")),
    "£": (("pounds", "pound"), ("pence", "penny", "p")),
    "¥": (("yen",), ()),
}
MAGNITUDES: Final[dict[str, str]] = {
    "thousand": "thousand",
    "k": "thousand",
    "million": "million",
    "m": "million",
    "mn": "million",
    "billion": "billion",
    "bn": "billion",
    "trillion": "trillion",
}
