"""outbound.request against real HTTP(S) servers on loopback: the connection goes to the checked address (pinned)
with TLS verified for the URL's host name, no redirect is followed, the answer's size is capped. The resolver is
faked at the system's edge (socket.getaddrinfo): a public-looking name that answers with this machine."""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from speech_common.outbound import FetchFailed, RefusedUrl, request

HOOK_HOST = "hooks.example.com"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        body = b"x" * (10_000 if self.path.startswith("/big") else 10)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Host-Seen", self.headers.get("Host", ""))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a handshake the client refused (the wrong-name test) is expected, not printed


def serving(cert: tuple[Path, Path] | None) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = QuietServer(("127.0.0.1", 0), Handler)
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@pytest.fixture
def resolves_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == HOOK_HOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert = certificate(tmp_path, HOOK_HOST)
    server, port = serving(cert)
    yield port, cert[0]
    server.shutdown()


@pytest.fixture
def plain_server() -> Iterator[int]:
    server, port = serving(None)
    yield port
    server.shutdown()


def test_tls_is_verified_for_the_host_name_on_the_pinned_address(
    resolves_to_loopback: None, tls_server: tuple[int, Path]
) -> None:
    # Given an https server on loopback whose certificate names hooks.example.com, and that name resolving to it
    port, ca = tls_server
    # When the URL naming the host is requested (loopback allowed, as under make serve)
    answer = request("GET", f"https://{HOOK_HOST}:{port}/ok", allow_loopback=True, ca_certs=str(ca))
    # Then the connection went to the checked address, TLS verified for the name, the Host header the name
    assert answer.status == 200
    assert answer.headers["X-Host-Seen"] == f"{HOOK_HOST}:{port}"


def test_tls_fails_when_the_certificate_is_for_another_name(
    resolves_to_loopback: None, tmp_path: Path, tls_server: tuple[int, Path]
) -> None:
    # Given the same server, asked for by its address (no name its certificate carries)
    port, ca = tls_server
    # When it is requested
    # Then TLS fails: the certificate is checked against the URL's host, not merely the connection's address
    with pytest.raises(FetchFailed, match="TLS"):
        request("GET", f"https://127.0.0.1:{port}/ok", allow_loopback=True, ca_certs=str(ca))


def test_a_redirect_is_not_followed(plain_server: int) -> None:
    # Given a server that redirects to the metadata address
    # When it is requested
    # Then the request fails without following it
    with pytest.raises(FetchFailed, match="redirects are not followed"):
        request("GET", f"http://127.0.0.1:{plain_server}/redirect", allow_loopback=True)


def test_the_answer_is_read_up_to_the_cap(plain_server: int) -> None:
    # Given a server whose answer is 10,000 bytes
    # When it is read with a cap of 1,000 bytes
    # Then the read stops with a failure that says so
    with pytest.raises(FetchFailed, match="larger than 1,000 bytes"):
        request("GET", f"http://127.0.0.1:{plain_server}/big", allow_loopback=True, max_bytes=1000)


def test_loopback_is_refused_when_deployed(plain_server: int) -> None:
    # Given the same server, and no loopback allowance (as deployed)
    # When it is requested
    # Then it is refused before any connection
    with pytest.raises(RefusedUrl):
        request("GET", f"http://127.0.0.1:{plain_server}/ok")
