"""A fault-injecting TCP proxy on loopback, for tests: what networks do to a session.

One thread forwards every connection accepted on an ephemeral loopback port to a
target port, applying a :class:`Faults` policy to each direction: latency with
jitter, one byte per write, a reset or a FIN after a number of bytes (counted from
the start or from the end of the HTTP head), held-back first replies (a slow
console, a slow 101), and on demand a half-open connection (nothing forwarded
either way, both sockets kept open). It is bounded: a fixed number of
connections, a bounded buffer per direction, and :meth:`FaultProxy.stop` closes
everything it opened.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType

#: Client to server ("up") and server to client ("down").
UP, DOWN = "up", "down"
MAX_CONNECTIONS = 64
MAX_PENDING = 8 * 1024 * 1024
TICK = 0.002
#: One-byte writes per direction per round, with byte-at-a-time on.
BYTES_PER_ROUND = 256
HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class Cut:
    """End the connection after ``after`` bytes of one direction: ``"rst"`` resets both
    sides, ``"fin"`` closes the client's side cleanly. ``after_head`` counts from the
    end of that direction's HTTP head instead of its first byte."""

    direction: str
    after: int
    how: str = "rst"
    after_head: bool = False


@dataclass(frozen=True)
class Faults:
    """What the proxy does to the bytes it forwards (defaults: nothing)."""

    latency: float = 0.0
    jitter: float = 0.0
    byte_at_a_time: bool = False
    #: Seconds the server's first bytes are held back on each connection.
    first_reply_delay: float = 0.0
    cut: Cut | None = None
    seed: int = 0


class _Direction:
    """One direction of one connection: what waits to be written, and when."""

    def __init__(self, name: str, source: socket.socket, sink: socket.socket) -> None:
        self.name = name
        self.source = source
        self.sink = sink
        self.pending: deque[tuple[float, bytearray]] = deque()
        self.pending_size = 0
        self.seen = 0
        self.head_end: int | None = None
        self.head_tail = b""
        self.eof = False
        self.eof_sent = False
        self.cut_pending = False

    def note_head(self, data: bytes) -> None:
        if self.head_end is not None:
            return
        window = self.head_tail + data
        found = window.find(HEAD_END)
        if found >= 0:
            self.head_end = self.seen - len(self.head_tail) + found + len(HEAD_END)
        self.head_tail = window[-3:]


class _Link:
    """A client connection and its upstream twin."""

    def __init__(self, client: socket.socket, server: socket.socket, opened: float) -> None:
        self.client = client
        self.server = server
        self.opened = opened
        self.directions = {
            UP: _Direction(UP, client, server),
            DOWN: _Direction(DOWN, server, client),
        }
        self.closed = False


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target`` with the given faults."""

    def __init__(self, target: int, faults: Faults | None = None) -> None:
        self.target = target
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._links: list[_Link] = []
        self._frozen = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.accepted = 0

    # --- control ---------------------------------------------------------------------

    def url(self, scheme: str, path: str) -> str:
        """A URL through the proxy."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def go_silent(self) -> None:
        """Half-open every connection: forward nothing more either way, close nothing."""
        with self._lock:
            self._frozen = True

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for link in self._links:
            self._close(link)
        self._selector.close()
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the forwarding loop -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(TICK):
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    link, name = key.data
                    self._read(link, link.directions[name])
            now = time.monotonic()
            for link in list(self._links):
                if not link.closed:
                    for direction in link.directions.values():
                        self._write(link, direction, now)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        if len(self._links) >= MAX_CONNECTIONS:
            client.close()
            return
        try:
            server = socket.create_connection(("127.0.0.1", self.target), timeout=2)
        except OSError:
            _reset(client)
            return
        self.accepted += 1
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, server, time.monotonic())
        self._links.append(link)
        self._selector.register(client, selectors.EVENT_READ, (link, UP))
        self._selector.register(server, selectors.EVENT_READ, (link, DOWN))

    def _read(self, link: _Link, direction: _Direction) -> None:
        if link.closed or self._frozen:
            return
        try:
            data = direction.source.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            direction.eof = True
            self._selector.unregister(direction.source)
            return
        cut = self.faults.cut
        if cut is not None and cut.direction == direction.name:
            data = self._cut_point(link, direction, data, cut)
        direction.note_head(data)
        direction.seen += len(data)
        if not data:
            return
        release = time.monotonic() + self.faults.latency
        if self.faults.jitter:
            release += self._random.uniform(0, self.faults.jitter)
        if direction.name == DOWN and self.faults.first_reply_delay:
            release = max(release, link.opened + self.faults.first_reply_delay)
        if direction.pending:  # never reorder: jitter delays, it does not overtake
            release = max(release, direction.pending[-1][0])
        direction.pending.append((release, bytearray(data)))
        direction.pending_size += len(data)
        if direction.pending_size > MAX_PENDING:
            self._selector.modify(direction.source, 0, (link, direction.name))

    def _cut_point(self, link: _Link, direction: _Direction, data: bytes, cut: Cut) -> bytes:
        """``data`` up to where the cut falls (and the cut scheduled), or all of it."""
        if cut.after_head:
            if direction.head_end is None:
                probe = direction.head_tail + data
                found = probe.find(HEAD_END)
                if found < 0:
                    return data
                head_end = direction.seen - len(direction.head_tail) + found + len(HEAD_END)
            else:
                head_end = direction.head_end
            limit = head_end + cut.after
        else:
            limit = cut.after
        room = limit - direction.seen
        if room >= len(data):
            return data
        direction.cut_pending = True
        self._selector.unregister(direction.source)
        direction.eof = True
        return data[: max(room, 0)]

    def _write(self, link: _Link, direction: _Direction, now: float) -> None:
        if self._frozen:
            return
        single_writes = BYTES_PER_ROUND
        while direction.pending and direction.pending[0][0] <= now:
            _, chunk = direction.pending[0]
            piece = chunk[:1] if self.faults.byte_at_a_time else chunk
            try:
                sent = direction.sink.send(piece)
            except BlockingIOError:
                return
            except OSError:
                self._close(link)
                return
            del chunk[:sent]
            direction.pending_size -= sent
            if not chunk:
                direction.pending.popleft()
            if self.faults.byte_at_a_time:  # each byte a write (and a segment) of its own
                single_writes -= 1
                if not single_writes:
                    return
        if direction.pending_size <= MAX_PENDING and not direction.eof:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.modify(
                    direction.source, selectors.EVENT_READ, (link, direction.name)
                )
        if direction.eof and not direction.pending and not direction.eof_sent:
            direction.eof_sent = True
            self._end(link, direction)

    def _end(self, link: _Link, direction: _Direction) -> None:
        """Pass an EOF on, or carry out the cut that ended this direction."""
        if direction.cut_pending:
            cut = self.faults.cut
            assert cut is not None
            if cut.how == "rst":
                self._close(link, reset=True)
            else:
                self._shutdown(link.client)
                self._shutdown(link.server)
            return
        self._shutdown(direction.sink)
        if all(d.eof_sent for d in link.directions.values()):
            self._close(link)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    def _close(self, link: _Link, reset: bool = False) -> None:
        if link.closed:
            return
        link.closed = True
        for sock in (link.client, link.server):
            with contextlib.suppress(KeyError, ValueError, RuntimeError):
                self._selector.unregister(sock)
            _reset(sock) if reset else sock.close()
