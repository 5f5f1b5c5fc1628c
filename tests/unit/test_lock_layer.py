"""The layer's lock (tools/lock_layer.py): the closure of its requirements under Lambda's markers, kept current."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tools import lock_layer


def test_the_closure_follows_dependencies_under_lambdas_markers_and_leaves_out_extras_not_asked() -> None:
    # Given boto3 (botocore[crt] only with its "crt" extra) and anyio (exceptiongroup only below Python 3.11)
    roots = [Requirement("boto3"), Requirement("anyio")]
    # When their closure is taken with Lambda's python3.13 markers
    found = lock_layer.closure(roots, lock_layer.lambda_markers())
    # Then it holds their dependencies at the installed versions, and nothing a marker excludes
    assert {"boto3", "botocore", "jmespath", "s3transfer", "anyio", "idna", "typing-extensions"} <= set(found)
    assert "exceptiongroup" not in found and "awscrt" not in found and "trio" not in found
    assert all(version[0].isdigit() for version in found.values())


def test_check_fails_on_a_stale_lock_and_passes_on_a_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the lock written afresh to a scratch file
    lock = tmp_path / "constraints.txt"
    monkeypatch.setattr(lock_layer, "LOCK", lock)
    assert lock_layer.main([]) == 0
    # When it is checked as written, then with one version changed
    current = lock_layer.main(["--check"])
    lock.write_text(lock.read_text().replace("botocore==", "botocore==0.0.1+"))
    stale = lock_layer.main(["--check"])
    # Then only the changed one fails, saying how to make it current
    assert (current, stale) == (0, 1)
    assert "make lock" in capsys.readouterr().err
