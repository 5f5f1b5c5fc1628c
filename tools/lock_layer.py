"""The layer's lock: every package the Lambda layer ships, pinned to the version the tests run against.

    .venv/bin/python -m tools.lock_layer           # writes layers/common/constraints.txt (make lock)
    .venv/bin/python -m tools.lock_layer --check   # exit 1 when it is not current (make lint)

layers/common/requirements.txt names what the layer needs; their own dependencies (botocore, httpx,
pydantic-core, ...) would otherwise resolve to whatever is newest on the day of a build, so a deploy could
ship versions no test ran. The lock is read from the development environment (`make venv` installs
requirements.txt with the lock as constraints): the closure of requirements.txt under Lambda's platform
markers, each at its installed version. `sam build` (tools/lambda_build.py) and `make venv` both install
with it as pip constraints.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.generated import write_or_check

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"
LOCK = ROOT / "layers" / "common" / "constraints.txt"
HEADER = (
    "# Every package the layer ships, at the version the tests run against: written by `make lock`\n"
    "# (tools/lock_layer.py) from the development environment; do not edit by hand.\n"
)


def lambda_markers() -> dict[str, str]:
    """Marker values of Lambda's python3.13 on arm64 (Amazon Linux 2023)."""
    return {
        **{key: str(value) for key, value in default_environment().items()},
        "platform_machine": "aarch64",
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
        "python_version": "3.13",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def read_requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def closure(roots: Iterable[Requirement], markers: dict[str, str]) -> dict[str, str]:
    """{canonical name: installed version} of the roots and all they require on that platform."""
    found: dict[str, str] = {}
    pending = [(requirement, frozenset(requirement.extras)) for requirement in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        distribution = importlib.metadata.distribution(name)  # PackageNotFoundError: make venv first
        found[name] = distribution.version
        for declared in distribution.requires or ():
            dependency = Requirement(declared)
            wanted = dependency.marker is None or any(
                dependency.marker.evaluate({**markers, "extra": extra}) for extra in ("", *extras)
            )
            if wanted:
                pending.append((dependency, frozenset(dependency.extras)))
    return found


def render(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the lock is not current")
    args = parser.parse_args(argv)
    try:
        text = render(closure(read_requirements(REQUIREMENTS), lambda_markers()))
    except importlib.metadata.PackageNotFoundError as exc:
        print(f"error: {exc.name} is not installed: run make venv first", file=sys.stderr)
        return 2
    summary = f": {text.count('==')} packages"
    return write_or_check(LOCK, text, check=args.check, command="make lock", summary=summary)


if __name__ == "__main__":
    sys.exit(main())
