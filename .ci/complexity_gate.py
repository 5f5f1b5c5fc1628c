"""Complexity gate (`make lint`): no function above radon's rank C, except those listed here.

A listed function may not get more complex than it is today; shrink the list, never grow it.
radon has no inline exemptions, so the list lives here, one line a function with its reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("layers", "functions", "local", "bench", "tests", "tools")
MAX_RANK = "C"
# "path:function" -> highest complexity allowed (today's), and why it stays.
EXCEPTIONS = {
    # A search over the spoken forms of two texts; its branches are the cases of one algorithm.
    "layers/common/speech_common/engines/openai_realtime/verbatim.py:_spelled_alike": 22,
}


def offences() -> list[str]:
    found = []
    for path in sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts):
        relative = path.relative_to(ROOT).as_posix()
        for block in cc_visit(path.read_text()):
            name = f"{relative}:{getattr(block, 'fullname', block.name)}"
            allowed = EXCEPTIONS.get(name)
            if allowed is not None:
                if block.complexity > allowed:
                    found.append(f"{name} grew to {block.complexity} (listed at {allowed}): simplify it")
            elif cc_rank(block.complexity) > MAX_RANK:
                found.append(
                    f"{name} (line {block.lineno}) is rank {cc_rank(block.complexity)} ({block.complexity})"
                )
    return found


def main() -> int:
    found = offences()
    for line in found:
        print(f"complexity: {line}", file=sys.stderr)
    if found:
        print(
            f"complexity: split these up (at most rank {MAX_RANK}); see .ci/complexity_gate.py",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
