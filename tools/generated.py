"""Files the repository keeps that a tool writes from the code (openapi.json, the layer's lock): written, or checked
to be current by `make lint`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_or_check(path: Path, text: str, *, check: bool, command: str, summary: str = "") -> int:
    """Write `text` to `path`, or (check) exit status 1 when the file differs, naming the `command` that writes it."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if check:
        if path.is_file() and path.read_text() == text:
            return 0
        print(f"{where} is not current: run `{command}` and commit it", file=sys.stderr)
        return 1
    path.write_text(text)
    print(f"wrote {where}{summary}")
    return 0
