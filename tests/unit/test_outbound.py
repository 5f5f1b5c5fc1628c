"""The outbound address guard (speech_common/outbound.py): a table of hostile URLs and DNS answers, each refused.

The resolver is faked at the system's edge (socket.getaddrinfo), so our own lookup code runs as deployed."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from speech_common.outbound import RefusedUrl, check_url, parse_target

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

HOSTILE_URLS = [
    # schemes and shapes
    "http://example.com/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://example.com/",
    "https://",
    "https:///path",
    "https://user:pass@example.com/",
    "https://example.com@169.254.169.254/",
    "https://169.254.169.254#@example.com/",
    "https://example.com\\@169.254.169.254/",
    "https://exa mple.com/",
    "https://example.com:0/",
    "https://example.com:99999/",
    "https://xn--exmple-cua.com\u0000.evil/",
    "https://ex\u00e4mple.com/",
    # IPv4 literals
    "https://127.0.0.1/",
    "https://10.0.0.1/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.170.2/v2/credentials",
    "https://100.64.0.1/",
    "https://100.100.100.200/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://239.255.255.250/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://192.0.2.1/",
    "https://198.18.0.1/",
    # IPv4 in other spellings (inet_aton reads these as loopback or metadata)
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0x7f.0.0.1/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://127.0.1/",
    "https://0251.0376.0251.0376/",
    "https://0xa9fea9fe/",
    "https://169.254.169.254./",
    "https://010.0.0.1/",
    "https://1.2.3.04/",
    "https://example.123/",
    # IPv6 literals
    "https://[::1]/",
    "https://[::]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[0000:0000:0000:0000:0000:0000:0000:0001]/",
    "https://[fe80::1]/",
    "https://[fe80::1%25eth0]/",
    "https://[fc00::1]/",
    "https://[fd00:ec2::254]/",
    "https://[ff02::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:0:7f00:1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[::127.0.0.1]/",
    "https://[::169.254.169.254]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:a9fe:a9fe::]/",
    "https://[64:ff9b::127.0.0.1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[64:ff9b:1::a00:1]/",
    "https://[2001::1]/",
    "https://[2001:db8::1]/",
    "https://[not-an-address]/",
]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The system resolver's answers by host name (unknown names do not resolve)."""
    answers: dict[str, list[str]] = {"example.com": [PUBLIC_V4, PUBLIC_V6]}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_url_is_refused(resolver: dict[str, list[str]], url: str) -> None:
    # Given a URL that names, hides or leads to an address the service may not call
    # When it is checked as a deployed API checks it
    # Then it is refused, with a reason that does not quote the URL
    with pytest.raises(RefusedUrl) as refused:
        check_url(url)
    assert refused.value.code == "url_not_allowed"
    assert "169.254" not in refused.value.detail and "example" not in refused.value.detail


HOSTILE_ANSWERS = [
    ["127.0.0.1"],
    ["10.1.2.3"],
    ["169.254.169.254"],
    ["100.64.1.1"],
    ["0.0.0.0"],
    ["::1"],
    ["fd00:ec2::254"],
    ["fe80::1%2"],
    ["::ffff:10.0.0.1"],
    ["64:ff9b::a9fe:a9fe"],
    ["2002:c0a8:0101::1"],
    [PUBLIC_V4, "127.0.0.1"],  # every answer is checked, not the first
    [PUBLIC_V6, "192.168.0.1"],
    ["not an address"],
]


@pytest.mark.parametrize("answers", HOSTILE_ANSWERS)
def test_a_name_that_resolves_to_a_refused_address_is_refused(
    resolver: dict[str, list[str]], answers: list[str]
) -> None:
    # Given a host name whose DNS answers include an address the service may not call
    resolver["rebind.example.net"] = answers
    # When a URL naming it is checked
    # Then it is refused
    with pytest.raises(RefusedUrl):
        check_url("https://rebind.example.net/hook")


def test_a_name_that_does_not_resolve_is_refused_at_submission(resolver: dict[str, list[str]]) -> None:
    # Given a host name with no DNS answer
    # When a URL naming it is checked
    # Then it is refused as unreachable
    with pytest.raises(RefusedUrl, match="cannot be reached"):
        check_url("https://nowhere.example.org/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook?token=1",
        "https://example.com:8443/x",
        f"https://{PUBLIC_V4}/",
        f"https://[{PUBLIC_V6}]/",
    ],
)
def test_a_public_https_url_is_accepted(resolver: dict[str, list[str]], url: str) -> None:
    # Given a public https URL (by name or by a public address)
    # When it is checked
    target = check_url(url)
    # Then it passes, its host kept for the job's view
    assert target.scheme == "https"
    assert target.host in ("example.com", PUBLIC_V4, PUBLIC_V6)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "http://localhost:9000/x", "http://[::1]:9000/", "https://127.0.0.1/"],
)
def test_loopback_is_allowed_only_where_the_local_server_allows_it(
    resolver: dict[str, list[str]], url: str
) -> None:
    # Given a loopback URL (plain http included), and a resolver that answers localhost with loopback
    resolver["localhost"] = ["127.0.0.1", "::1"]
    # When it is checked deployed, and under make serve (loopback allowed)
    with pytest.raises(RefusedUrl):
        check_url(url)
    target = check_url(url, allow_loopback=True)
    # Then deployed refuses it and make serve takes it
    assert target.host in ("127.0.0.1", "localhost", "::1")


@pytest.mark.parametrize(
    "url", ["http://example.com/", "http://10.0.0.1/", "https://10.0.0.1/", "https://169.254.169.254/"]
)
def test_loopback_allowed_still_refuses_plain_http_elsewhere_and_private_addresses(
    resolver: dict[str, list[str]], url: str
) -> None:
    # Given make serve's setting (loopback allowed)
    # When a URL to a public name over plain http, or to a private or metadata address, is checked
    # Then it is still refused
    with pytest.raises(RefusedUrl):
        check_url(url, allow_loopback=True)


def test_plain_http_to_a_name_resolving_beyond_loopback_is_refused_under_make_serve(
    resolver: dict[str, list[str]],
) -> None:
    # Given a name spelled like loopback's that resolves to a public address
    resolver["localhost"] = [PUBLIC_V4]
    # When a plain http URL naming it is checked under make serve
    # Then it is refused: plain http only reaches this machine
    with pytest.raises(RefusedUrl):
        check_url("http://localhost:8080/", allow_loopback=True)


def test_the_query_is_kept_to_be_sent() -> None:
    # Given a URL with a query (a signed link's token)
    # When it is parsed
    target = parse_target("https://bucket.example.com/a.mp3?X-Amz-Signature=abc")
    # Then the request line keeps it, and the Host header is the name
    assert target.path_and_query == "/a.mp3?X-Amz-Signature=abc"
    assert target.host_header == "bucket.example.com"
