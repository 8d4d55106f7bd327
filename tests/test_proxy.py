"""Proxies: choosing one from the option or the environment, and the CONNECT exchange."""

from __future__ import annotations

import base64
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatarwire.core.endpoints import parse_endpoint
from avatarwire.core.errors import AvatarError, ConfigError, ErrorCode, Phase, RemoteProtocolError
from avatarwire.core.proxy import (
    MAX_PROXY_RESPONSE,
    Proxy,
    TunnelExchange,
    TunnelState,
    bypasses_proxy,
    parse_proxy_url,
    proxy_for,
)

SECURE = parse_endpoint("wss://ingress.example.com/v2/x", field="ingress", websocket=True)
PLAIN = parse_endpoint("http://console.example.com:8080/v1", field="console", websocket=False)
PASSWORD = "s3cret-proxy-pass"


def tunnel(proxy: Proxy | None = None, target: object = SECURE) -> TunnelExchange:
    return TunnelExchange(
        proxy or Proxy("proxy.local", 3128), target, phase=Phase.WEBSOCKET_CONNECT
    )  # type: ignore[arg-type]


# --- which proxy -------------------------------------------------------------------------


def test_https_targets_use_https_proxy_and_plain_ones_http_proxy() -> None:
    environ = {"HTTPS_PROXY": "http://secure-proxy:3128", "HTTP_PROXY": "plain-proxy:8000"}
    assert proxy_for(SECURE, explicit=None, environ=environ) == Proxy("secure-proxy", 3128)
    assert proxy_for(PLAIN, explicit=None, environ=environ) == Proxy("plain-proxy", 8000)


def test_lower_case_variables_win_and_all_proxy_is_the_fallback() -> None:
    environ = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}
    assert proxy_for(SECURE, explicit=None, environ=environ) == Proxy("lower", 1)
    assert proxy_for(SECURE, explicit=None, environ={"ALL_PROXY": "http://all:3"}) == Proxy(
        "all", 3
    )
    assert proxy_for(SECURE, explicit=None, environ={}) is None


def test_an_explicit_proxy_beats_the_environment_and_false_means_direct() -> None:
    environ = {"HTTPS_PROXY": "http://env:1"}
    assert proxy_for(SECURE, explicit="http://given:2", environ=environ) == Proxy("given", 2)
    assert proxy_for(SECURE, explicit=False, environ=environ) is None
    assert proxy_for(SECURE, explicit=True, environ=environ) == Proxy("env", 1)


@pytest.mark.parametrize(
    "no_proxy",
    [
        "*",
        "ingress.example.com",
        "example.com",
        ".example.com",
        "*.example.com",
        "other, EXAMPLE.com",
        "example.com:443",
    ],
)
def test_no_proxy_entries_that_bypass(no_proxy: str) -> None:
    environ = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert proxy_for(SECURE, explicit=None, environ=environ) is None


@pytest.mark.parametrize("no_proxy", ["", "ample.com", "example.org", "example.com:8443", ",,"])
def test_no_proxy_entries_that_do_not(no_proxy: str) -> None:
    environ = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert proxy_for(SECURE, explicit=None, environ=environ) == Proxy("p", 1)


def test_no_proxy_matches_addresses_and_ranges() -> None:
    assert bypasses_proxy("127.0.0.1", 80, "127.0.0.1")
    assert bypasses_proxy("10.1.2.3", 80, "10.0.0.0/8")
    assert bypasses_proxy("::1", 443, "[::1]:443")
    assert bypasses_proxy("::1", 443, "::1")
    assert not bypasses_proxy("::1", 80, "[::1]:443")
    assert not bypasses_proxy("10.1.2.3", 80, "localhost,not-a-network/99")
    assert not bypasses_proxy("localhost", 80, "127.0.0.1")


def test_no_proxy_applies_to_an_explicit_proxy_too() -> None:
    environ = {"no_proxy": "example.com"}
    assert proxy_for(SECURE, explicit="http://given:2", environ=environ) is None


# --- proxy URLs ----------------------------------------------------------------------------


def test_a_proxy_url_with_credentials_parses_and_never_shows_them() -> None:
    proxy = parse_proxy_url(f"http://al%40ice:{PASSWORD}@[::1]:3128")
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (
        "::1",
        3128,
        "al@ice",
        PASSWORD,
    )
    assert proxy.origin == "http://[::1]:3128"
    assert PASSWORD not in repr(proxy) and "al@ice" not in repr(proxy)
    assert "credentials=***" in repr(proxy)
    expected = base64.b64encode(f"al@ice:{PASSWORD}".encode()).decode()
    assert proxy.authorization == f"Basic {expected}"
    assert repr(Proxy("h", 1)) == "Proxy('http://h:1')"
    assert Proxy("h", 1).authorization is None


def test_a_proxy_url_without_a_port_uses_8080() -> None:
    assert parse_proxy_url("proxy.local").port == 8080


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "http://"),
        ("https://proxy:3128", "only plain http://"),
        ("socks5://proxy:1080", "only plain http://"),
        ("http://proxy:99999", "does not parse"),
        ("http://:3128", "no host"),
        ("http://proxy:3128/path", "no path"),
        ("http://user:pa%0Ass@proxy:3128", "control characters"),
    ],
)
def test_bad_proxy_urls_are_refused_without_showing_the_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_proxy_url(url, field="HTTPS_PROXY")
    assert says in str(caught.value)
    assert "HTTPS_PROXY" in str(caught.value)
    assert "pa%0Ass" not in str(caught.value)


def test_a_non_string_proxy_is_refused() -> None:
    with pytest.raises(ConfigError, match="proxy: got 42"):
        parse_proxy_url(42)  # type: ignore[arg-type]


# --- the CONNECT exchange -------------------------------------------------------------------


def test_connect_names_the_target_and_sends_basic_credentials() -> None:
    exchange = tunnel(Proxy("proxy.local", 3128, "user", PASSWORD))
    request = exchange.data_to_send()
    assert request.startswith(b"CONNECT ingress.example.com:443 HTTP/1.1\r\n")
    assert b"host: ingress.example.com:443\r\n" in request.lower()
    token = base64.b64encode(f"user:{PASSWORD}".encode())
    assert b"Proxy-Authorization: Basic " + token in request
    assert exchange.data_to_send() == b""


def test_connect_to_an_ipv6_target_brackets_it() -> None:
    target = parse_endpoint("http://[::1]:8765/", field="console", websocket=False)
    assert tunnel(target=target).data_to_send().startswith(b"CONNECT [::1]:8765 HTTP/1.1")


@pytest.mark.parametrize("split", [1, 7, 1000])
def test_a_2xx_opens_the_tunnel_in_any_chunking(split: int) -> None:
    exchange = tunnel()
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\n\r\n"
    for start in range(0, len(answer), split):
        assert not exchange.done
        exchange.receive_data(answer[start : start + split])
    assert exchange.done and exchange.error is None
    assert exchange.state is TunnelState.OPEN
    exchange.raise_for_outcome()
    exchange.receive_data(b"ignored once done")
    assert "open" in repr(exchange)


def test_a_407_is_connection_failed_with_the_proxy_status_and_no_secret() -> None:
    proxy = Proxy("proxy.local", 3128, "user", PASSWORD)
    exchange = tunnel(proxy)
    assert "waiting" in repr(exchange)
    exchange.receive_data(
        b"HTTP/1.1 407 Proxy Authentication Required (" + PASSWORD.encode() + b")\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    error = exchange.error
    assert error is not None and exchange.done
    assert exchange.state is TunnelState.FAILED and "failed" in repr(exchange)
    assert (error.code, error.phase, error.http_status) == (
        ErrorCode.CONNECTION_FAILED,
        Phase.WEBSOCKET_CONNECT,
        407,
    )
    assert "proxy refused the tunnel: HTTP 407" in error.message
    assert "http://proxy.local:3128" in error.message
    for text in (str(error), repr(error), repr(exchange)):
        assert PASSWORD not in text
    with pytest.raises(AvatarError) as caught:
        exchange.raise_for_outcome()
    assert caught.value is error


def test_eof_before_an_answer_is_connection_failed() -> None:
    exchange = tunnel()
    exchange.receive_data(b"HTTP/1.1 200 OK\r\n")
    exchange.receive_data(b"")
    assert exchange.error is not None
    assert "closed the connection before answering" in exchange.error.message
    assert exchange.error.code is ErrorCode.CONNECTION_FAILED


def test_garbage_and_oversized_answers_are_the_proxys_fault() -> None:
    garbage = tunnel()
    garbage.receive_data(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert isinstance(garbage.error, RemoteProtocolError)
    assert garbage.error.code is ErrorCode.CONNECTION_FAILED
    huge = tunnel()
    huge.receive_data(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_PROXY_RESPONSE)
    assert isinstance(huge.error, RemoteProtocolError)
    assert "exceeds" in huge.error.message


def test_bytes_after_the_2xx_before_the_client_spoke_are_refused() -> None:
    exchange = tunnel()
    exchange.receive_data(b"HTTP/1.1 200 OK\r\n\r\nSURPRISE")
    assert isinstance(exchange.error, RemoteProtocolError)
    assert "sent 8 bytes after opening the tunnel" in exchange.error.message


def test_the_outcome_is_not_known_before_the_answer() -> None:
    exchange = tunnel()
    with pytest.raises(AvatarError, match="not open yet"):
        exchange.raise_for_outcome()


ANSWERS = st.sampled_from(
    [
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 OK\r\n\r\n",
        b"HTTP/1.1 407 Auth " + PASSWORD.encode() + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nearly",
        b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
        b"garbage\r\n\r\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    answer=st.one_of(ANSWERS, st.binary(max_size=300)),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    eof=st.booleans(),
)
def test_any_answer_in_any_chunking_fails_with_its_cause_or_opens_and_never_shows_secrets(
    answer: bytes, cuts: list[int], eof: bool
) -> None:
    exchange = tunnel(Proxy("proxy.local", 3128, "user", PASSWORD))
    exchange.data_to_send()
    bounds = sorted({0, len(answer), *(cut for cut in cuts if cut < len(answer))})
    pieces = [answer[a:b] for a, b in itertools.pairwise(bounds)]
    for piece in [*pieces, *([b""] if eof else [])]:
        was = (exchange.state, exchange.error)
        exchange.receive_data(piece)
        if was[0] is not TunnelState.WAITING:
            assert (exchange.state, exchange.error) == was, "the outcome changed once known"
        assert (exchange.state is TunnelState.FAILED) == (exchange.error is not None)
        assert exchange.done == (exchange.state is not TunnelState.WAITING)
    if eof:
        assert exchange.done
    if exchange.error is not None:
        assert isinstance(exchange.error, AvatarError)
        assert exchange.error.code is ErrorCode.CONNECTION_FAILED
        with pytest.raises(AvatarError) as caught:
            exchange.raise_for_outcome()
        assert caught.value is exchange.error
        for text in (str(exchange.error), repr(exchange.error), repr(exchange)):
            assert PASSWORD not in text
