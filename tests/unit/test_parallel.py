"""speech_common.parallel.built_once: one build for callers that arrive together."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from speech_common.parallel import built_once


def test_callers_arriving_together_wait_for_one_build_and_share_it() -> None:
    # Given a builder that takes a while (as an SDK client does on a cold container)
    builds: list[object] = []

    @built_once()
    def client() -> object:
        time.sleep(0.05)
        builds.append(object())
        return builds[-1]

    start = threading.Barrier(8)

    def first_use(_: int) -> object:
        start.wait()
        return client()

    # When eight threads ask for it at the same moment
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(first_use, range(8)))
    # Then it was built once and every caller got that one
    assert len(builds) == 1
    assert all(each is builds[0] for each in got)
    assert client.cache_info().currsize == 1
    # And cache_clear makes the next caller build anew
    client.cache_clear()
    assert client() is not got[0] and len(builds) == 2


def test_a_bounded_cache_keeps_the_newest_results_by_arguments() -> None:
    # Given a builder keeping one result (a client per API key: a rotated key replaces it)
    @built_once(maxsize=1)
    def client_for(key: str) -> tuple[str, object]:
        return key, object()

    # When it is asked for one key twice, then for another, then the first again
    first, again = client_for("a"), client_for("a")
    other, back = client_for("b"), client_for("a")
    # Then the same key shares a result until another key replaces it
    assert first is again and other[0] == "b"
    assert back is not first and back[0] == "a"
