"""A real HTTP CONNECT proxy on loopback, on threads, for the proxy tests of every binding.

It reads the CONNECT head, checks ``Proxy-Authorization`` when credentials are set,
then either opens the tunnel (and relays bytes both ways until one side closes),
refuses with a given status, or stalls (reads the request and never answers). It
records every CONNECT target and authorization it saw.
"""

from __future__ import annotations

import base64
import selectors
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from types import TracebackType

#: How often a relay or a stalled handler looks whether the proxy is stopping.
_STOP_CHECK = 0.05


@dataclass
class Seen:
    """What the proxy was asked."""

    targets: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        head = self._read_head()
        if head is None:
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        with proxy.lock:
            proxy.seen.targets.append(target)
            proxy.seen.authorizations.append(headers.get("proxy-authorization"))
        if proxy.mode == "stall":
            while not proxy.stopping.wait(_STOP_CHECK):
                pass
            return
        if method != "CONNECT":
            self._answer(405, "Method Not Allowed")
            return
        if proxy.expected_authorization is not None and (
            headers.get("proxy-authorization") != proxy.expected_authorization
        ):
            self._answer(
                407, "Proxy Authentication Required", 'Proxy-Authenticate: Basic realm="t"'
            )
            return
        if proxy.mode.startswith("refuse:"):
            self._answer(int(proxy.mode.partition(":")[2]), "Refused")
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            self._answer(502, "Bad Gateway")
            return
        with upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._relay(self.request, upstream)

    def _read_head(self) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk or len(data) > 16384:
                return None
            data += chunk
        return data.partition(b"\r\n\r\n")[0]

    def _answer(self, status: int, reason: str, *headers: str) -> None:
        lines = [f"HTTP/1.1 {status} {reason}", *headers, "Content-Length: 0", "", ""]
        self.request.sendall("\r\n".join(lines).encode())

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self.server.proxy.stopping.is_set():
                for key, _ in selector.select(_STOP_CHECK):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                        if data:
                            peers[source].sendall(data)
                            continue
                    except OSError:
                        pass
                    return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = True
    proxy: ConnectProxy


class ConnectProxy:
    """``with ConnectProxy() as proxy:`` serves CONNECT on ``proxy.url`` (loopback)."""

    def __init__(
        self, mode: str = "tunnel", *, username: str | None = None, password: str | None = None
    ) -> None:
        self.mode = mode
        self.seen = Seen()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.expected_authorization = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username is not None
            else None
        )
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port served."""
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
