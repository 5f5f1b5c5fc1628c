"""Calls run at once with a bound, results in order, and the first failure stopping the calls not yet begun."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Generator, Hashable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait


class BuiltOnce[R]:
    """functools.lru_cache whose callers, arriving together on a cold container (a text's pieces, read in parallel),
    wait for one build instead of each making its own client or provider."""

    def __init__(self, build: Callable[..., R], maxsize: int | None) -> None:
        self._cached = functools.lru_cache(maxsize=maxsize)(build)
        self._lock = threading.Lock()
        functools.update_wrapper(self, build)

    def __call__(self, *args: Hashable) -> R:
        with self._lock:
            return self._cached(*args)

    def cache_clear(self) -> None:
        self._cached.cache_clear()

    def cache_info(self) -> functools._CacheInfo:
        return self._cached.cache_info()


def built_once[R](maxsize: int | None = None) -> Callable[[Callable[..., R]], BuiltOnce[R]]:
    """Decorate a builder as BuiltOnce, keeping up to `maxsize` results (None: all)."""
    return lambda build: BuiltOnce(build, maxsize)


class Stopped(Exception):
    """Another call of the same batch failed for good: this one's work is no longer wanted."""


def run_all[T, R](
    items: Sequence[T], call: Callable[[T], R], *, parallel: int, stop: threading.Event | None = None
) -> list[R]:
    """`call(item)` for every item, at most `parallel` at once, results in the items' order.

    When one call fails, `stop` is set (calls may check it between attempts) and the calls not yet
    begun are dropped; that first real failure is raised (not a sibling's Stopped).
    """
    stop = stop or threading.Event()

    def guarded(item: T) -> R:
        if stop.is_set():
            raise Stopped()
        try:
            return call(item)
        except BaseException:
            stop.set()  # before this thread takes the next item
            raise

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(items)))) as pool:
        futures = [pool.submit(guarded, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            stop.set()
            for future in futures:
                future.cancel()
            raise _first_failure(futures, failed)
    return [future.result() for future in futures]


def _first_failure[R](futures: list[Future[R]], failed: Future[R]) -> BaseException:
    error = failed.exception()
    assert error is not None
    if isinstance(error, Stopped):
        real = (f.exception() for f in futures if f.done() and not f.cancelled())
        error = next((e for e in real if e is not None and not isinstance(e, Stopped)), error)
    return error


def results_in_order[T, R](items: Sequence[T], call: Callable[[T], R], *, parallel: int) -> Generator[R]:
    """`call(item)` for every item, at most `parallel` at once, each result yielded as soon as it and every one
    before it are done. The first failure is raised in its turn and drops the calls not yet begun, as does
    closing the iterator (a client gone); calls already running finish on their own (within their deadline)."""
    pool = ThreadPoolExecutor(max_workers=max(1, min(parallel, len(items))))
    try:
        futures = [pool.submit(call, item) for item in items]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
