"""Which engine serves requests locally: `openai` when the user configured a key, else the offline `local` one.

The rule is the layer's own (`speech_common.secrets.has_openai_key`), asked in a subprocess with the user's
environment so the server never imports the layer. Template defaults do not count as configuring a key
(template.yaml gives OPENAI_SECRET_NAME a default); the user's environment and an --env-vars file do.
Without a key the workers get local model routes, unless the user set the routes themselves.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

LOCAL_ROUTES = {
    "STT_MODEL_ROUTES": "whisper-1=local:local",
    "TTS_MODEL_ROUTES": "tts-1=local:local;tts-1-hd=local:local",
}
KEY_VARIABLES = ("OPENAI_API_KEY", "OPENAI_SECRET_NAME")
_PROBE = (
    "from speech_common.secrets import has_openai_key\n"
    "from speech_common.settings import Settings\n"
    "print('yes' if has_openai_key(Settings()) else 'no')\n"
)
_PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # "openai" or "local"
    overrides: dict[str, str] = field(default_factory=dict)  # environment the workers get on top of theirs


def choose(user_env: Mapping[str, str], layer_paths: tuple[str, ...]) -> EngineChoice:
    if has_openai_key(user_env, layer_paths):
        return EngineChoice("openai")
    # A user-set route wins over the local default.
    return EngineChoice("local", {k: v for k, v in LOCAL_ROUTES.items() if k not in user_env})


def has_openai_key(user_env: Mapping[str, str], layer_paths: tuple[str, ...]) -> bool:
    key_values = tuple(user_env.get(name, "") for name in KEY_VARIABLES)
    if not any(key_values):
        return False  # nothing to ask the layer about
    cache_key = (key_values, layer_paths)
    if cache_key not in _answers:  # functions sharing the layer ask once
        _answers[cache_key] = _ask_layer(user_env, layer_paths)
    return _answers[cache_key]


_answers: dict[tuple[tuple[str, ...], tuple[str, ...]], bool] = {}


def _ask_layer(user_env: Mapping[str, str], layer_paths: tuple[str, ...]) -> bool:
    env = {**user_env, "PYTHONPATH": os.pathsep.join(layer_paths)}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        LOG.debug("engine probe failed: %s", exc)
        return True
    answer = proc.stdout.strip()
    if proc.returncode == 0 and answer in (b"yes", b"no"):
        return answer == b"yes"
    # No speech_common on these layers (another template): the rule itself, read directly.
    LOG.debug("engine probe could not ask the layer: %s", proc.stderr.decode(errors="replace")[-500:])
    return True


def describe(choices: Mapping[str, EngineChoice], worker_env: Mapping[str, Mapping[str, str]]) -> str:
    """The one start-up line. Names variables and routes, never a key."""
    engines = {choice.engine for choice in choices.values()}
    if len(engines) > 1:
        per_function = "; ".join(f"{name}: {choice.engine}" for name, choice in sorted(choices.items()))
        return f"Engine: mixed ({per_function})"
    if engines == {"openai"}:
        return "Engine: openai (an OpenAI key is configured: OPENAI_API_KEY or OPENAI_SECRET_NAME)"
    routes = {}
    for env in worker_env.values():
        routes.update({k: env.get(k, "") for k in LOCAL_ROUTES})
    shown = ", ".join(f"{k}={v}" for k, v in sorted(routes.items()))
    return f"Engine: local (no OPENAI_API_KEY or OPENAI_SECRET_NAME set; {shown})"
