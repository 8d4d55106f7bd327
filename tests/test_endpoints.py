"""Endpoint parsing: scheme mapping, query preservation and refusal of unsafe URLs."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avatarwire.core.endpoints import Endpoint, parse_endpoint, with_path, with_query
from avatarwire.core.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "secure", "scheme"),
    [
        ("ws://h.example/x", False, "ws"),
        ("wss://h.example/x", True, "wss"),
        ("http://h.example/x", False, "ws"),
        ("https://h.example/x", True, "wss"),
        ("HTTPS://h.example/x", True, "wss"),
    ],
)
def test_ingress_url_schemes_map_to_websocket_schemes(url: str, secure: bool, scheme: str) -> None:
    endpoint = parse_endpoint(url, field="ingress_url", websocket=True)
    assert endpoint.secure is secure
    assert endpoint.scheme == scheme
    assert endpoint.origin == f"{scheme}://h.example:{443 if secure else 80}"


@pytest.mark.parametrize(("url", "secure"), [("http://h/x", False), ("https://h/x", True)])
def test_console_url_accepts_http_and_https(url: str, secure: bool) -> None:
    endpoint = parse_endpoint(url, field="console_url", websocket=False)
    assert endpoint.secure is secure
    assert endpoint.scheme == ("https" if secure else "http")


@pytest.mark.parametrize("url", ["ws://h/x", "wss://h/x", "ftp://h/x", "h/x"])
def test_console_url_refuses_non_http_schemes(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_endpoint(url, field="console_url", websocket=False)
    assert info.value.field == "console_url"
    assert "http://" in str(info.value) and "https://" in str(info.value)


@pytest.mark.parametrize("url", ["ftp://h/x", "file:///etc/passwd", "h.example/x", "tcp://h:1"])
def test_ingress_url_refuses_other_schemes_naming_field_value_and_allowed(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_endpoint(url, field="ingress_url", websocket=True)
    message = str(info.value)
    assert info.value.field == "ingress_url"
    assert repr(url) in message
    assert all(scheme in message for scheme in ("ws://", "wss://", "http://", "https://"))


@pytest.mark.parametrize(
    "url",
    [
        "wss://h/x\r\nX-Evil: 1",
        "wss://h/x\nfoo",
        "wss://h/x\x00",
        "wss://h/a b",
        "wss://h/x\t",
        " wss://h/x",
        "wss://h/x?q=a b",
        "wss://h\r/x",
        "wss://h/\x7f",
        "wss://h/caf\u00e9",
    ],
)
def test_urls_with_whitespace_control_or_non_ascii_characters_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_endpoint(url, field="ingress_url", websocket=True)
    assert info.value.field == "ingress_url"
    assert "\r" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["wss://", "wss:///path", "wss://:443/x", "http://?q=1"],
)
def test_urls_without_a_host_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="no host"):
        parse_endpoint(url, field="ingress_url", websocket=True)


@pytest.mark.parametrize(
    "url",
    [
        "wss://h:0/x",
        "wss://h:65536/x",
        "wss://h:99999999999/x",
        "wss://h:abc/x",
        "wss://h:+443/x",
        "wss://h:-1/x",
        "wss://[::1]:0/x",
    ],
)
def test_bad_ports_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_endpoint(url, field="ingress_url", websocket=True)
    assert "port" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "wss://user:pw@h/x",
        "wss://h/x#frag",
        "wss://h/x#",
        "wss://[not-ipv6]/x",
        "wss://[::1/x",
        "wss://ho%41st/x",
        "wss://h!st/x",
    ],
)
def test_user_info_fragments_and_malformed_hosts_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(url, field="ingress_url", websocket=True)


def test_user_info_password_is_masked_in_the_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_endpoint("wss://me:hunter2-PASSWORD@h/x", field="ingress_url", websocket=True)
    assert "hunter2-PASSWORD" not in str(info.value)


def test_secret_query_values_are_masked_in_errors_and_reprs() -> None:
    with pytest.raises(ConfigError) as info:
        parse_endpoint("ftp://h/x?sessionKey=TOPSECRET-1", field="ingress_url", websocket=True)
    assert "TOPSECRET-1" not in str(info.value)
    endpoint = parse_endpoint("wss://h/x?a=1&sessionKey=TOPSECRET-2", field="f", websocket=True)
    assert "TOPSECRET-2" not in repr(endpoint)
    assert "TOPSECRET-2" not in endpoint.redacted_url
    assert "TOPSECRET-2" in endpoint.url
    assert "a=1" in repr(endpoint)


def test_non_str_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expected a str"):
        parse_endpoint(b"wss://h/x", field="ingress_url", websocket=True)  # type: ignore[arg-type]


def test_existing_query_parameters_are_kept_in_the_target() -> None:
    endpoint = parse_endpoint("https://h.example/v2/in?region=x&flag", field="f", websocket=True)
    assert endpoint.target == "/v2/in?region=x&flag"
    assert endpoint.path == "/v2/in"
    assert endpoint.query == "region=x&flag"


def test_missing_path_becomes_slash_and_host_is_lowercased() -> None:
    endpoint = parse_endpoint("wss://API.Example.COM", field="f", websocket=True)
    assert endpoint.host == "api.example.com"
    assert endpoint.target == "/"


@pytest.mark.parametrize(
    ("url", "host_header"),
    [
        ("wss://h.example/x", "h.example"),
        ("wss://h.example:443/x", "h.example"),
        ("wss://h.example:8443/x", "h.example:8443"),
        ("ws://h.example:80/x", "h.example"),
        ("ws://h.example:443/x", "h.example:443"),
        ("https://h.example:80/x", "h.example:80"),
        ("ws://127.0.0.1:9000/x", "127.0.0.1:9000"),
        ("ws://[::1]:9000/x", "[::1]:9000"),
        ("wss://[2001:db8::1]/x", "[2001:db8::1]"),
    ],
)
def test_host_header_adds_port_only_when_not_the_scheme_default(url: str, host_header: str) -> None:
    assert parse_endpoint(url, field="f", websocket=True).host_header == host_header


def test_ipv6_host_is_stored_bare_and_bracketed_in_origin() -> None:
    endpoint = parse_endpoint("ws://[::1]:9000/x?y=1", field="f", websocket=True)
    assert endpoint.host == "::1"
    assert endpoint.origin == "ws://[::1]:9000"
    assert endpoint.url == "ws://[::1]:9000/x?y=1"


@pytest.mark.parametrize(
    ("base", "target"),
    [
        ("https://h/v1/console", "/v1/console/session-tokens"),
        ("https://h/v1/console/", "/v1/console/session-tokens"),
        ("https://h/v1/console//", "/v1/console/session-tokens"),
        ("https://h", "/session-tokens"),
        ("https://h/v1/console?x=1", "/v1/console/session-tokens?x=1"),
    ],
)
def test_with_path_appends_one_segment_without_doubling_slashes(base: str, target: str) -> None:
    endpoint = parse_endpoint(base, field="f", websocket=False)
    assert with_path(endpoint, "session-tokens").target == target
    assert endpoint.with_path("/session-tokens").target == target


def test_with_query_appends_after_existing_parameters_percent_encoded() -> None:
    endpoint = parse_endpoint("wss://h/v2/in/?tenant=a", field="f", websocket=True)
    built = with_query(endpoint.with_path("websocket"), [("id", "av 1/&=?#é")])
    assert built.target == "/v2/in/websocket?tenant=a&id=av%201%2F%26%3D%3F%23%C3%A9"
    assert parse_qsl(built.query) == [("tenant", "a"), ("id", "av 1/&=?#é")]


def test_with_query_on_an_endpoint_without_query_starts_one() -> None:
    endpoint = parse_endpoint("wss://h/x", field="f", websocket=True)
    assert endpoint.with_query([("a", "1"), ("b", "2")]).target == "/x?a=1&b=2"
    assert endpoint.with_query([]) == endpoint


@given(st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=5))
def test_with_query_round_trips_any_text_and_keeps_the_target_sendable(
    params: list[tuple[str, str]],
) -> None:
    endpoint = parse_endpoint("wss://h/x?keep=1", field="f", websocket=True)
    built = endpoint.with_query(params)
    assert parse_qsl(built.query, keep_blank_values=True) == [("keep", "1"), *params]
    assert built.target.isascii()
    assert not any(char.isspace() or ord(char) < 0x20 for char in built.target)


@given(st.text(alphabet=st.sampled_from("\r\n\x00\t \x0b\x0c"), min_size=1), st.integers(0, 12))
def test_any_url_containing_whitespace_or_nul_is_refused(bad: str, position: int) -> None:
    url = "wss://h.example/path"
    position = min(position, len(url))
    with pytest.raises(ConfigError):
        parse_endpoint(url[:position] + bad + url[position:], field="f", websocket=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "", "port": 443, "target": "/"},
        {"host": "h\r\n", "port": 443, "target": "/"},
        {"host": "h", "port": 0, "target": "/"},
        {"host": "h", "port": True, "target": "/"},
        {"host": "h", "port": 443, "target": "x"},
        {"host": "h", "port": 443, "target": "/a\r\nX: y"},
    ],
)
def test_endpoint_built_directly_is_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Endpoint(secure=True, **kwargs)  # type: ignore[arg-type]


def test_endpoint_is_frozen_and_hashable() -> None:
    endpoint = Endpoint(secure=False, host="127.0.0.1", port=8080, target="/x")
    assert hash(endpoint) == hash(Endpoint(False, "127.0.0.1", 8080, "/x"))
    with pytest.raises(AttributeError):
        endpoint.port = 1  # type: ignore[misc]
