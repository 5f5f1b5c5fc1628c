"""What more than one engine needs: voice maps, text cut into chunks, retries within a deadline."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Final

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from speech_common.deadline import Deadline

# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_SECONDS: Final = 1.0
MAX_RETRY_AFTER_SECONDS: Final = 5.0

_SENTENCE_BREAK = re.compile(r"(?<=[.!?;:…。！？])\s+|\s*\n\s*")


def parse_voice_map(spec: str) -> dict[str, str]:
    """ "fable=ballad;onyx=cedar" -> {"fable": "ballad", "onyx": "cedar"} (malformed entries ignored)."""
    mapping: dict[str, str] = {}
    for entry in spec.split(";"):
        name, sep, voice_id = entry.partition("=")
        if sep and name.strip() and voice_id.strip():
            mapping[name.strip().lower()] = voice_id.strip()
    return mapping


def split_text(text: str, limit: int, *, size: Callable[[str], int] = len) -> list[str]:
    """Chunks of at most `limit` (as `size` counts), cut at sentence ends, else between words.

    Text that fits is returned whole and unchanged; `size` must be additive over concatenation.
    """
    if size(text) <= limit:
        return [text] if text.strip() else []
    sentences = (sentence.strip() for sentence in _SENTENCE_BREAK.split(text.strip()))
    pieces = (piece for sentence in sentences for piece in _fit(sentence, limit, size))
    return _pack(filter(None, pieces), limit, size, " ")


def _fit(sentence: str, limit: int, size: Callable[[str], int]) -> list[str]:
    """A sentence cut between words into parts within `limit` (an over-long word is cut anywhere)."""
    if size(sentence) <= limit:
        return [sentence]
    words = (part for word in sentence.split() for part in _pack(word, limit, size, ""))
    return _pack(words, limit, size, " ")


def _pack(pieces: Iterable[str], limit: int, size: Callable[[str], int], joiner: str) -> list[str]:
    """Consecutive pieces joined by `joiner` into as few parts within `limit` as go in order."""
    packed: list[str] = []
    current, current_size = "", 0
    gap = size(joiner)
    for piece in pieces:
        piece_size = size(piece)
        if current and current_size + gap + piece_size <= limit:
            current, current_size = current + joiner + piece, current_size + gap + piece_size
            continue
        if current:
            packed.append(current)
        current, current_size = piece, piece_size
    if current:
        packed.append(current)
    return packed


def retry_within_deadline[T](
    attempt: Callable[[float], T],
    *,
    deadline: Deadline,
    max_attempts: int,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float] = lambda _: 0.0,
) -> T:
    """`attempt(seconds_left)`, retried with jittered backoff on transient errors, never past the deadline.

    A retry waits at least what the upstream asked for (`retry_after`, capped), and none starts
    with less than MIN_ATTEMPT_SECONDS left: the last error is raised instead.
    """
    backoff = wait_exponential_jitter(multiplier=0.25, max=2.0, jitter=0.25)

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        asked = min(retry_after(failure), MAX_RETRY_AFTER_SECONDS) if failure else 0.0
        return max(backoff(state), asked)

    def stop(state: RetryCallState) -> bool:
        no_time = deadline.remaining() - state.upcoming_sleep < MIN_ATTEMPT_SECONDS
        return state.attempt_number >= max_attempts or no_time

    for try_ in Retrying(stop=stop, wait=wait, retry=retry_if_exception(is_transient), reraise=True):
        with try_:
            return attempt(deadline.remaining())
    raise AssertionError("unreachable: Retrying either returns or re-raises")


class SocketWatchdog:
    """Shuts a socket down when the deadline passes, so that a blocked or trickling read ends.

    SDK timeouts bound each read, not the whole answer. Closing a response from another thread
    does not wake a read blocked in recv() (it waits out its per-read timeout); shutting the
    socket down does. `find_socket` is asked at the deadline: None means there is nothing to shut
    (a stubbed answer, or a connection already handed back to the pool).
    """

    def __init__(self, find_socket: Callable[[], socket.socket | None], deadline: Deadline) -> None:
        self.fired = False
        self._find_socket = find_socket
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> SocketWatchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        # cancel() does not wait for a _fire already running: once this returns, none may shut the
        # socket, which may be back in the pool serving another call.
        with self._lock:
            self._done = True

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            sock = self._find_socket()
            if sock is None:
                return
            self.fired = True
            # The plain socket's shutdown, also for TLS (SSLSocket.shutdown would drop its SSL object
            # under the reading thread); OSError: already closed, and the read has ended anyway.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
