"""SnapStart hooks: the first request's set-up done before the snapshot, and what each restored copy redoes.

Each test runs a fresh interpreter (a new execution environment) with snapshot_restore_py, the
hooks' registry that Lambda's runtime provides, and calls the registered hooks as Lambda would.
"""

from __future__ import annotations

import json

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.secrets_manager import FakeSecretsManager
from tests.helpers import fresh_python
from tests.lambda_cold import SECRET_NAME

SETUP = """
import json, os, random, sys
import snapshot_restore_py
from tests.helpers import invoke, load_handler, tts_event

def run(hooks):
    for hook, args, kwargs in hooks:
        hook(*args, **kwargs)

def pooled(client):
    return len(client._endpoint.http_session._manager.pools)

load_handler("{kind}")
registered = [hook.__name__ for hook, _, _ in snapshot_restore_py.get_before_snapshot()]
registered += [hook.__name__ for hook, _, _ in snapshot_restore_py.get_after_restore()]
openai_at_init = "openai" in sys.modules
httpx2_at_init = "httpx2" in sys.modules
"""


def _env(
    fake_openai: FakeOpenAI, secrets: FakeSecretsManager, secret_name: str = SECRET_NAME
) -> dict[str, str]:
    return {
        **secrets.client_environment(),
        "OPENAI_API_KEY": "",  # the key from the secret, as deployed
        "OPENAI_SECRET_NAME": secret_name,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "MODEL_SHUTDOWN_DATES": "",
    }


def test_before_the_snapshot_the_key_and_clients_are_set_up_without_an_upstream_call(
    fake_openai: FakeOpenAI, fake_secrets_manager: FakeSecretsManager
) -> None:
    # Given a TTS function's init (the handler imported), its hooks registered
    code = (
        SETUP.format(kind="tts")
        + """
from speech_common import secrets
from speech_common.engines import openai_client
run(snapshot_restore_py.get_before_snapshot())
print(json.dumps({
    "registered": registered, "openai_at_init": openai_at_init, "openai": "openai" in sys.modules,
    "httpx2_at_init": httpx2_at_init, "httpx2": "httpx2" in sys.modules,
    "pools": openai_client.http_client.cache_info().currsize, "xray": "aws_xray_sdk" in sys.modules,
    "engines": sorted(sys.modules.keys() & {"speech_common.engines.openai_engine", "speech_common.engines.polly"}),
}))
"""
    )
    calls_before = fake_secrets_manager.calls
    # When Lambda runs the before-snapshot hooks, upstream calls traced
    env = {**_env(fake_openai, fake_secrets_manager), "TRACE_UPSTREAM_CALLS": "true"}
    report = json.loads(fresh_python(code, **env))
    # Then the handler registered one hook of each kind, and init alone imported no HTTP client
    assert report["registered"] == ["before_snapshot", "after_restore"]
    assert report["openai_at_init"] is False and report["httpx2_at_init"] is False
    # And the hook read the key from the secret, built the openai engine's HTTP client, the Tracer and the engine
    assert report["httpx2"] is True and report["pools"] == 1 and report["xray"] is True
    # And not the OpenAI SDK, which that engine does not use
    assert report["openai"] is False
    assert report["engines"] == ["speech_common.engines.openai_engine"]
    assert fake_secrets_manager.calls == calls_before + 1
    # And nothing was sent upstream
    assert fake_openai.calls() == 0


def test_before_the_snapshot_a_realtime_first_entry_gets_the_sdks_client(
    fake_openai: FakeOpenAI, fake_secrets_manager: FakeSecretsManager
) -> None:
    # Given a TTS function whose tts-1 route starts with the realtime engine, tts-1-hd's with openai
    code = (
        SETUP.format(kind="tts")
        + """
from speech_common.engines import openai_client
run(snapshot_restore_py.get_before_snapshot())
print(json.dumps({"clients": openai_client.client_for.cache_info().currsize,
                  "pools": openai_client.http_client.cache_info().currsize,
                  "realtime": "openai.resources.realtime" in sys.modules}))
"""
    )
    routes = "tts-1=openai-realtime:gpt-realtime-2.1-mini;tts-1-hd=openai:tts-1-hd"
    # When Lambda runs the before-snapshot hooks
    report = json.loads(
        fresh_python(code, **_env(fake_openai, fake_secrets_manager), TTS_MODEL_ROUTES=routes)
    )
    # Then the realtime engine's SDK client was built with its realtime resource, and the HTTP client too
    assert report == {"clients": 1, "pools": 1, "realtime": True}
    # And nothing was sent upstream
    assert fake_openai.calls() == 0


def test_each_restored_copy_reseeds_drops_pooled_connections_and_serves(
    fake_openai: FakeOpenAI, fake_secrets_manager: FakeSecretsManager
) -> None:
    # Given an environment set up by the before-snapshot hooks, whose memory two restored copies start from
    code = (
        SETUP.format(kind="tts")
        + """
from speech_common import secrets
run(snapshot_restore_py.get_before_snapshot())
pooled_at_snapshot = pooled(secrets.secrets_provider().client)
snapshot = random.getstate()  # the generator's state is part of the memory every copy gets back

def copy(restore):
    random.setstate(snapshot)
    if restore:
        run(snapshot_restore_py.get_after_restore())
    drawn, left_pooled = random.random(), pooled(secrets.secrets_provider().client)
    status = invoke("tts", tts_event({"text": "Hello, world!"}))["statusCode"] if restore else None
    return {"random": drawn, "pooled": left_pooled, "status": status}

print(json.dumps({"pooled_at_snapshot": pooled_at_snapshot,
                  "restored": [copy(True), copy(True)], "not_restored": [copy(False), copy(False)]}))
"""
    )
    # When each copy runs the after-restore hooks, then answers a request
    report = json.loads(fresh_python(code, **_env(fake_openai, fake_secrets_manager)))
    restored = report["restored"]
    # Then the copies draw different random numbers, where copies without the hook draw the same
    assert restored[0]["random"] != restored[1]["random"]
    assert report["not_restored"][0]["random"] == report["not_restored"][1]["random"]
    # And the Secrets Manager connection pooled before the snapshot is gone from each copy
    assert report["pooled_at_snapshot"] >= 1 and [copy["pooled"] for copy in restored] == [0, 0]
    # And each copy serves its request
    assert [copy["status"] for copy in restored] == [200, 200]


def test_a_hook_that_cannot_prepare_does_not_fail_the_snapshot(
    fake_openai: FakeOpenAI, fake_secrets_manager: FakeSecretsManager
) -> None:
    # Given a function whose secret does not exist
    code = (
        SETUP.format(kind="stt")
        + """
from speech_common.engines import openai_client
run(snapshot_restore_py.get_before_snapshot())
run(snapshot_restore_py.get_after_restore())
print(openai_client.http_client.cache_info().currsize + openai_client.client_for.cache_info().currsize)
"""
    )
    # When the hooks run / Then they return, with no client built (the first request will report the key missing)
    assert fresh_python(code, **_env(fake_openai, fake_secrets_manager, secret_name="no/such/secret")) == "0"


def test_without_a_snapstart_runtime_nothing_is_registered() -> None:
    # Given an interpreter without Lambda's snapshot_restore_py
    code = """
import sys
sys.modules["snapshot_restore_py"] = None
from speech_common.snapstart import register_hooks
print(register_hooks("tts"))
"""
    # When a handler registers its hooks / Then nothing is registered, and nothing fails
    assert fresh_python(code) == "False"
