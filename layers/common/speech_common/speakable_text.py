"""Text as a person would read it aloud: a chatbot's Markdown, links, e-mail addresses and emoji made speakable.

What is read (docs/api.md, "Text cleaned before it is read", is the contract):

- Markdown (CommonMark with GitHub's tables and strikethrough, read by markdown-it-py): emphasis, strikethrough and
  inline code as their words; a heading, a list item and a table row each end as a sentence; a bullet's marker is
  dropped, a numbered item keeps its number ("2. Stir."); a link as its text, an image as its alt text; a table row
  by row, the headings first ("Name, Age. Ann, 30."); block quotes as their text; code blocks
  (fenced) dropped, since code read aloud is noise; HTML tags dropped, the text between them kept. Indented code
  blocks are not Markdown here: a plain text's indented line is read as it is.
- A bare URL as its host ("https://www.example.com/a/b?c=d" -> "example.com"); an e-mail address spelt as it is said
  ("jane.doe@example.com" -> "jane dot doe at example dot com").
- Emoji dropped: what Unicode presents as an emoji (its Emoji_Presentation property, a pictograph asked to be one
  with U+FE0F, keycaps, flags, skin tones, ZWJ sequences, pictographs not yet assigned); a symbol shown as text
  (©, ™, ♥, ★) is kept.
- Whitespace folded: runs of spaces to one, each line trimmed, blank lines dropped; line breaks are kept (a pause).

Plain text comes out as it went in, whitespace folded: Markdown is parsed only when a character it could read as
markup is there (`may_hold_markdown`), which also keeps a plain text's request from loading the parser; `regex` (for
Unicode's emoji properties) is loaded only for a text with a character an emoji needs (`may_hold_emoji`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Final, Protocol

from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.vocabulary import speakable

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    class _HtmlReader(Protocol):
        parts: list[str]

        def feed(self, data: str) -> None: ...
        def close(self) -> None: ...


# A character Markdown may read as markup anywhere in a line, or a block's marker at a line's start (a heading, a list,
# a block quote, a setext underline, a thematic break). Without one, the parser would give the text back as it is.
_MAY_BE_MARKUP: Final = re.compile(r"[*_`\[\]<|~\\&]|^[ \t]*(?:[-+#=>]|\d{1,9}[.)])", re.MULTILINE)
# What the text chunker (text_chunks.py) cuts after: a heading, an item or a row that ends otherwise gets a period.
_SENTENCE_ENDS: Final = frozenset(".!?;:…。！？")
_URL: Final = re.compile(r"(?<![\w@/.-])(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
# Left out of a URL when it ends one: the sentence's punctuation, not the address's.
_TRAILING: Final = ".,;:!?'\"*_"
_CLOSING: Final = {")": "(", "]": "[", "}": "{"}
_EMAIL: Final = re.compile(
    r"(?<![\w.+%-])(?:mailto:)?(?P<local>[\w.+%-]+)@(?P<domain>[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)+)"
    r"(?![\w-])",
    re.IGNORECASE,
)
# Every emoji sequence holds a character from here up: U+20E3 (a keycap's); an emoji presented as such, U+FE0F,
# a skin tone, a flag's or a tag's characters are all above it. Below it: Latin, Greek, Cyrillic, Arabic, Hebrew,
# Indic scripts, typographic quotes and dashes, the euro sign; a text of those does not load regex.
EMOJI_FLOOR: Final = "\u20e3"
# An emoji: one presented as such, a pictograph asked to be one (U+FE0F) or with a skin tone, a keycap, a flag, or
# a pictograph not assigned yet; then its components (skin tones, U+FE0F, tags) and any ZWJ-joined pictographs.
_EMOJI_COMPONENT: Final = r"[\p{Emoji_Component}--\p{ASCII}]"
_EMOJI: Final = (
    r"(?:[\p{Emoji_Presentation}[\p{Extended_Pictographic}&&\p{Cn}]]"
    r"|\p{Extended_Pictographic}(?=\uFE0F)|\p{Emoji_Modifier_Base}(?=\p{Emoji_Modifier})"
    r"|[#*0-9]\uFE0F?\u20E3|\p{Regional_Indicator})"
    rf"{_EMOJI_COMPONENT}*(?:\u200D\p{{Extended_Pictographic}}{_EMOJI_COMPONENT}*)*"
)


def speakable_text(text: str) -> str:
    """`text` as it is read aloud (this module's docstring says how); "" when nothing in it is to be read."""
    if may_hold_markdown(text):
        text = read_markdown(text)
    text = _speakable_addresses(text)
    if may_hold_emoji(text):
        text = _without_emoji(text)
    return folded(text)


def text_to_read(text: str, *, clean: bool, field: str) -> str:
    """What the engines read of a request's `field`: `text` cleaned (speakable_text), or as written when `clean` is
    false. 400 empty_field when cleaning leaves nothing to read: nothing is sent upstream, nothing is charged."""
    if not clean:
        return text
    cleaned = speakable_text(text)
    try:  # the doors' own test of a text with something to say (zero-width characters alone have not)
        speakable(cleaned)
    except ValueError:
        raise InvalidRequest(
            f"{field}: nothing is left to read once the text is cleaned (it holds only emoji, code blocks or markup); "
            "send clean_text false to have it read as written",
            code=ErrorCode.EMPTY_FIELD,
            param=field,
        ) from None
    return cleaned


def may_hold_markdown(text: str) -> bool:
    """Whether Markdown could read anything in `text` as markup (if not, parsing it would change nothing)."""
    return _MAY_BE_MARKUP.search(text) is not None


def may_hold_emoji(text: str) -> bool:
    """Whether `text` has a character an emoji sequence needs (if not, it holds no emoji)."""
    return bool(text) and max(text) >= EMOJI_FLOOR


def folded(text: str) -> str:
    """Runs of whitespace as one space, each line trimmed, blank lines dropped."""
    return "\n".join(words for line in text.splitlines() if (words := " ".join(line.split())))


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # here: a plain text does not load the parser

    # Indented code blocks off: in a chatbot's answer code is fenced, and a plain text's indented line is prose.
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).disable("code")


def read_markdown(text: str) -> str:
    """The Markdown's blocks as lines of plain words, in order (what speakable_text reads of a text that may hold
    markup: whitespace not yet folded, addresses and emoji not yet made speakable)."""
    return "\n".join(_Reader(_parser().parse(text)).lines())


class _Reader:
    """Walks markdown-it's block tokens, reading each block into lines."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = tokens
        self._lines: list[str] = []
        # Per list item being read (innermost last): its marker to say ("2." for a numbered item, "" for a bullet)
        # until its first block has taken it, then None.
        self._items: list[str | None] = []
        self._rows: list[list[str]] = []  # the cells of the table being read, row by row

    def lines(self) -> list[str]:
        for index, token in enumerate(self._tokens):
            self._read(token, self._tokens[index - 1] if index else None)
        return self._lines

    def _read(self, token: Token, before: Token | None) -> None:
        kind = token.type
        if kind == "inline" and before is not None:
            self._read_inline(_inline_text(token.children or ()), before.type)
        elif kind == "list_item_open":
            self._items.append(f"{token.info}{token.markup}" if token.info else "")
        elif kind == "list_item_close":
            self._items.pop()
        elif kind == "tr_open":
            self._rows.append([])
        elif kind == "table_close":
            self._lines.extend(_table_lines(self._rows))
            self._rows = []
        elif kind == "html_block":
            self._lines.append(_html_text(token.content))
        # Anything else (code blocks, thematic breaks, the other blocks' open and close) says nothing.

    def _read_inline(self, words: str, block: str) -> None:
        if block in ("th_open", "td_open"):
            self._rows[-1].append(" ".join(words.split()))
        elif block == "heading_open":
            self._lines.append(_as_sentence(words))
        elif self._items and self._items[-1] is not None:
            marker, self._items[-1] = self._items[-1], None  # an item's first block: its later ones are plain
            self._lines.append(_as_sentence(f"{marker} {words}" if marker else words))
        else:
            self._lines.append(words)


def _table_lines(rows: list[list[str]]) -> list[str]:
    """A table row by row, its heading row first, each row a sentence of its cells ("Ann, 30."). Not each cell after
    its heading: that would say the headings once a row, and a text could grow many times over as it is cleaned."""
    return [_as_sentence(", ".join(cell for cell in row if cell)) for row in rows]


def _inline_text(children: Sequence[Token]) -> str:
    """An inline run's words: markup dropped, a link's text kept, an image's alt text, code as its text."""
    parts: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            parts.append(_inline_text(child.children or ()))
        elif kind == "html_inline":
            # A tag is dropped; a line break between words leaves their space.
            parts.append(" " if re.match(r"<br\b", child.content, re.IGNORECASE) else "")
    return "".join(parts)


def _as_sentence(words: str) -> str:
    words = words.rstrip()
    if not words or words[-1] in _SENTENCE_ENDS:
        return words
    return f"{words}."


def _html_text(html: str) -> str:
    """The text of an HTML block: tags and comments dropped, scripts' and styles' contents too."""
    parser = _html_reader()()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


@cache
def _html_reader() -> type[_HtmlReader]:
    from html.parser import HTMLParser  # here: a text without an HTML block does not load it

    class TextOfHtml(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self._skipping = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("script", "style"):
                self._skipping += 1
            # A tag parts words: most in an HTML block are blocks (<summary>, <p>, <li>).
            self.parts.append(" ")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("script", "style") and self._skipping:
                self._skipping -= 1
            self.parts.append(" ")

        def handle_data(self, data: str) -> None:
            if not self._skipping:
                self.parts.append(data)

    return TextOfHtml


def _speakable_addresses(text: str) -> str:
    return _EMAIL.sub(_spoken_email, _URL.sub(_url_host, text))


def _url_host(match: re.Match[str]) -> str:
    """A URL as its host, "www." left out; the sentence's punctuation after it kept. Not a URL: left as it is."""
    from urllib.parse import urlsplit

    url, tail = match.group(), ""
    while url and (
        url[-1] in _TRAILING or (url[-1] in _CLOSING and url.count(_CLOSING[url[-1]]) < url.count(url[-1]))
    ):
        url, tail = url[:-1], url[-1] + tail
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:  # a malformed address (an unclosed IPv6 bracket, a bad port): read as written
        return match.group()
    if not host:
        return match.group()
    return (host.removeprefix("www.") or host) + tail


def _spoken_email(match: re.Match[str]) -> str:
    local, domain = match.group("local"), match.group("domain")
    return f"{local.replace('.', ' dot ')} at {domain.replace('.', ' dot ')}"


@cache
def _emoji_run() -> re.Pattern[str]:
    import regex  # here: a text without emoji (may_hold_emoji) does not load it

    # Emoji with the spaces around them: replaced by one space, or by nothing at a line's edge or before punctuation.
    return regex.compile(rf"[^\S\n]*(?:{_EMOJI}[^\S\n]*)+", regex.V1)


def _without_emoji(text: str) -> str:
    def replaced(match: re.Match[str]) -> str:
        start, end = match.span()
        before = text[start - 1] if start else "\n"
        after = text[end] if end < len(text) else "\n"
        if "\n" in (before, after) or _closes(after):
            return ""
        return " "

    return _emoji_run().sub(replaced, text)


def _closes(char: str) -> bool:
    """Punctuation that ends what comes before it: a sentence's end, a comma, a closing bracket or quote."""
    return char in _SENTENCE_ENDS or char in ",、，" or unicodedata.category(char) in ("Pe", "Pf")
