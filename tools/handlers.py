"""A function's handler module, loaded from its source as Lambda would import it (the tools and the tests use it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_handler(name: str) -> ModuleType:
    """functions/<name>/app.py, freshly imported under a name of its own (every function's file is app.py)."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
