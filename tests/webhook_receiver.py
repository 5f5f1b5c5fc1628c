"""A webhook receiver and a file server on loopback, for the webhook and audio_url tests (integration and e2e).

The receiver verifies each delivery as docs/api.md tells receivers to: standardwebhooks.Webhook(secret).verify."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: Any  # what Webhook.verify returned (the parsed JSON), or the exception it raised


@dataclass
class Receiver:
    secret: str
    statuses: list[int] = field(default_factory=list)  # answered in turn; 204 once they run out
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            verified: Any = Webhook(self.secret).verify(body, headers)
        except Exception as exc:
            verified = exc
        with self.arrived:
            self.deliveries.append(Delivery(headers, body, verified))
            self.arrived.notify_all()
            return self.statuses.pop(0) if self.statuses else 204

    def wait_for(self, count: int, timeout: float) -> list[Delivery]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return list(self.deliveries)


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def webhook_receiver(secret: str, statuses: list[int] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(secret, list(statuses or []))

    class Handler(_Quiet):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.answer({k: v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with _serving(Handler) as port:
        receiver.url = f"http://127.0.0.1:{port}/hooks/speech"
        yield receiver


@contextmanager
def file_server(files: dict[str, bytes]) -> Iterator[str]:
    """Serves `files` by path (GET); its base URL. Anything else is a 404."""

    class Handler(_Quiet):
        def do_GET(self) -> None:
            data = files.get(self.path.split("?")[0])
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
