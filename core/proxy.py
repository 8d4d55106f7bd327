"""HTTP proxies: which one a connection goes through, and the CONNECT that opens its tunnel.

A proxy comes from an explicit ``proxy=`` URL or from the environment the binding
hands in (``HTTPS_PROXY`` for https/wss targets, ``HTTP_PROXY`` for http/ws, lower
case first as curl reads them, ``NO_PROXY`` to bypass). The tunnel is an HTTP/1.1
``CONNECT`` over h11: bytes out, bytes in, and either an open tunnel or an
:class:`~avatarwire.core.errors.AvatarError` naming the proxy and its answer. TLS to
the service then runs inside the tunnel, end to end. Proxy credentials
(``http://user:pass@proxy:3128``) go only into ``Proxy-Authorization`` and never
show in a repr, a log or an error. The tunnel's life is the table
:data:`TUNNEL_TRANSITIONS` (the convention of ``core/machine.py``).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote, urlsplit

import h11

from .endpoints import Endpoint
from .errors import AvatarError, ConfigError, ErrorCode, Phase, RemoteProtocolError, mask_text
from .http_exchange import user_agent
from .machine import Machine

__all__ = [
    "Proxy",
    "TunnelExchange",
    "TunnelState",
    "TunnelTrigger",
    "bypasses_proxy",
    "parse_proxy_url",
    "proxy_for",
]

#: A proxy's answer to CONNECT larger than this (head and body) is refused.
MAX_PROXY_RESPONSE = 16 * 1024

_DEFAULT_PROXY_PORT = 8080


@dataclass(frozen=True, slots=True)
class Proxy:
    """One HTTP proxy: where it listens and, if it wants them, the credentials to send."""

    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def origin(self) -> str:
        """``http://host:port``: what messages and logs show (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must be masked wherever this proxy's answers are shown."""
        return tuple(s for s in (self.password, self.username, self._authorization) if s)

    @property
    def _authorization(self) -> str:
        if not (self.username or self.password):
            return ""
        pair = f"{self.username}:{self.password}".encode()
        return base64.b64encode(pair).decode("ascii")

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` value (Basic), or ``None`` without credentials."""
        return f"Basic {self._authorization}" if self._authorization else None

    def __repr__(self) -> str:
        creds = ", credentials=***" if self.username or self.password else ""
        return f"Proxy({self.origin!r}{creds})"


def parse_proxy_url(url: str, *, field: str = "proxy") -> Proxy:
    """Validate a proxy URL (``http://[user:pass@]host[:port]``; no scheme means http)."""
    allowed = "allowed: http://[user:password@]host[:port]"
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(field, repr(url) if not isinstance(url, str) else "''", allowed)
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise ConfigError(field, "a URL that does not parse", allowed) from None
    # Only the host and port are safe to echo: the rest may hold the credentials.
    shown = f"a URL with host {host!r}" if host else "a URL with no host"
    if parts.scheme.lower() != "http":
        raise ConfigError(
            field,
            f"the scheme {parts.scheme!r}",
            "only plain http:// proxies are supported (TLS to the service still runs end to "
            "end inside the CONNECT tunnel)",
        )
    if not host or any(ch.isspace() or ord(ch) < 0x21 or not ch.isascii() for ch in host):
        raise ConfigError(field, shown, allowed)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(field, shown, f"no path, query or fragment; {allowed}")
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    for name, value in (("user name", username), ("password", password)):
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ConfigError(field, f"a {name} with control characters", allowed)
    return Proxy(host, port or _DEFAULT_PROXY_PORT, username, password)


def _no_proxy_entry_matches(entry: str, host: str, port: int) -> bool:
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    if entry.startswith("[") and "]" in entry:  # [v6]:port or [v6]
        name, _, rest = entry[1:].partition("]")
        entry_port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        name, _, entry_port = entry.partition(":")
    else:
        name, entry_port = entry, ""
    if entry_port and entry_port != str(port):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        try:
            return address in ipaddress.ip_network(name, strict=False)
        except ValueError:
            return False
    name = name.lstrip("*").lstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (hosts, ``.domains``, IPs, CIDR ranges, ``:port``, ``*``)
    names this host."""
    host = host.lower().rstrip(".")
    return any(_no_proxy_entry_matches(entry, host, port) for entry in no_proxy.split(","))


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name.lower()) or environ.get(name.upper()) or ""


def proxy_for(
    target: Endpoint, *, explicit: str | bool | None, environ: Mapping[str, str]
) -> Proxy | None:
    """The proxy a connection to ``target`` goes through, or ``None`` to go direct.

    ``explicit``: a proxy URL (``NO_PROXY`` still applies), ``False`` for never, or
    ``None`` to read ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` from ``environ``.
    """
    if explicit is False:
        return None
    if explicit is not None and explicit is not True:
        url, name = explicit, "proxy"
    else:
        variable = "https_proxy" if target.secure else "http_proxy"
        url = _env(environ, variable) or _env(environ, "all_proxy")
        name = variable.upper() if url else "proxy"
        if not url:
            return None
    if bypasses_proxy(target.host, target.port, _env(environ, "no_proxy")):
        return None
    return parse_proxy_url(url, field=name)


class TunnelState(str, Enum):
    """Where a CONNECT exchange stands."""

    WAITING = "waiting"
    OPEN = "open"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class TunnelTrigger(str, Enum):
    """What moves a CONNECT exchange."""

    #: A 2xx with nothing after it: the tunnel is open.
    OPENED = "opened"
    #: Any other final answer (407, 403, 502...).
    REFUSED = "refused"
    #: EOF before an answer.
    CONNECTION_LOST = "connection_lost"
    #: A malformed or oversized answer, or bytes after the 2xx before the client spoke.
    PROTOCOL_VIOLATION = "protocol_violation"

    def __str__(self) -> str:
        return self.value


#: The whole state machine of a tunnel: (state, trigger) -> next state.
TUNNEL_TRANSITIONS: Mapping[tuple[TunnelState, TunnelTrigger], TunnelState] = {
    (TunnelState.WAITING, TunnelTrigger.OPENED): TunnelState.OPEN,
    (TunnelState.WAITING, TunnelTrigger.REFUSED): TunnelState.FAILED,
    (TunnelState.WAITING, TunnelTrigger.CONNECTION_LOST): TunnelState.FAILED,
    (TunnelState.WAITING, TunnelTrigger.PROTOCOL_VIOLATION): TunnelState.FAILED,
}


class TunnelExchange:
    """Client side of ``CONNECT host:port``: queue the request, read the proxy's answer.

    A 2xx opens the tunnel; anything else (407, 403, 502...) is ``connectionFailed``
    with the proxy's status, as is EOF before an answer. Bytes after the 2xx, before
    the client has spoken, are a proxy fault: both protocols that use the tunnel (TLS
    and the HTTP/1.1 upgrade) have the client speak first.
    """

    def __init__(self, proxy: Proxy, target: Endpoint, *, phase: Phase) -> None:
        self._proxy = proxy
        self._target = target
        self._phase = phase
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_PROXY_RESPONSE)
        host = f"[{target.host}]" if ":" in target.host else target.host
        self._authority = f"{host}:{target.port}"
        headers = [("Host", self._authority), ("User-Agent", user_agent())]
        if proxy.authorization is not None:
            headers.append(("Proxy-Authorization", proxy.authorization))
        request = h11.Request(method="CONNECT", target=self._authority, headers=headers)
        self._outgoing = self._http.send(request) + (self._http.send(h11.EndOfMessage()) or b"")
        self._received = 0
        self._status: int | None = None
        self._reason = ""
        self._machine: Machine[TunnelState, TunnelTrigger] = Machine(
            "TunnelExchange",
            TUNNEL_TRANSITIONS,
            TunnelState.WAITING,
            error_state=TunnelState.FAILED,
        )

    def __repr__(self) -> str:
        state = self._machine.state.value
        return f"TunnelExchange(proxy={self._proxy!r}, target={self._authority!r}, {state})"

    @property
    def state(self) -> TunnelState:
        """Where the exchange stands (see :data:`TUNNEL_TRANSITIONS`)."""
        return self._machine.state

    @property
    def done(self) -> bool:
        """Whether the outcome (an open tunnel or an error) is known."""
        return self._machine.ended

    @property
    def error(self) -> AvatarError | None:
        """Why the tunnel did not open (the cause it is ``FAILED`` with), once known."""
        return self._machine.cause

    def data_to_send(self) -> bytes:
        """The CONNECT request (once)."""
        data, self._outgoing = self._outgoing, b""
        return data

    def raise_for_outcome(self) -> None:
        """Raise the exchange's error; return when the tunnel is open."""
        if self.error is not None:
            raise self.error
        if self.state is not TunnelState.OPEN:
            raise AvatarError("the tunnel is not open yet", code=ErrorCode.CONNECTION_FAILED)

    def receive_data(self, data: bytes) -> None:
        """Feed the proxy's bytes (``b""``: it closed the connection)."""
        if self.done:
            return
        if not data:
            self._fail(
                TunnelTrigger.CONNECTION_LOST,
                "the proxy closed the connection before answering CONNECT",
            )
            return
        self._received += len(data)
        if self._received > MAX_PROXY_RESPONSE:
            self._fail_protocol(f"the answer to CONNECT exceeds {MAX_PROXY_RESPONSE} bytes")
            return
        try:
            self._http.receive_data(data)
            self._read_events()
        except h11.RemoteProtocolError as exc:
            self._fail_protocol(f"malformed answer to CONNECT ({exc})")

    def _read_events(self) -> None:
        while not self.done:
            event = self._http.next_event()
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._reason = event.reason.decode("latin-1", "replace")
                if 200 <= event.status_code < 300:
                    self._on_switched()
                    return
                self._fail(
                    TunnelTrigger.REFUSED,
                    f"the proxy refused the tunnel: HTTP {self._status} {self._reason}",
                )
                return
            return  # NEED_DATA: h11 raises on anything else a client can receive here

    def _on_switched(self) -> None:
        early, _closed = self._http.trailing_data
        if early:
            self._fail_protocol(
                f"the proxy sent {len(early)} bytes after opening the tunnel, before the client "
                "spoke"
            )
            return
        self._machine.move(TunnelTrigger.OPENED)

    def _describe(self, what: str) -> str:
        text = f"{what} (proxy {self._proxy.origin}, CONNECT {self._authority})"
        return mask_text(text, self._proxy.secrets)

    def _fail(self, trigger: TunnelTrigger, what: str) -> None:
        error = AvatarError(
            self._describe(what),
            code=ErrorCode.CONNECTION_FAILED,
            phase=self._phase,
            http_status=self._status,
        )
        self._machine.move(trigger, error)

    def _fail_protocol(self, what: str) -> None:
        error = RemoteProtocolError(
            self._describe(what), code=ErrorCode.CONNECTION_FAILED, phase=self._phase
        )
        self._machine.move(TunnelTrigger.PROTOCOL_VIOLATION, error)
