"""A function's handler module, loaded from its source as Lambda would import it (the tools and the tests use it)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
# What template.yaml's Globals give every function; a handler requires them when it loads (settings.require).
TEMPLATE_RESOURCES = {
    "SPEECH_BUCKET": "speech-api-bucket",
    "JOBS_TABLE": "speech-api-jobs",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/speech-api-jobs",
}


def load_handler(name: str) -> ModuleType:
    """functions/<name>/app.py, freshly imported under a name of its own (every function's file is app.py), as a
    deployed container imports it: with the template's resources named (those already set are kept). The
    environment is restored afterwards, and the settings read during the import forgotten."""
    from speech_common.settings import get_settings

    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = {key: os.environ.get(key) for key in TEMPLATE_RESOURCES}
    os.environ.update({key: saved[key] or value for key, value in TEMPLATE_RESOURCES.items()})
    get_settings.cache_clear()
    try:
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
    return module
