"""Requests to addresses a caller gave (a job's webhook_url, its audio_url), under one set of address rules.

The guard: https only (plain http to loopback only where the local server allows loopback); no userinfo; a host
that is a name or a canonical IP literal (no octal, hex, decimal or shortened IPv4 spellings, no IPv6 zone); every
address the name resolves to public (not private, loopback, link-local, CGNAT, multicast, reserved, unspecified,
documentation or a cloud's metadata address, also when it hides in an IPv6 form: IPv4-mapped or -compatible, 6to4,
Teredo, NAT64). The connection then goes to the address that was checked (pinned: no second lookup that a
rebinding name could answer differently), with TLS verified for the host name; no redirect is followed; the
time and the size read are capped.

urllib3 (botocore's HTTP client, so already in the layer) is imported on first use.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address
type Resolver = Callable[[str, int], list[str]]

MAX_URL_CHARS = 2048
RESOLVE_SECONDS = 3.0
CONNECT_SECONDS = 5.0
READ_SECONDS = 10.0
CHUNK_BYTES = 64 * 1024

# Cloud metadata services, named although each is also in a refused range: a reader sees they are meant.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# A label of an IPv4 address as inet_aton reads it: decimal, octal (leading 0) or hex (0x).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$", re.I
)


class RefusedUrl(InvalidRequest):
    """The URL, or an address its host resolves to, is not one the service may call."""

    code = ErrorCode.URL_NOT_ALLOWED


class FetchFailed(Exception):
    """A request that passed the guard did not succeed: `reason` is safe to show (it quotes no URL)."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Target:
    """A URL that passed the syntactic rules: its parts, the query kept only to be sent."""

    scheme: str
    host: str  # a name (lower case) or an IP literal without brackets
    port: int
    path_and_query: str

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return shown if self.port == default else f"{shown}:{self.port}"


def refused_address(address: Address, *, allow_loopback: bool = False) -> str | None:
    """Why the service may not connect to `address`; None when it may."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refused_address(embedded, allow_loopback=allow_loopback)
            return f"an IPv6 form of {reason}" if reason else None
        if address.teredo is not None:
            return "a Teredo address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: IPv4-mapped, IPv4-compatible (::a.b.c.d), 6to4, NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = address.packed
    if any(address in network for network in NAT64_NETWORKS) or (
        packed[:12] == bytes(12) and int(address) > 1  # ::a.b.c.d (deprecated), not :: or ::1
    ):
        return ipaddress.IPv4Address(packed[12:])
    return None


def parse_target(url: str, *, allow_loopback: bool = False) -> Target:
    """The URL's parts, once it passes the rules that need no lookup; RefusedUrl says which it broke."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    port = _port_of(parts, scheme)
    host = (parts.hostname or "").lower()
    if not host:
        raise RefusedUrl("the URL has no host")
    literal = _ip_literal(host, bracketed=parts.netloc.split("]")[0].startswith("["))
    if literal is not None:
        reason = refused_address(literal, allow_loopback=allow_loopback)
        if reason:
            raise RefusedUrl(f"the URL's host is {reason}")
    if scheme == "http" and not (allow_loopback and _is_loopback_host(host, literal)):
        raise RefusedUrl("the URL must be https:// (plain http only to this machine, under make serve)")
    path = parts.path or "/"
    return Target(scheme, host, port, path + (f"?{parts.query}" if parts.query else ""))


def _split(url: str) -> SplitResult:
    """The URL's parts, when its characters, scheme and authority are ones the rules take."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise RefusedUrl(f"the URL must be 1 to {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url) or not url.isascii():
        raise RefusedUrl("the URL holds spaces, control characters, backslashes or non-ASCII characters")
    try:
        parts = urlsplit(url)
    except ValueError:  # a [host] that is not an IPv6 address
        raise RefusedUrl("the URL is malformed") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise RefusedUrl("the URL must be https://")
    if "@" in parts.netloc:
        raise RefusedUrl("the URL may not carry a user name or password")
    if parts.fragment:
        raise RefusedUrl("the URL may not carry a #fragment")
    return parts


def _port_of(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    except ValueError:
        raise RefusedUrl("the URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise RefusedUrl("the URL's port is not a number from 1 to 65535")
    return port


def _ip_literal(host: str, *, bracketed: bool) -> Address | None:
    """The host as an IP address when it is one; RefusedUrl for spellings that only some parsers read as one."""
    if bracketed:
        if "%" in host:
            raise RefusedUrl("the URL's IPv6 host may not name a zone")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise RefusedUrl("the URL's [host] is not an IPv6 address") from None
    labels = host.rstrip(".").split(".")
    if all(_NUMERIC_LABEL.match(label) for label in labels) or _NUMERIC_LABEL.match(labels[-1]):
        try:  # only the canonical dotted quad: 0x7f.1, 0177.0.0.1, 2130706433, 127.1 are refused
            if host.count(".") != 3 or any(len(label) > 1 and label[0] == "0" for label in labels):
                raise ValueError
            return ipaddress.IPv4Address(host)
        except ValueError:
            raise RefusedUrl("the URL's host is an IPv4 address in a non-canonical spelling") from None
    if not _HOST_NAME.match(host):
        raise RefusedUrl("the URL's host is not a valid host name")
    return None


def _is_loopback_host(host: str, literal: Address | None) -> bool:
    return (literal is not None and literal.is_loopback) or host.rstrip(".") == "localhost"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives `host` (getaddrinfo, both families)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in answers]


def resolved(target: Target, *, allow_loopback: bool = False, resolver: Resolver | None = None) -> Address:
    """The address to connect to: every answer of the lookup checked, the first one kept (pinned)."""
    literal = _ip_literal(target.host, bracketed=":" in target.host)
    if literal is not None:
        return literal
    lookup = resolver or system_resolver
    # getaddrinfo has no timeout of its own.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="resolve")
    try:
        answers = pool.submit(lookup, target.host, target.port).result(timeout=RESOLVE_SECONDS)
    except FutureTimeout:
        raise FetchFailed("the host's name did not resolve in time") from None
    except OSError:
        raise FetchFailed("the host's name does not resolve") from None
    finally:
        pool.shutdown(wait=False)
    addresses = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer.split("%")[0])
        except ValueError:
            raise RefusedUrl("the URL's host resolves to something that is not an address") from None
        reason = refused_address(address, allow_loopback=allow_loopback)
        if reason:
            raise RefusedUrl(f"the URL's host resolves to {reason}")
        addresses.append(address)
    if not addresses:
        raise FetchFailed("the host's name does not resolve")
    if target.scheme == "http" and not all(a.is_loopback for a in addresses):
        raise RefusedUrl("the URL must be https:// (plain http only to this machine, under make serve)")
    return addresses[0]


def check_url(url: str, *, allow_loopback: bool = False, resolver: Resolver | None = None) -> Target:
    """At submission: the URL's rules and its host's addresses now (checked again when it is called)."""
    target = parse_target(url, allow_loopback=allow_loopback)
    try:
        resolved(target, allow_loopback=allow_loopback, resolver=resolver)
    except FetchFailed as failed:
        raise RefusedUrl(f"the URL cannot be reached: {failed.reason}") from None
    return target


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    allow_loopback: bool = False,
    max_bytes: int = 1024 * 1024,
    total_seconds: float = 30.0,
    resolver: Resolver | None = None,
    ca_certs: str | None = None,
) -> Answer:
    """One request to `url` under the guard: its address checked and pinned, no redirect followed, the answer read
    up to `max_bytes` (FetchFailed past it) within `total_seconds`. RefusedUrl when the address is not allowed,
    FetchFailed for anything else that stops it (its reason names no URL)."""
    give_up_at = time.monotonic() + total_seconds
    target = parse_target(url, allow_loopback=allow_loopback)
    address = resolved(target, allow_loopback=allow_loopback, resolver=resolver)
    pool = _pool(target, address, ca_certs)
    sent = {"Host": target.host_header, "User-Agent": "speech-api", **(headers or {})}
    try:
        response = pool.urlopen(
            method,
            target.path_and_query,
            body=body,
            headers=sent,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
    except Exception as exc:  # urllib3's errors: refused, reset, TLS, timeouts
        raise FetchFailed(_failure_of(exc)) from None
    try:
        if 300 <= response.status < 400:
            raise FetchFailed(
                f"answered {response.status}: redirects are not followed", status=response.status
            )
        try:
            body = _read_capped(response, max_bytes, give_up_at)
        except FetchFailed as failed:  # the status came: a caller that needs no body may still use it
            raise FetchFailed(failed.reason, status=response.status) from None
        return Answer(response.status, dict(response.headers), body)
    finally:
        response.release_conn()
        pool.close()


def _pool(target: Target, address: Address, ca_certs: str | None) -> Any:
    import urllib3

    timeout = urllib3.Timeout(connect=CONNECT_SECONDS, read=READ_SECONDS)
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(str(address), target.port, timeout=timeout, maxsize=1)
    return urllib3.HTTPSConnectionPool(
        str(address),
        target.port,
        timeout=timeout,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_certs or _ca_bundle(),
        server_hostname=target.host,  # SNI, and the name the certificate must carry
        assert_hostname=target.host,
    )


def _ca_bundle() -> str:
    """The CA bundle botocore trusts (certifi's when installed, else the one botocore ships): in the layer either way."""
    from botocore.httpsession import where

    return str(where())


def _read_capped(response: Any, max_bytes: int, give_up_at: float) -> bytes:
    kept = bytearray()
    for chunk in _chunks(response):
        kept += chunk
        if len(kept) > max_bytes:
            raise FetchFailed(f"the answer is larger than {max_bytes:,} bytes")
        if time.monotonic() > give_up_at:
            raise FetchFailed("the answer did not arrive in time")
    return bytes(kept)


def _chunks(response: Any) -> Iterator[bytes]:
    try:
        yield from response.stream(CHUNK_BYTES, decode_content=True)
    except FetchFailed:
        raise
    except Exception as exc:
        raise FetchFailed(_failure_of(exc)) from None


def _failure_of(exc: BaseException) -> str:
    """What stopped a request, in words that quote neither the URL nor the answer."""
    import urllib3.exceptions as errors

    kinds: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
        # NewConnectionError is a ConnectTimeoutError too (urllib3 keeps it so): asked first.
        ((errors.NewConnectionError, ConnectionError), "the connection was refused or failed"),
        ((errors.ConnectTimeoutError,), "the connection timed out"),
        ((errors.ReadTimeoutError, TimeoutError), "the answer did not arrive in time"),
        ((errors.SSLError,), "TLS failed (the certificate is not valid for the host)"),
        ((errors.ProtocolError,), "the connection broke"),
    )
    for types, reason in kinds:
        if isinstance(exc, types):
            return reason
    return f"the request failed ({type(exc).__name__})"
