"""Upstream answers read as streams, never past the deadline.

HTTP timeouts bound each read, not the whole answer, and speech is streamed while it is generated:
a slow or trickling answer would outlive the gateway. The answer is read chunk by chunk with the
deadline checked between chunks, and a watchdog shuts the socket down at the deadline so that a
read blocked in recv() ends then too.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from speech_common.deadline import Deadline
from speech_common.errors import UpstreamFailure

type SocketFinder = Callable[[], socket.socket | None]


def deadline_passed(upstream: str) -> UpstreamFailure:
    return UpstreamFailure(UpstreamFailure.TIMEOUT, f"{upstream} did not finish its answer in time")


def read_within(
    chunks: Iterable[bytes], *, find_socket: SocketFinder, deadline: Deadline, upstream: str
) -> bytes:
    """The whole of a lazily read answer, or `upstream_timeout` when the deadline ends it.

    Any other error raised while reading is re-raised for the engine to map.
    """
    return b"".join(iter_within(chunks, find_socket=find_socket, deadline=deadline, upstream=upstream))


def iter_within(
    chunks: Iterable[bytes], *, find_socket: SocketFinder, deadline: Deadline, upstream: str
) -> Iterator[bytes]:
    """A lazily read answer's chunks as they arrive, ended by `upstream_timeout` when the deadline passes.

    Any other error raised while reading is re-raised for the engine to map. Closing the generator early
    stops the watchdog (the caller then closes the answer).
    """
    with SocketWatchdog(find_socket, deadline) as watchdog:
        try:
            for part in chunks:
                yield part
                if deadline.expired():
                    raise deadline_passed(upstream)
        except UpstreamFailure:
            raise
        except Exception:
            if watchdog.fired or deadline.expired():  # the read ended because the socket was shut
                raise deadline_passed(upstream) from None
            raise
    if watchdog.fired:  # a shut socket can also end the stream as a clean, early EOF
        raise deadline_passed(upstream)


def httpx_socket(http_response: Any) -> socket.socket | None:
    """The socket under an httpx2 response still being read (the openai engine's client, and the SDK's transport)."""
    # A response read to its end has handed its connection back to the pool (another call may be
    # using it): leave it alone. HTTP/2 or a custom transport exposes no socket.
    stream = http_response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if http_response.is_closed or not isinstance(sock, socket.socket):
        return None
    return sock


def botocore_socket(streaming_body: Any) -> socket.socket | None:
    """The socket under a botocore StreamingBody (boto3's transport)."""
    # The path botocore.compat.set_socket_timeout takes: StreamingBody -> urllib3 -> http.client.
    try:
        sock = streaming_body._raw_stream._fp.fp.raw._sock
    except AttributeError:
        return None
    return sock if isinstance(sock, socket.socket) else None


class SocketWatchdog:
    """Shuts a socket down when the deadline passes, so that a blocked or trickling read ends.

    Closing a response from another thread does not wake a read blocked in recv() (it waits out
    its per-read timeout); shutting the socket down does. `find_socket` is asked at the deadline:
    None means there is nothing to shut (a stubbed answer, or a connection already handed back
    to the pool).
    """

    def __init__(self, find_socket: SocketFinder, deadline: Deadline) -> None:
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
