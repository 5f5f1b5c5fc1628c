"""The Lambda artifacts SAM deploys, with bytecode: the layer and the functions (SAM's `BuildMethod: makefile`).

SAM's python3.13 builder installs wheels by unzipping them and copies sources as they are: nothing it
builds has a .pyc, and Lambda's read-only /opt and /var/task make every cold start compile every
module it imports. Here each artifact ships its .py files (tracebacks show their lines) and beside
each a .pyc compiled by Python 3.13, the runtime's version (checked before anything is built), in
`unchecked-hash` mode: the interpreter uses it without comparing it with the source's mtime, which
a deployment zip (2-second resolution) would otherwise make look stale.

The Makefile's build-<LogicalId> targets call it (SAM sets ARTIFACTS_DIR; LAMBDA_ARCH picks the wheels):

    python tools/lambda_build.py layer --requirements requirements.txt --package speech_common \\
        --arch arm64 --out "$ARTIFACTS_DIR/python"
    python tools/lambda_build.py function --source . --out "$ARTIFACTS_DIR"

Wheels come for the target architecture from the package index (pip's cross-platform install), so an
x86 machine builds the arm64 layer without Docker. A requirement published only as a source
distribution is built into a wheel first, and accepted only if that wheel is pure Python. A dependency of a
dependency published that way must be named in the requirements too (the build says which, and at what version).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RUNTIME = (3, 13)  # template.yaml's python3.13
# The first bytes of every .pyc that Python 3.13 writes (its magic number 3571): any 3.13.x reads them.
RUNTIME_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): wheels for glibc 2.17 to 2.34 run there.
GLIBC_MINORS = range(17, 35)
ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
# Where the artifacts live on Lambda: the paths compile-time tracebacks name.
LAYER_ROOT = "/opt/python"
TASK_ROOT = "/var/task"
NOT_SHIPPED = ("__pycache__", "*.pyc", "Makefile")
# How pip says a requirement has no wheel for the platform: alone, or (with the lock as constraints) as a conflict.
MISSING_WHEEL = re.compile(r"No matching distribution found for (\S+)|Cannot install (\S+) because")
# The conflict's explanation (on stdout, without --quiet): which packages have no wheel here, and who needs them.
NO_WHEEL_LIST = re.compile(r"no matching distributions available for your environment:\n((?:[ \t]+\S+\n?)+)")


class BuildError(Exception):
    """A build that cannot produce what Lambda needs; its message says why."""


def check_interpreter() -> None:
    """The bytecode must be the runtime's: build with Python 3.13, or not at all."""
    version = sys.version_info[:2]
    if version != RUNTIME or importlib.util.MAGIC_NUMBER != RUNTIME_MAGIC:
        wanted = ".".join(map(str, RUNTIME))
        raise BuildError(
            f"the Lambda runtime is Python {wanted} but this is Python {sys.version.split()[0]} "
            f"({sys.executable}): run the build with Python {wanted} (make build finds one)"
        )


def platform_options(arch: str) -> list[str]:
    machine = ARCHES[arch]
    tags = [f"manylinux2014_{machine}", *(f"manylinux_2_{minor}_{machine}" for minor in GLIBC_MINORS)]
    return [option for tag in tags for option in ("--platform", tag)]


def install_requirements(
    requirements: Path, target: Path, arch: str, constraints: Path | None = None
) -> None:
    """The requirements' wheels for Lambda's platform, unpacked into `target` (no .pyc: compiled later), every
    package at the version `constraints` pins (the layer's lock, tools/lock_layer.py)."""
    locked = ["--constraint", str(constraints)] if constraints is not None else []
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as wheelhouse:
        built: set[str] = set()
        while True:
            result = _pip(
                "install", "--no-compile", "--target", str(target), "--upgrade",
                *platform_options(arch), "--implementation", "cp",
                "--python-version", ".".join(map(str, RUNTIME)), "--only-binary=:all:",
                "--find-links", wheelhouse, "--requirement", str(requirements), *locked,
            )  # fmt: skip
            if result.returncode == 0:
                break
            missing = MISSING_WHEEL.search(result.stderr)
            requirement = next((group for group in missing.groups() if group), "") if missing else ""
            indirect = source_only_dependencies(result.stdout)
            if indirect:
                raise BuildError(require_them_directly(indirect, result.stdout, requirements, constraints))
            if not requirement or requirement in built:
                raise BuildError(f"pip could not install {requirements}:\n{result.stderr.strip()}")
            built.add(requirement)
            _pure_wheel_from_source(requirement, Path(wheelhouse))
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: nothing on Lambda runs them


def _name(requirement: str) -> str:
    """A requirement's project name, normalised (PEP 503): "Foo_Bar[x]==1.0" -> "foo-bar"."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0]).lower()


def source_only_dependencies(pip_output: str) -> list[str]:
    """The packages pip found no wheel for that no requirement names: dependencies of a dependency. Under
    constraints pip then names only the requirements file's line it could not install ("Cannot install -r
    requirements.txt (line 7)"), and building something would not help."""
    listed = NO_WHEEL_LIST.search(pip_output)
    names = listed.group(1).split() if listed else []
    return [
        name
        for name in names
        if not re.search(
            rf"^\s*The user requested {re.escape(name)}\b", pip_output, re.MULTILINE | re.IGNORECASE
        )
    ]


def require_them_directly(
    packages: list[str], pip_output: str, requirements: Path, constraints: Path | None
) -> str:
    """What to do about source-only dependencies of a dependency: require them directly, at the lock's version;
    the build then makes their pure-Python wheels, as for any source-only requirement."""
    pins = constraints.read_text().splitlines() if constraints is not None else []
    lines = []
    for package in packages:
        needed_by = re.findall(rf"^\s*(\S+ \S+) depends on {re.escape(package)}\b", pip_output, re.MULTILINE)
        pin = next((line.split("#")[0].strip() for line in pins if _name(line) == _name(package)), package)
        lines.append(
            f"{package} has no wheel for Lambda's platform, only a source release, and is not a requirement of "
            f"{requirements} but a dependency of {', '.join(needed_by) or 'one of them'}: add `{pin}` to "
            f"{requirements}, and the build makes a pure-Python wheel of it as it does for a requirement"
        )
    return "\n".join(lines)


def _pure_wheel_from_source(requirement: str, wheelhouse: Path) -> None:
    """A wheel built here from a source-only release; one with compiled code would be this machine's."""
    before = set(wheelhouse.glob("*.whl"))
    result = _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheelhouse), requirement)
    made = set(wheelhouse.glob("*.whl")) - before
    if result.returncode != 0 or not made:
        raise BuildError(f"no wheel of {requirement} for Lambda, and none could be built:\n{result.stderr}")
    impure = [wheel.name for wheel in made if not wheel.name.endswith("-none-any.whl")]
    if impure:
        raise BuildError(f"{requirement} has no wheel for Lambda's platform; building it here gave {impure}")


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def copy_sources(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*NOT_SHIPPED), dirs_exist_ok=True)


def compile_tree(root: Path, runtime_dir: str) -> None:
    """A .pyc beside every .py under `root` (unchecked-hash, named for where Lambda mounts `root`)."""
    # Third-party sources warn on compile (invalid escapes and the like); that is not ours to fix. The
    # workers are forkserver processes: they take the filter from the environment, not from this process.
    with warnings.catch_warnings(), _environment(PYTHONWARNINGS="ignore::SyntaxWarning"):
        warnings.simplefilter("ignore", SyntaxWarning)
        ok = compileall.compile_dir(
            root,
            ddir=runtime_dir,
            quiet=1,
            workers=os.cpu_count() or 1,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    if not ok:
        raise BuildError(f"some modules under {root} do not compile with Python 3.13 (listed above)")


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_layer(
    requirements: Path, package: Path, arch: str, out: Path, constraints: Path | None = None
) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    install_requirements(requirements, out, arch, constraints)
    copy_sources(package, out / package.name)
    compile_tree(out, LAYER_ROOT)


def build_function(source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    copy_sources(source, out)
    compile_tree(out, TASK_ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    kinds = parser.add_subparsers(dest="kind", required=True)
    layer = kinds.add_parser("layer", help="requirements' wheels + the shared package, compiled")
    layer.add_argument("--requirements", type=Path, required=True)
    layer.add_argument("--constraints", type=Path, help="pins for every package (the layer's lock)")
    layer.add_argument("--package", type=Path, required=True, help="the layer's own package directory")
    layer.add_argument("--arch", choices=sorted(ARCHES), required=True)
    layer.add_argument("--out", type=Path, required=True, help="the layer's python/ directory")
    function = kinds.add_parser("function", help="a function's sources, compiled")
    function.add_argument("--source", type=Path, required=True)
    function.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        check_interpreter()
        if args.kind == "layer":
            build_layer(args.requirements, args.package, args.arch, args.out, args.constraints)
        else:
            build_function(args.source, args.out)
    except BuildError as exc:
        print(f"lambda_build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
