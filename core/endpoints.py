"""Where the two legs of a session connect: URLs parsed once into what the wire needs.

The console leg is plain HTTP(S); the ingress leg is a WebSocket whose URL may be
given as ``http(s)://`` and is mapped to ``ws(s)://``. A URL that could smuggle a
header or a second request line (CR, LF, NUL, whitespace) never gets this far.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlencode, urlsplit

from .errors import ConfigError

#: Scheme -> (secure, is a WebSocket scheme).
_WEBSOCKET_SCHEMES = {"ws": False, "wss": True, "http": False, "https": True}
_HTTP_SCHEMES = {"http": False, "https": True}

_DEFAULT_PORT = {False: 80, True: 443}

#: A registered host name as RFC 3986 allows it, ASCII only (give IDNs as ``xn--``).
_REG_NAME = re.compile(r"[A-Za-z0-9._~-]+")

#: Query parameter names whose values are kept out of anything shown to people.
_SECRET_NAME_PARTS = ("key", "token", "secret", "password", "passwd", "auth", "signature")

_MAX_SHOWN = 200


def _is_forbidden_char(char: str) -> bool:
    return char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F or not char.isascii()


def _looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def redact_query(query: str) -> str:
    """A query string with the values of secret-looking parameters (``sessionKey``...) masked."""
    if not query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, sep, _value = piece.partition("=")
        pieces.append(f"{name}=***" if sep and _looks_secret(name) else piece)
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """A URL as people may see it: user info and secret-looking query values masked."""
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, tail = rest.partition("/")
        if "@" in authority:
            authority = "***@" + authority.rpartition("@")[2]
        url = scheme + sep + authority + slash + tail
    head, qmark, query = url.partition("?")
    return head + qmark + redact_query(query) if qmark else url


def _shown_url(url: str) -> str:
    """A redacted URL quoted (so CR/LF show as escapes) and cut to a readable length."""
    shown = repr(redact_url(url))
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 4] + "…'"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One validated server address: TLS or not, host, port and the request target."""

    secure: bool
    host: str
    port: int
    target: str
    websocket: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.secure, bool) or not isinstance(self.websocket, bool):
            raise ConfigError(
                "endpoint", repr((self.secure, self.websocket)), "secure and websocket must be bool"
            )
        if (
            not isinstance(self.host, str)
            or not self.host
            or any(map(_is_forbidden_char, self.host))
        ):
            raise ConfigError(
                "endpoint.host",
                repr(self.host),
                "expected a non-empty ASCII host name or IP address",
            )
        if (
            not isinstance(self.port, int)
            or isinstance(self.port, bool)
            or not 1 <= self.port <= 65535
        ):
            raise ConfigError("endpoint.port", repr(self.port), "allowed: an int in 1..65535")
        if (
            not isinstance(self.target, str)
            or not self.target.startswith("/")
            or any(map(_is_forbidden_char, self.target))
        ):
            raise ConfigError(
                "endpoint.target",
                _shown_url(self.target) if isinstance(self.target, str) else repr(self.target),
                "expected a path starting with '/' (plus a query), ASCII, no whitespace",
            )

    @property
    def scheme(self) -> str:
        """``ws``/``wss`` for a WebSocket endpoint, ``http``/``https`` otherwise."""
        base = "ws" if self.websocket else "http"
        return base + "s" if self.secure else base

    @property
    def host_header(self) -> str:
        """The ``Host`` header: host (IPv6 bracketed), plus ``:port`` unless the default."""
        host = _bracketed(self.host)
        return host if self.port == _DEFAULT_PORT[self.secure] else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host:port`` with no path or query, safe to put in messages and logs."""
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}"

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The target's query string, without the ``?`` (empty when there is none)."""
        return self.target.partition("?")[2]

    @property
    def url(self) -> str:
        """The full URL. It may carry query auth: show :attr:`redacted_url` to people instead."""
        return f"{self.scheme}://{self.host_header}{self.target}"

    @property
    def redacted_url(self) -> str:
        """The full URL with the values of secret-looking query parameters masked."""
        return redact_url(self.url)

    def with_path(self, suffix: str) -> Endpoint:
        """This endpoint with ``/suffix`` appended to its path (no doubled ``/``); query kept."""
        path = self.path.rstrip("/") + "/" + quote(suffix.lstrip("/"), safe="/")
        query = self.query
        return self._with_target(f"{path}?{query}" if query else path)

    def with_query(self, params: Sequence[tuple[str, str]]) -> Endpoint:
        """This endpoint with ``params`` (percent-encoded) appended after its existing query."""
        added = urlencode(list(params), quote_via=quote, safe="")
        if not added:
            return self
        query = self.query
        return self._with_target(
            f"{self.path}?{query}&{added}" if query else f"{self.path}?{added}"
        )

    def _with_target(self, target: str) -> Endpoint:
        return Endpoint(self.secure, self.host, self.port, target, self.websocket)

    def __repr__(self) -> str:
        return f"Endpoint({self.redacted_url!r})"


def with_path(endpoint: Endpoint, suffix: str) -> Endpoint:
    """``endpoint`` with ``/suffix`` appended to its path; see :meth:`Endpoint.with_path`."""
    return endpoint.with_path(suffix)


def with_query(endpoint: Endpoint, params: Sequence[tuple[str, str]]) -> Endpoint:
    """``endpoint`` with ``params`` added to its query; see :meth:`Endpoint.with_query`."""
    return endpoint.with_query(params)


def _port_text(netloc: str) -> str:
    """The literal port of a netloc ('' when none), so '+80' or '٨٠' cannot sneak through."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        return hostport.partition("]")[2].partition(":")[2]
    return hostport.rpartition(":")[2] if ":" in hostport else ""


def _split(url: str, field: str, shown: str, allowed: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:
        raise ConfigError(field, shown, f"not a valid URL; {allowed}") from None


def _host(parts: SplitResult, field: str, shown: str) -> str:
    host = parts.hostname
    if not host:
        raise ConfigError(field, shown, "the URL has no host; expected scheme://host[:port][/path]")
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(field, shown, "the bracketed host is not an IPv6 address") from None
    elif not _REG_NAME.fullmatch(host):
        raise ConfigError(
            field, shown, "the host may hold only ASCII letters, digits, '.', '-', '_' and '~'"
        )
    return host


def parse_endpoint(url: str, *, field: str, websocket: bool) -> Endpoint:
    """Validate a console (``websocket=False``) or ingress URL into an :class:`Endpoint`.

    Ingress URLs accept ``ws``/``wss`` and map ``http -> ws``, ``https -> wss``; console
    URLs accept ``http``/``https`` only. Existing query parameters are kept.
    """
    schemes = _WEBSOCKET_SCHEMES if websocket else _HTTP_SCHEMES
    names = [f"{scheme}://" for scheme in schemes]
    allowed = f"allowed: a URL starting with {', '.join(names[:-1])} or {names[-1]}"
    if not isinstance(url, str):
        raise ConfigError(field, f"a {type(url).__name__}", f"expected a str; {allowed}")
    shown = _shown_url(url)
    if any(map(_is_forbidden_char, url)):
        raise ConfigError(
            field,
            shown,
            "the URL must not contain whitespace, control characters (CR, LF, NUL) or "
            "non-ASCII characters (percent-encode them; give IDN hosts as xn--)",
        )
    parts = _split(url, field, shown, allowed)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise ConfigError(field, shown, allowed)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(field, shown, "credentials in the URL (user:pass@) are not supported")
    if "#" in url:
        raise ConfigError(field, shown, "a URL fragment (#...) is not allowed")
    host = _host(parts, field, shown)
    port_text = _port_text(parts.netloc)
    secure = schemes[scheme]
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
            raise ConfigError(field, shown, "the port must be a number in 1..65535")
        port = int(port_text)
    else:
        port = _DEFAULT_PORT[secure]
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Endpoint(secure=secure, host=host, port=port, target=target, websocket=websocket)
