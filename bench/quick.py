"""--quick, shared by the benchmarks: a few iterations on small inputs, the same code path, the same printout.

`make bench-quick` (and so CI) runs every benchmark this way, so that one that no longer runs fails the build.
"""

from __future__ import annotations

import argparse
from typing import Any


def parse_args(parser: argparse.ArgumentParser, quick: dict[str, Any]) -> argparse.Namespace:
    """The command line; with --quick, `quick`'s values replace the defaults (an option given still wins)."""
    described = ", ".join(f"--{name.replace('_', '-')} {_shown(value)}" for name, value in quick.items())
    parser.add_argument("--quick", action="store_true", help=f"a short run for CI: {described}")
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**quick)
        args = parser.parse_args()
    return args


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
