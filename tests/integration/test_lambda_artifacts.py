"""What `sam build` ships: every module with its bytecode, compiled for Python 3.13 and never checked against mtimes."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.lambda_cold import Artifacts
from tools import lambda_build
from tools import lock_layer as tools_lock

# A .pyc's header: magic (4 bytes), flags (4), then the source's hash for hash-based ones (8).
UNCHECKED_HASH = 0b01  # hash-based, check_source off


def _bytecode_problems(root: Path) -> list[str]:
    problems = []
    for source in sorted(root.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        where = source.relative_to(root)
        if not pyc.is_file():
            problems.append(f"{where}: no {pyc.name}")
            continue
        header = pyc.read_bytes()[:16]
        if header[:4] != lambda_build.RUNTIME_MAGIC:
            problems.append(f"{where}: compiled by another Python ({header[:4]!r})")
        elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            problems.append(f"{where}: not an unchecked-hash pyc (flags {header[4:8].hex()})")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{where}: its pyc was compiled from another source")
    return problems


def _orphans(root: Path) -> list[str]:
    """Bytecode whose source is not shipped (a stale module that would still import)."""
    return [
        str(pyc.relative_to(root))
        for pyc in root.rglob("__pycache__/*.pyc")
        if not (pyc.parent.parent / f"{pyc.name.split('.')[0]}.py").is_file()
    ]


@pytest.mark.parametrize("artifact", ["layer", "stt", "tts", "stream"])
def test_every_shipped_module_has_its_unchecked_hash_bytecode(
    built_artifacts: Artifacts, artifact: str
) -> None:
    # Given the layer or a function as the Makefile target that `sam build` runs builds it
    root = built_artifacts.layer if artifact == "layer" else built_artifacts.task(artifact)
    # When each shipped module is looked at beside its bytecode
    problems = _bytecode_problems(root)
    # Then every .py has a .pyc of Python 3.13, hash-based, unchecked, and compiled from that very source
    assert len(list(root.rglob("*.py"))) > 0
    assert problems == [], f"{len(problems)} modules without matching bytecode, e.g. {problems[:10]}"
    # And no bytecode ships without its source
    assert _orphans(root) == []


def test_the_stream_function_ships_its_start_script_executable(built_artifacts: Artifacts) -> None:
    # Given the stream function as built / When its start script (the Lambda Web Adapter's handler) is looked at
    script = built_artifacts.task("stream") / "run.sh"
    # Then it is there, executable by anyone, with Unix line ends
    assert script.is_file() and script.stat().st_mode & 0o111 == 0o111
    assert b"\r\n" not in script.read_bytes()


def test_the_layer_holds_the_shared_package_and_no_console_scripts(built_artifacts: Artifacts) -> None:
    # Given the built layer / When its top level is listed
    names = {path.name for path in built_artifacts.layer.iterdir()}
    # Then the layer's package and its dependencies are there, and pip's bin/ is not
    assert {"speech_common", "openai", "aws_lambda_powertools", "aws_xray_sdk", "boto3"} <= names
    assert "bin" not in names
    # And the package is the repository's, module for module
    repository = Path(__file__).resolve().parents[2] / "layers" / "common" / "speech_common"
    shipped = sorted(
        p.relative_to(built_artifacts.layer / "speech_common")
        for p in (built_artifacts.layer / "speech_common").rglob("*.py")
    )
    assert shipped == sorted(p.relative_to(repository) for p in repository.rglob("*.py"))


# Lambda's limit on a function and its layers together, unzipped; the largest function is small beside the layer.
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024


def _size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_the_layer_and_each_function_fit_in_lambdas_unzipped_limit(built_artifacts: Artifacts) -> None:
    # Given the layer and the functions as built for this machine (x86_64 wheels are the larger: arm64's av and
    # regex are smaller, so a layer that fits here fits on Lambda's arm64)
    layer = _size(built_artifacts.layer)
    # When each function is counted with the layer, as Lambda counts a deployment
    biggest = max(_size(built_artifacts.task(function)) for function in ("stt", "tts", "stream"))
    # Then every one fits, with room for a dependency's next version
    assert layer + biggest < LAMBDA_UNZIPPED_LIMIT_BYTES * 0.95, f"{(layer + biggest) / 2**20:.0f} MiB"


def test_the_layer_ships_exactly_the_locked_versions(built_artifacts: Artifacts) -> None:
    # Given the built layer and the lock (layers/common/constraints.txt)
    locked = dict(
        line.split("==")
        for line in tools_lock.LOCK.read_text().splitlines()
        if line and not line.startswith("#")
    )
    # When its installed distributions are read
    shipped = {
        canonicalize_name(distribution.metadata["Name"]): distribution.version
        for distribution in importlib.metadata.distributions(path=[str(built_artifacts.layer)])
    }
    # Then they are the lock's packages at the lock's versions: nothing newer than the tests ran, nothing more
    assert shipped == locked


def test_the_build_refuses_an_interpreter_that_is_not_the_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an interpreter whose bytecode another Python version could not read
    monkeypatch.setattr(importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    # When the build starts / Then it stops before building anything, naming the runtime's version
    assert lambda_build.main(["function", "--source", "nowhere", "--out", "nowhere"]) == 1
    with pytest.raises(lambda_build.BuildError, match=r"Lambda runtime is Python 3\.13"):
        lambda_build.check_interpreter()
