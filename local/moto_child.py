"""The embedded AWS services' child process (local.local_aws.EmbeddedAws starts it): moto's S3, DynamoDB and SQS on a
loopback port. Apart from moto and werkzeug it imports only the standard library, so it starts in moto's time."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any


def serve_embedded_aws(host: str, port: int) -> None:
    """The child: moto's server on host:port, saying "listening PORT" (or "unavailable WHY") on standard output,
    until standard input closes."""
    # Imported here: moto is a development dependency and takes a moment to import.
    from moto.moto_server import werkzeug_app
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # moto would let every origin call every service; S3 then answers browsers as the bucket's
    # CorsConfiguration (from the template) says, as AWS does.
    werkzeug_app.DISABLE_GLOBAL_CORS = True

    class QuietHandler(MotoRequestHandler):
        # One line per poll would drown the API's log, and presigned URLs carry signatures.
        def log_request(self, *_args: Any) -> None:
            pass

    # Bound here, not by werkzeug, which answers a taken port by printing to stderr and exiting.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        print(f"unavailable {exc.strerror or exc}", flush=True)
        sys.exit(2)
    server = make_server(
        host,
        port,
        _BucketCors(DomainDispatcherApplication(create_backend_app), _moto_bucket_cors),
        threaded=True,
        request_handler=QuietHandler,
        fd=listener.fileno(),
    )
    # Ctrl-C reaches the whole process group: the server that started this one decides when it ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(f"listening {server.server_address[1]}", flush=True)
    # Nobody reads this pipe from now on: moto's own prints would fill it and block the server.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    threading.Thread(target=server.serve_forever, name="embedded-aws", daemon=True).start()
    sys.stdin.read()  # until the parent closes it or ends


def _moto_bucket_cors(bucket: str) -> list[dict[str, Any]]:
    """The bucket's CORS rules as moto holds them (what PutBucketCors set), in PutBucketCors' shape."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    found = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.get(bucket)
    return [
        {"AllowedMethods": rule.allowed_methods or [], "AllowedOrigins": rule.allowed_origins or []}
        for rule in (found.cors if found is not None else ())
    ]


class _BucketCors:
    """moto answers a bucket's CORS preflight by its rules, but not the request that follows (a browser's form upload
    to a presigned POST, or its fetch of a presigned GET): the rules' Access-Control-Allow-Origin is added to that
    answer, as S3 adds it."""

    def __init__(self, app: Any, rules_of: Callable[[str], list[dict[str, Any]]]) -> None:
        self.app = app
        self.rules_of = rules_of

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        allowed = self._allowed_origin(environ)
        if allowed is None:
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(name, value) for name, value in headers if name.lower() != "access-control-allow-origin"]
            return start_response(status, [*kept, ("Access-Control-Allow-Origin", allowed)], exc_info)

        return self.app(environ, start)

    def _allowed_origin(self, environ: Mapping[str, Any]) -> str | None:
        origin = environ.get("HTTP_ORIGIN")
        method = environ.get("REQUEST_METHOD")
        if not origin or method not in ("GET", "POST"):
            return None
        bucket = str(environ.get("PATH_INFO", "")).strip("/").split("/")[0]  # path-style URLs
        for rule in self.rules_of(bucket):
            origins = rule.get("AllowedOrigins") or ()
            if method in (rule.get("AllowedMethods") or ()) and ("*" in origins or origin in origins):
                return "*" if "*" in origins else str(origin)
        return None


if __name__ == "__main__":
    serve_embedded_aws(sys.argv[1], int(sys.argv[2]))
