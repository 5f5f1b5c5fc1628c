"""The languages a transcript is heard in, named one way inside and on /api (ISO-639-1 codes, "en") and OpenAI's way
on /v1 (Whisper's lower-case English names, "english", as OpenAI's verbose_json gives them).

The table is Whisper's own (its tokenizer's 100 languages, which faster-whisper and OpenAI's whisper-1 share), with
its three codes that are not ISO-639-1 put right: Javanese is "jv" (Whisper writes "jw"); Hawaiian ("haw", ISO 639-2)
and Cantonese ("yue", ISO 639-3) have no two-letter code, so they keep Whisper's. Kept here rather than in a library:
it is a hundred pairs, and the names must be exactly OpenAI's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

# ISO code -> Whisper's name, in Whisper's order.
WHISPER_NAMES: Final[dict[str, str]] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan",
    "tl": "tagalog", "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala",
    "ha": "hausa", "ba": "bashkir", "jv": "javanese", "su": "sundanese", "yue": "cantonese",
}  # fmt: skip
# Whisper's codes that are not ours.
_WHISPER_CODES: Final = {"jv": "jw"}
# Any way an engine may name a language (our code, Whisper's code, Whisper's name, its aliases) -> our code.
_CODES: Final[dict[str, str]] = {
    **{name: code for code, name in WHISPER_NAMES.items()},
    **{whisper: code for code, whisper in _WHISPER_CODES.items()},
    **{code: code for code in WHISPER_NAMES},
    # Whisper's tokenizer takes these names too.
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht", "letzeburgesch": "lb",
    "pushto": "ps", "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si",
    "castilian": "es", "mandarin": "zh",
}  # fmt: skip


def iso_code(named: str | None) -> str | None:
    """The code of a language as an engine names it ("english", "en", Whisper's "jw"); None for a name not known."""
    if not named:
        return None
    return _CODES.get(named.strip().lower())


def openai_name(code: str | None) -> str | None:
    """The language as OpenAI's verbose_json names it ("english"); None when unknown."""
    return WHISPER_NAMES.get(code) if code else None


def whisper_code(code: str) -> str:
    """The code Whisper (faster-whisper) takes for one of ours: "jw" for "jv", else the same."""
    return _WHISPER_CODES.get(code, code)


def most_heard(heard: Iterable[tuple[str | None, float]]) -> str | None:
    """The language heard longest over a recording's pieces, given as (code, seconds) each (None: not known,
    not counted); a tie goes to the one heard first. None when no piece named one."""
    seconds: dict[str, float] = {}
    for code, length in heard:
        if code is not None:
            seconds[code] = seconds.get(code, 0.0) + max(length, 0.0)
    # max() keeps the first of equals, and a dict keeps the order in which codes were first heard.
    return max(seconds, key=lambda code: seconds[code]) if seconds else None
