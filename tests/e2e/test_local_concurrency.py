"""The local server under concurrent requests: warm workers up to its concurrency, a queue beyond it.

Over real HTTP against the test-only template (tests/e2e/fixtures), whose handler sleeps on /sleep and
/gateway-timeout and reports its worker's pid and the imports of its module in response headers; and the
queue's first-come-first-served order, checked on local.pool.FifoSlots itself (a race over HTTP could not
show it reliably).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.pool import FifoSlots
from tests.local_server import (
    MECHANICS_TEMPLATE,
    LocalServer,
    Reply,
    StartServer,
    running_server,
    server_env,
    start_expecting_exit,
)

pytestmark = pytest.mark.e2e


def burst(server: LocalServer, paths: list[str]) -> tuple[list[Reply], float]:
    """The paths POSTed all at once, one connection each; the replies and the seconds until the last one."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        replies = list(pool.map(server.post, paths))
    return replies, time.monotonic() - started


def pids(replies: list[Reply]) -> set[int]:
    return {int(reply.headers["X-Worker-Pid"]) for reply in replies}


@pytest.fixture(scope="module")
def six_workers(serve: StartServer, tmp_path_factory: pytest.TempPathFactory) -> LocalServer:
    state = tmp_path_factory.mktemp("six-state")
    return serve(MECHANICS_TEMPLATE, server_env(MECHANICS_STATE_DIR=str(state), LOCAL_CONCURRENCY="6"))


def test_workers_up_to_the_concurrency_stay_warm_between_bursts(six_workers: LocalServer) -> None:
    # Given a server allowed 6 workers per function (LOCAL_CONCURRENCY, as `make serve` reads it), and a burst of 6 overlapping requests that started them
    first, _ = burst(six_workers, ["/sleep?seconds=0.5"] * 6)
    assert [reply.status for reply in first] == [200] * 6
    assert len(pids(first)) == 6
    # When another burst of 6 comes
    second, _ = burst(six_workers, ["/sleep?seconds=0.5"] * 6)
    # Then the same 6 processes serve it: none was stopped while idle, none started, nothing re-imported
    assert [reply.status for reply in second] == [200] * 6
    assert pids(second) <= pids(first)
    assert {reply.headers["X-Imports"] for reply in second} <= {reply.headers["X-Imports"] for reply in first}


def test_requests_beyond_the_concurrency_wait_for_a_worker(tmp_path: Path) -> None:
    # Given a server allowed 2 workers per function (the option wins over LOCAL_CONCURRENCY)
    env = server_env(LOCAL_CONCURRENCY="6")
    with running_server(MECHANICS_TEMPLATE, tmp_path, env, ["--concurrency", "2"]) as server:
        # When 5 requests of 0.6 s each come at once
        replies, seconds = burst(server, ["/sleep?seconds=0.6"] * 5)
        printed = server.stdout
    # Then all are served, by 2 workers, in 3 rounds: the others waited rather than starting more processes
    assert [reply.status for reply in replies] == [200] * 5
    assert len(pids(replies)) == 2
    assert seconds >= 3 * 0.6
    assert "up to 2 per function" in printed


def test_a_request_queued_past_the_integration_timeout_answers_504(tmp_path: Path) -> None:
    # Given one worker per function, busy for 3 s with a request on a route with a 29 s integration timeout
    with running_server(MECHANICS_TEMPLATE, tmp_path, server_env(LOCAL_CONCURRENCY="1")) as server:
        assert server.post("/gateway-timeout").status == 200  # warm: the wait below is the queue's alone
        with ThreadPoolExecutor(max_workers=1) as pool:
            busy = pool.submit(server.post, "/patient/sleep?seconds=3")
            time.sleep(0.3)
            # When a request to the same function comes on a route with a 1 s integration timeout
            started = time.monotonic()
            queued = server.post("/gateway-timeout")
            waited = time.monotonic() - started
            # Then API Gateway's timeout answers it after that second, while the first still runs
            assert queued.status == 504
            assert queued.json() == {"message": "Endpoint request timed out"}
            assert 0.8 < waited < 2.5
            assert busy.result().status == 200
        assert "all its 1 workers stayed busy" in server.log


def test_a_freed_slot_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    # Given one slot, taken, and a thread waiting for it
    slots = FifoSlots(1)
    assert slots.acquire(deadline=None)
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append("waiter") if slots.acquire(None) else None)
    waiter.start()
    while not slots.waiting:
        time.sleep(0.01)
    # When the slot is released and a newcomer asks for it at once
    slots.release()
    newcomer = slots.acquire(deadline=time.monotonic())
    waiter.join(timeout=5)
    # Then the waiter has it, and the newcomer does not
    assert got == ["waiter"]
    assert not newcomer


def test_a_bad_concurrency_stops_the_server_naming_the_variable(tmp_path: Path) -> None:
    # Given LOCAL_CONCURRENCY set to something that is not a positive whole number
    exited = start_expecting_exit(MECHANICS_TEMPLATE, server_env(LOCAL_CONCURRENCY="zero"))
    # When the server starts / Then it stops with status 2, naming the variable (not echoing its value)
    assert exited.returncode == 2
    assert "LOCAL_CONCURRENCY: must be a whole number of at least 1" in exited.stderr
    assert "zero" not in exited.stderr
