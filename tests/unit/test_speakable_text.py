"""Text cleaned before it is read (speakable_text.py): chatbot answers as a person reads them; plain text untouched."""

from __future__ import annotations

import json

import pytest
import regex

from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest
from speech_common.speakable_text import (
    _EMOJI,
    EMOJI_FLOOR,
    may_hold_emoji,
    may_hold_markdown,
    read_markdown,
    speakable_text,
    text_to_read,
)
from tests.helpers import fresh_python

# -- chatbot answers, as chat assistants write them ----------------------------------------------------------------

HOW_TO = """## How to make cold brew ☕

Cold brew is **smooth** and _less acidic_ than hot coffee.

### You'll need
- 1 cup of coarsely ground coffee
- 4 cups of water
- A jar 🫙

### Steps
1. Combine the coffee and water.
2. Steep for **12–24 hours** in the fridge.
3. Strain through a filter

> **Tip:** dilute it 1:1 with milk.

---

Enjoy! 😊
"""

CODE = """Here's a Python function that reverses a string:

```python
def reverse(s):
    return s[::-1]
```

Call it as `reverse("hello")`, which returns `"olleh"`. See the [slicing docs](https://docs.python.org/3/library/stdtypes.html#common-sequence-operations) for more.
"""

TABLE = """Here is how the plans compare:

| Plan | Price | Characters |
|------|------:|-----------:|
| Free | $0 | 10,000 |
| *Pro* | $20 | 1,000,000 |

**Note**: prices are per month.
"""

NESTED = """Here are the options:

* **Option A** — fast
  * uses more memory
  * needs Python 3.13 or later
* **Option B** — slow but ~~expensive~~ cheap
"""

ADDRESSES = """Contact us at support@example.com or visit https://www.example.com/help?topic=billing.
The docs live at <https://docs.example.org/v2/>, and ![a diagram of the flow](https://example.com/flow.png) shows it.
Questions? Write to <jane.doe@example.co.uk> 👍🏽"""

HTML = """<details>
<summary>Details</summary>
Nothing <b>more</b> here.
</details>

Line one<br>line two <!-- a note --> and <kbd>Ctrl</kbd>+<kbd>C</kbd>."""


@pytest.mark.parametrize(
    ("answer", "read"),
    [
        (
            HOW_TO,
            "How to make cold brew.\nCold brew is smooth and less acidic than hot coffee.\nYou'll need.\n"
            "1 cup of coarsely ground coffee.\n4 cups of water.\nA jar.\nSteps.\n"
            "1. Combine the coffee and water.\n2. Steep for 12–24 hours in the fridge.\n3. Strain through a filter.\n"
            "Tip: dilute it 1:1 with milk.\nEnjoy!",
        ),
        (
            CODE,
            "Here's a Python function that reverses a string:\n"
            'Call it as reverse("hello"), which returns "olleh". See the slicing docs for more.',
        ),
        (
            TABLE,
            "Here is how the plans compare:\nPlan, Price, Characters.\nFree, $0, 10,000.\nPro, $20, 1,000,000.\n"
            "Note: prices are per month.",
        ),
        (
            NESTED,
            "Here are the options:\nOption A — fast.\nuses more memory.\nneeds Python 3.13 or later.\n"
            "Option B — slow but expensive cheap.",
        ),
        (
            ADDRESSES,
            "Contact us at support at example dot com or visit example.com.\n"
            "The docs live at docs.example.org, and a diagram of the flow shows it.\n"
            "Questions? Write to jane dot doe at example dot co dot uk",
        ),
        (HTML, "Details\nNothing more here.\nLine one line two and Ctrl+C."),
    ],
    ids=["how-to", "code", "table", "nested-list", "addresses", "html"],
)
def test_a_chatbot_answer_is_read_as_a_person_would_read_it(answer: str, read: str) -> None:
    # Given a chat assistant's answer in Markdown / When it is cleaned
    cleaned = speakable_text(answer)
    # Then markup, code blocks, link targets and emoji are gone, and each heading, item and row ends as a sentence
    assert cleaned == read


def test_a_heading_ending_in_its_own_punctuation_gets_no_second_one() -> None:
    # Given headings that end in a question mark, a colon and a full stop (ATX and setext)
    text = "# Why?\n\n## Step one:\n\nDone.\n===\n\nText"
    # When cleaned / Then each keeps its own end, and a setext heading is one too
    assert speakable_text(text) == "Why?\nStep one:\nDone.\nText"


def test_a_link_whose_text_is_its_url_is_read_as_its_host() -> None:
    # Given a link written with its URL as its text, and one inside parentheses / When cleaned
    cleaned = speakable_text(
        "[https://example.com/a/b](https://example.com/a/b) (see https://en.wikipedia.org/wiki/Python_(language))"
    )
    # Then both are their host, the closing parenthesis of the sentence kept
    assert cleaned == "example.com (see en.wikipedia.org)"


def test_numbered_items_keep_their_number_as_written() -> None:
    # Given a list that starts at 3 and one numbered with parentheses / When cleaned
    cleaned = speakable_text("3. Three\n4. Four\n\n* * *\n\n1) One\n2) Two")
    # Then each item says its number before it (the thematic break between says nothing)
    assert cleaned == "3. Three.\n4. Four.\n1) One.\n2) Two."


def test_an_items_later_paragraphs_are_plain() -> None:
    # Given a loose list item with two paragraphs / When cleaned
    cleaned = speakable_text("1. First step\n\n   More about it\n2. Second step")
    # Then the first paragraph says the number and ends as a sentence; the second is read as written
    assert cleaned == "1. First step.\nMore about it\n2. Second step."


def test_a_table_of_headings_alone_is_read_as_one_row() -> None:
    # Given a table without body rows / When cleaned / Then its headings are one sentence
    assert speakable_text("| Name | Age |\n|---|---|") == "Name, Age."


def test_a_table_does_not_grow_as_it_is_cleaned() -> None:
    # Given a table with a long heading and many short rows (the most a heading repeated a row would multiply)
    text = "| " + "a" * 2000 + " |\n|---|\n" + "| x |\n" * 400
    # When cleaned
    cleaned = speakable_text(text)
    # Then the heading is said once and the text is shorter than it was
    assert cleaned.count("a" * 2000) == 1
    assert len(cleaned) < len(text)


# -- emoji -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("Great job 🎉!", "Great job!"),
        ("👍🏽 Thanks", "Thanks"),
        ("Family 👨‍👩‍👧 time", "Family time"),
        ("Bonjour 🇫🇷 Paris", "Bonjour Paris"),
        ("Scotland 🏴󠁧󠁢󠁳󠁣󠁴󠁿 wins", "Scotland wins"),
        ("I ❤️ NY", "I NY"),
        ("1️⃣ First\n2️⃣ Second", "First\nSecond"),
        ("Done ✅, next ⚠️ careful", "Done, next careful"),
        ("今日は楽しかった🎉明日も", "今日は楽しかった 明日も"),
        ("a ☝🏽 point", "a point"),
        ("a future \U0001faff emoji", "a future emoji"),
        ("Press 1\u20e3 now", "Press now"),
    ],
)
def test_emoji_are_dropped_with_their_sequences(text: str, read: str) -> None:
    # Given text with emoji: presented as such, asked for with U+FE0F, skin tones, ZWJ families, flags, keycaps
    # When cleaned / Then each whole sequence is gone, one space left between words and none before punctuation
    assert speakable_text(text) == read


def test_no_character_below_the_emoji_floor_starts_or_makes_an_emoji() -> None:
    # Given every character below EMOJI_FLOOR, each alone and each asked to be an emoji (U+FE0F, which is above it)
    below = [chr(code) for code in range(ord(EMOJI_FLOOR))]
    # When each is cleaned without the floor's shortcut / Then none alone is an emoji: skipping the check changes
    # nothing, while the floor (a keycap's U+20E3) itself is one
    emoji = regex.compile(rf"{_EMOJI}", regex.V1)
    assert [hex(ord(c)) for c in below if emoji.search(c)] == []
    assert emoji.fullmatch("1\u20e3") is not None
    assert not may_hold_emoji("Grüße aus Köln — “quoted” … 20 € Привет مرحبا नमस्ते")
    assert may_hold_emoji("Press 1\u20e3") and may_hold_emoji("東京") and may_hold_emoji("I ❤\ufe0f")


def test_symbols_presented_as_text_are_kept() -> None:
    # Given symbols Unicode shows as text, not as emoji / When cleaned / Then they stay
    text = "© 2024 Acme™, rated ★★★★☆, I ♥ it, ✔ done, → next, ☺"
    assert speakable_text(text) == text


def test_text_of_emoji_alone_cleans_to_nothing() -> None:
    # Given only emoji / When cleaned / Then nothing is left
    assert speakable_text("🎉 🎉\n👍🏽") == ""


# -- plain text ------------------------------------------------------------------------------------------------------

PLAIN = [
    "Hello, world!",
    "The meeting is at 3:30 pm on 2024-05-01. Bring $20 (or €18), please!",
    "2 * 3 = 6, 10 / 2 = 5, and 5 > 3 but 2 < 4; 100% sure; it's #1.",
    "x_1 and x_2 are variables; my_file_name.txt is a snake_case name.",
    "AT&T and Procter & Gamble; Q&A at 9.",
    "Use *args and **kwargs in Python.",
    "Привет, мир! Как дела?",
    "日本語のテキストです。よろしくお願いします。",
    "مرحبا بالعالم، كيف حالك؟",
    "C'est l'été — « très » chaud… n'est-ce pas ?",
    "Dear Ann,\nThanks for the notes.\nBest, Bo",
    "Score: 10-2. Call 555-0100 ext. 7 - or not.",
    'He said "wait" and left; (really) [sic].',
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_passes_unchanged(text: str) -> None:
    # Given plain text: numbers, punctuation, other scripts, * _ & < > used as text / When cleaned
    cleaned = speakable_text(text)
    # Then it is unchanged
    assert cleaned == text


@pytest.mark.parametrize("text", [t for t in PLAIN if not may_hold_markdown(t)])
def test_text_without_a_markup_character_reads_the_same_through_the_parser(text: str) -> None:
    # Given a plain text the parser is skipped for / When the parser reads it anyway
    parsed = read_markdown(text)
    # Then it gives the same text: skipping it changes nothing
    assert parsed == text


def test_the_plain_texts_above_take_both_ways() -> None:
    # Given the plain texts / When it is asked whether each may hold Markdown
    ways = {may_hold_markdown(text) for text in PLAIN}
    # Then some are read by the parser and some are not: the tests above cover both
    assert ways == {True, False}


def test_whitespace_is_folded_and_line_breaks_kept() -> None:
    # Given runs of spaces and tabs, blank lines, trailing spaces and a no-break space
    text = "  Hello   world\t\tagain  \n\n\n   Second\u00a0 paragraph  \r\n"
    # When cleaned / Then one space between words, one line break between lines, nothing at either end
    assert speakable_text(text) == "Hello world again\nSecond paragraph"


def test_an_indented_line_is_prose_not_code() -> None:
    # Given a plain text with an indented line (an indented code block in CommonMark) / When cleaned
    cleaned = speakable_text("Roses are red.\n\n    Violets are blue.")
    # Then the line is read
    assert cleaned == "Roses are red.\nViolets are blue."


# -- what a request reads --------------------------------------------------------------------------------------------


def test_a_request_reads_the_cleaned_text_or_the_text_as_written() -> None:
    # Given Markdown with extra spaces
    text = "**Hello**   there"
    # When read with and without cleaning / Then cleaned, or exactly as written
    assert text_to_read(text, clean=True, field="text") == "Hello there"
    assert text_to_read(text, clean=False, field="text") == text


@pytest.mark.parametrize(
    "text", ["🎉🎉", "```\nprint('hi')\n```", "<!-- nothing -->", "---", "**\u200b** 🎉"]
)
def test_a_text_that_cleans_to_nothing_is_refused_naming_the_field(text: str) -> None:
    # Given a text of emoji alone, a code block alone, an HTML comment, a thematic break, a zero-width space
    # When it is to be read, cleaned
    with pytest.raises(InvalidRequest) as refused:
        text_to_read(text, clean=True, field="input")
    # Then it is refused as empty, naming the field and the way to read it as written
    assert refused.value.code == ErrorCode.EMPTY_FIELD
    assert refused.value.param == "input"
    assert "clean_text false" in refused.value.detail


def test_the_parser_and_regex_are_loaded_only_for_texts_that_need_them() -> None:
    # Given fresh interpreters (a new container each)
    probe = (
        "import json, sys\nfrom speech_common.speakable_text import speakable_text\n"
        "speakable_text(sys.argv[-1] if len(sys.argv) > 1 else TEXT)\n"
        "print(json.dumps([m for m in ('markdown_it', 'regex', 'html.parser') if m in sys.modules]))"
    )

    def loaded(text: str) -> list[str]:
        return list(json.loads(fresh_python(f"TEXT = {text!r}\n{probe}")))

    # When a plain ASCII text, a Markdown one, texts in other scripts and an HTML block are cleaned
    # Then only what each needs was imported
    assert loaded("Hello, world! It is 3:30.") == []
    assert loaded("**Hello**, world!") == ["markdown_it"]
    assert loaded("Привет, мир! “Grüße” — 20 €") == []
    assert loaded("東京へようこそ") == ["regex"]
    assert loaded("<div>Hi</div>") == ["markdown_it", "html.parser"]


def test_cleaning_the_longest_job_text_of_pathological_markup_is_bounded() -> None:
    # Given 150,000 characters (the most a speech job takes) of unclosed link brackets
    import time

    text = "[a](" * 37_500
    # When cleaned
    started = time.monotonic()
    speakable_text(text)
    # Then within seconds (the parser is linear: no backtracking blow-up)
    assert time.monotonic() - started < 10


def test_any_text_is_cleaned_without_failing() -> None:
    # Given 3,000 random texts of markup characters, letters, digits, URLs' and e-mails' pieces, emoji and their
    # components, surrogate-free odd characters (seeded: the same texts each run)
    import random

    pieces = [
        *"*_`#[]()!<>|~\\&-+=.:/@ \n\t",
        "a",
        "Z",
        "1",
        "é",
        "東",
        "🎉",
        "\u200d",
        "\ufe0f",
        "\u20e3",
        "🏽",
    ]
    pieces += [
        "http://",
        "https://www.",
        "```",
        "<br>",
        "<!--",
        "-->",
        "&amp;",
        "|---|",
        "1. ",
        "> ",
        "# ",
        "x@y.z",
    ]
    pieces += ["\u0000", "\u2028", "\r\n", "\ufffd", "\U000e0067", "🇫"]
    chance = random.Random(23)
    texts = ["".join(chance.choices(pieces, k=chance.randint(0, 60))) for _ in range(3000)]
    # When each is cleaned
    cleaned = [speakable_text(text) for text in texts]
    # Then none failed, and each is folded: no blank line, no line with space at either end
    assert all(line and line == line.strip() for text in cleaned for line in text.split("\n") if text)
