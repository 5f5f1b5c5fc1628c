"""Which engine serves requests locally, and whether each function's settings are valid, asked of the layer.

The engine is `openai` when the user configured a key, else the offline `local` one. The rule is the layer's own
(`speech_common.secrets.has_openai_key`), asked in a subprocess (the probe) with the user's environment so the
server never imports the layer. Template defaults do not count as configuring a key (template.yaml gives
OPENAI_SECRET_NAME a default); the user's environment and an --env-vars file do. Without a key the workers get
local model routes, unless the user set the routes themselves.

At start-up the probe also builds each function's `speech_common.settings.Settings` with the environment its
workers will get (routes included): a value the layer refuses stops the server before it serves, with the
variable's name and pydantic's message, never the value. A template whose layers have no speech_common is
not checked.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

LOCAL_ROUTES = {
    "STT_MODEL_ROUTES": "whisper-1=local:local",
    "TTS_MODEL_ROUTES": "tts-1=local:local;tts-1-hd=local:local",
}
KEY_VARIABLES = ("OPENAI_API_KEY", "OPENAI_SECRET_NAME")
# Run with the layer on PYTHONPATH and the environment to ask about; prints one JSON object, or exits 3 when
# the layers have no speech_common. It reports pydantic's errors without their input, and of any other
# exception only what cannot quote a value, so no value leaves the probe.
_PROBE = r"""
import json, re, sys

def answer(has_key=None, problems=(), failure=None):
    print(json.dumps({"has_key": has_key, "problems": list(problems), "failure": failure}))
    sys.exit(0)

def variable(loc):
    if not loc:
        return None
    settings_class = getattr(sys.modules.get("speech_common.settings"), "Settings", None)
    prefix = (getattr(settings_class, "model_config", None) or {}).get("env_prefix") or ""
    return (str(prefix) + str(loc[0])).upper()

def problems_of(exc):
    from pydantic import ValidationError
    try:  # a layer whose settings are pydantic-settings' (this project's are plain pydantic)
        from pydantic_settings import SettingsError
    except ImportError:
        SettingsError = ()
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return [{"variable": variable(e["loc"]), "message": e["msg"], "type": e["type"]} for e in errors]
    if isinstance(exc, SettingsError):  # a value it could not parse: names the field, not the value
        named = re.search(r'field "(\w+)"', str(exc))
        return [{"variable": variable(named.groups() if named else ()), "message": str(exc), "type": "parsing"}]
    return []

try:
    from speech_common.secrets import has_openai_key
    from speech_common.settings import Settings
    settings = Settings()
except ModuleNotFoundError as exc:
    if exc.name == "speech_common":
        sys.exit(3)  # another template's layers: nothing to ask
    answer(failure=f"{type(exc).__name__}: {exc}")
except (ImportError, SyntaxError) as exc:  # these name modules and files, not values
    answer(failure=f"{type(exc).__name__}: {exc}")
except Exception as exc:
    problems = problems_of(exc)
    if problems:
        answer(problems=problems)
    answer(failure=type(exc).__name__)  # its message could quote a value
answer(has_key=has_openai_key(settings))
"""
_PROBE_TIMEOUT_S = 60
_NO_SPEECH_LAYER = 3
# A message about one of these is withheld: a validator may quote the value.
_SECRET_MARKERS = ("KEY", "SECRET")


@dataclass(frozen=True)
class SettingsProblem:
    variable: str | None  # the environment variable, when pydantic names a field
    message: str  # pydantic's message, without the input value


@dataclass(frozen=True)
class LayerAnswer:
    has_key: bool | None  # None when Settings could not be built
    problems: tuple[SettingsProblem, ...] = ()
    failure: str | None = None  # why a layer with speech_common gave no answer (e.g. its import failed)


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
        answer = _ask_layer(user_env, layer_paths)
        # A layer that cannot be asked (another template, a broken layer) or settings that cannot be built
        # (invalid_settings reports them): the rule itself, read directly: a key variable is set.
        _answers[cache_key] = True if answer is None or answer.has_key is None else answer.has_key
    return _answers[cache_key]


_answers: dict[tuple[tuple[str, ...], tuple[str, ...]], bool] = {}


def invalid_settings(
    functions: Mapping[str, tuple[Mapping[str, str], tuple[str, ...]]],
) -> dict[str, tuple[SettingsProblem, ...]]:
    """The problems of each function's Settings, by function, for functions whose Settings the layer refuses.

    `functions` maps a function to its workers' environment and its layers' paths; the probes run in parallel.
    """
    if not functions:
        return {}
    with ThreadPoolExecutor(max_workers=len(functions)) as pool:
        answers = dict(
            zip(functions, pool.map(lambda args: _ask_layer(*args), functions.values()), strict=True)
        )
    unchecked: dict[str, list[str]] = {}
    for name, answer in sorted(answers.items()):
        if answer is not None and answer.failure is not None:
            unchecked.setdefault(answer.failure, []).append(name)
    for failure, names in unchecked.items():
        # Its workers will fail the same way, request by request; serving shows their tracebacks.
        LOG.warning("Settings of %s not checked: the layer failed (%s)", ", ".join(names), failure)
    return {
        name: answer.problems for name, answer in answers.items() if answer is not None and answer.problems
    }


def explain(invalid: Mapping[str, tuple[SettingsProblem, ...]]) -> str:
    """The start-up error for invalid settings: each variable and pydantic's message, once, with the functions
    it concerns. Never a value."""
    functions_of: dict[tuple[str, str], list[str]] = {}
    for function, problems in sorted(invalid.items()):
        for problem in problems:
            functions_of.setdefault((problem.variable or "", problem.message), []).append(function)
    lines = ["Invalid configuration: the local server did not start."]
    for (variable, message), functions in sorted(functions_of.items()):
        lines.append(f"  {variable or 'Settings'}: {message} ({', '.join(functions)})")
    lines.append(
        "Fix these in your environment, the --env-vars file or the template's parameters, then start again."
    )
    return "\n".join(lines)


def _ask_layer(env: Mapping[str, str], layer_paths: tuple[str, ...]) -> LayerAnswer | None:
    """What the layer says of Settings built from `env`; None when it cannot be asked (no speech_common)."""
    probe_env = {**env, "PYTHONPATH": os.pathsep.join(layer_paths)}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=probe_env,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        LOG.debug("layer probe failed: %s", exc)
        return None
    if proc.returncode == _NO_SPEECH_LAYER:
        LOG.debug("no speech_common in the layers %s: nothing to ask", layer_paths)
        return None
    try:
        answer = json.loads(proc.stdout)
        has_key, failure = answer["has_key"], answer["failure"]
        problems = tuple(_problem(p) for p in answer["problems"])
    except (ValueError, KeyError, TypeError):
        return LayerAnswer(None, failure=f"the probe ended with exit status {proc.returncode}")
    return LayerAnswer(
        has_key if isinstance(has_key, bool) else None,
        problems,
        None if failure is None else str(failure),
    )


def _problem(reported: Mapping[str, str | None]) -> SettingsProblem:
    variable = reported.get("variable") or None
    # The validator's own words, without pydantic's prefix.
    message = str(reported.get("message") or "").removeprefix("Value error, ")
    if variable is not None and any(marker in variable for marker in _SECRET_MARKERS):
        message = f"invalid ({reported.get('type')}; the message is withheld, it may quote a secret)"
    return SettingsProblem(variable, message)


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
