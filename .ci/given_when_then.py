"""Given/When/Then gate (`make lint`): every test function comments what it sets up, does and expects.

A test needs a `# Given ...` comment and comments saying `When` and `Then`; one line
`# Given ... / When ... / Then ...` counts. Exempt files are listed here with their reason.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXEMPT: set[str] = set()
NEEDED = (re.compile(r"^#\s*Given\b"), re.compile(r"\bWhen\b"), re.compile(r"\bThen\b"))


def offences() -> list[str]:
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in EXEMPT:
            continue
        source = path.read_text()
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        comments = [(t.start[0], t.string.strip()) for t in tokens if t.type == tokenize.COMMENT]
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                inside = [text for line, text in comments if node.lineno <= line <= (node.end_lineno or 0)]
                if not all(any(word.search(text) for text in inside) for word in NEEDED):
                    found.append(f"{relative}:{node.name} (line {node.lineno})")
    return found


def main() -> int:
    found = offences()
    for line in found:
        print(f"given-when-then: {line} lacks a # Given, When or Then comment", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
