"""One ErrorCode enumeration: the docs' error table lists every member and nothing else, and the code uses it."""

from __future__ import annotations

import re

from speech_common.error_codes import ErrorCode
from tests.helpers import ROOT

LAYER = ROOT / "layers" / "common" / "speech_common"
# Where strings equal to some of ours are the upstream's own codes (OpenAI's "model_not_found", ...).
UPSTREAM_CODES = LAYER / "engines" / "upstream_errors.py"


def documented_codes() -> list[str]:
    text = (ROOT / "docs" / "api.md").read_text()
    table = text[text.index("| code | status | when |") :].split("\n\n", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)


def test_the_docs_error_table_lists_every_code_once_and_nothing_else() -> None:
    # Given the error table of docs/api.md
    codes = documented_codes()
    # When it is compared with the enumeration
    # Then each member is a row, once, and no row names a code the enumeration lacks
    assert len(codes) == len(set(codes)), "a code is listed twice"
    assert set(codes) == {code.value for code in ErrorCode}


def test_the_gateway_answers_codes_of_the_enumeration() -> None:
    # Given the template's gateway responses (the answers API Gateway makes itself)
    template = (ROOT / "template.yaml").read_text()
    # When their codes are read
    codes = set(re.findall(r'"code": "([a-z_]+)"', template))
    # Then each is a member
    assert codes and codes <= {code.value for code in ErrorCode}


def test_the_layer_names_codes_through_the_enumeration() -> None:
    # Given every module of the layer and the functions
    sources = [*LAYER.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    # When each is searched for a code written as a bare string (as a keyword or a positional argument)
    alternatives = "|".join(code.value for code in ErrorCode)
    literal = re.compile(rf"[\"']({alternatives})[\"']")
    literals = {
        f"{path.relative_to(ROOT)}: {match}"
        for path in sources
        for match in literal.findall(path.read_text())
        if path not in (LAYER / "error_codes.py", UPSTREAM_CODES)
    }
    # Then there is none: a new code is added to ErrorCode (and so to the docs' table)
    assert not literals, sorted(literals)


def test_a_code_is_its_string() -> None:
    # Given a member / When it is compared, formatted or joined / Then it is its snake_case value
    assert ErrorCode.TEXT_TOO_LONG == "text_too_long"
    assert f"{ErrorCode.TEXT_TOO_LONG}" == str(ErrorCode.TEXT_TOO_LONG) == "text_too_long"
