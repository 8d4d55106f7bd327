"""Blocking binding: the core driven by plain sockets in the caller's thread, no threads.

Every call pumps the socket itself (``selectors`` + ``time.monotonic`` deadlines):
what the core queued is written, what arrives is fed to the core. ``send_audio``
waits while more than ``max_buffered_audio`` bytes are unsent, reading meanwhile so
the server's frames never back up. Reading pauses while more than
``max_queued_events`` events wait, except in a call that must make progress (a
send waiting for room, ``wait_for_request``, ``run_until_closed``): so a batch job
that never takes events neither stalls nor fails; frames a full queue has no room
for are then counted in ``dropped_frames`` (each request's status counts them
too), every other event is queued. Callbacks run in the
caller's thread, inside whichever call is pumping, and see every frame. A session
belongs to one thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from avatarwire.core.config import SessionConfig
from avatarwire.core.endpoints import Endpoint
from avatarwire.core.errors import AvatarError, LocalProtocolError
from avatarwire.core.events import AnimationFrame, Event, SessionClosed
from avatarwire.core.http_exchange import HttpExchange
from avatarwire.core.pacing import PacedAudio, PaceQueue, check_pacing, pcm_bytes_per_second
from avatarwire.core.proxy import TunnelExchange
from avatarwire.core.requests import RequestStatus
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.core.steps import Step, Timeouts, step_failed, step_timed_out

from ._base import SessionBase, request_frame
from ._common import (
    READ_SIZE,
    Callbacks,
    ConnectOptions,
    Route,
    environment_lookup,
    lookup_options,
    new_client_session,
    new_observer,
    new_token_exchange,
    remember_environments,
    route_to,
    tls_context_for,
    with_known_environments,
)
from ._pacing import PacedStreamBase, current_request, encoder_rate, queue_paced
from .observer import SessionObserver, observing
from .opening import BlockingOpener, ConnectKeywords, Opening, Unpack
from .session import SyncConnect, SyncSession

__all__ = [
    "BlockingSession",
    "Timeouts",
    "connect",
    "fetch_token",
    "open_session",
    "resolve_environment",
]

#: Reads a call makes of what is already waiting, before it goes on without waiting.
_READS_PER_CALL = 16


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _waits_for(would_block: OSError, usual: int) -> int:
    """What a would-block socket call waits for: TLS may need the other direction first."""
    if isinstance(would_block, ssl.SSLWantReadError):
        return selectors.EVENT_READ
    return selectors.EVENT_WRITE if isinstance(would_block, ssl.SSLWantWriteError) else usual


class _Wire:
    """A connected non-blocking socket (TLS or not) with its unsent bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self._selector = selectors.DefaultSelector()
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self.sock = sock
        self.outgoing = bytearray()
        self.lost = False
        self.closed = False
        # What the last would-block send / recv waits for (TLS may need the other one).
        self._send_waits_for = selectors.EVENT_WRITE
        self._recv_waits_for = selectors.EVENT_READ

    def exchange(self, read: bool, timeout: float | None) -> bytes | None:
        """Send what can go and read what came, waiting at most ``timeout`` if neither can
        happen at once; the bytes read (``b""``: the connection is gone) or ``None``."""
        sent = self._send()
        data = self._recv() if read else None
        if data is None and not sent and timeout != 0 and not self.lost:
            events = (self._recv_waits_for if read else 0) | (
                self._send_waits_for if self.outgoing else 0
            )
            if events:
                self._selector.modify(self.sock, events)
                self._selector.select(timeout)
                self._send()
                data = self._recv() if read else None
        return b"" if self.lost and read else data

    def _send(self) -> bool:
        if not self.outgoing or self.lost:
            return False
        try:
            sent = self.sock.send(self.outgoing)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError) as exc:
            self._send_waits_for = _waits_for(exc, selectors.EVENT_WRITE)
            return False
        except OSError:
            self.lost = True
            self.outgoing.clear()
            return False
        del self.outgoing[:sent]
        self._send_waits_for = selectors.EVENT_WRITE
        return sent > 0

    def _recv(self) -> bytes | None:
        if self.lost:
            return b""
        try:
            data = self.sock.recv(READ_SIZE)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError) as exc:
            self._recv_waits_for = _waits_for(exc, selectors.EVENT_READ)
            return None
        except OSError:
            data = b""
        self._recv_waits_for = selectors.EVENT_READ
        self.lost = not data
        return data

    def close(self) -> None:
        """Release the socket and the selector (idempotent)."""
        if not self.closed:
            self.closed = True
            self._selector.close()
            self.sock.close()


def _connect_tcp(route: Route, seconds: float, console: bool) -> socket.socket:
    """Like ``socket.create_connection`` with one deadline for all addresses, and no
    socket left behind whatever interrupts it (Ctrl-C included)."""
    origin, deadline = route.origin, time.monotonic() + seconds
    try:
        addresses = socket.getaddrinfo(route.host, route.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise step_failed(Step.TCP_CONNECT, exc, origin=origin, console=console) from None
    failure: OSError = OSError("no address")
    for family, kind, proto, _, address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except TimeoutError:
            sock.close()
            raise step_timed_out(
                Step.TCP_CONNECT, seconds, origin=origin, console=console
            ) from None
        except OSError as exc:
            sock.close()
            failure = exc
        except BaseException:
            sock.close()
            raise
    else:
        raise step_failed(Step.TCP_CONNECT, failure, origin=origin, console=console)
    raise step_timed_out(Step.TCP_CONNECT, seconds, origin=origin, console=console)


def _open_tunnel(sock: socket.socket, tunnel: TunnelExchange, seconds: float, route: Route) -> None:
    """Run CONNECT on the proxy connection within one deadline."""
    deadline = time.monotonic() + seconds
    try:
        sock.settimeout(seconds)
        sock.sendall(tunnel.data_to_send())
        while not tunnel.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            tunnel.receive_data(sock.recv(READ_SIZE))
    except TimeoutError:
        raise step_timed_out(
            Step.PROXY_CONNECT, seconds, origin=route.origin, console=route.console
        ) from None
    except OSError as exc:
        raise step_failed(
            Step.PROXY_CONNECT, exc, origin=route.origin, console=route.console
        ) from None
    tunnel.raise_for_outcome()


def _open(endpoint: Endpoint, options: ConnectOptions, *, console: bool) -> _Wire:
    """TCP (to the proxy, then CONNECT, if there is one), then TLS when the endpoint is
    secure, each under its timeout."""
    route = route_to(endpoint, options, console=console)
    timeouts, origin = options.timeouts, route.origin
    sock = _connect_tcp(route, timeouts.tcp_connect, console)
    try:
        tunnel = route.tunnel()
        if tunnel is not None:
            _open_tunnel(sock, tunnel, timeouts.proxy_connect, route)
        context = tls_context_for(endpoint.secure, options.ssl_context)
        if context is not None:
            tls = context.wrap_socket(
                sock, server_hostname=endpoint.host, do_handshake_on_connect=False
            )
            sock = tls
            tls.settimeout(timeouts.tls)
            try:
                tls.do_handshake()
            except TimeoutError:
                raise step_timed_out(
                    Step.TLS, timeouts.tls, origin=origin, console=console
                ) from None
            except OSError as exc:
                raise step_failed(Step.TLS, exc, origin=origin, console=console) from None
        return _Wire(sock)
    except BaseException:
        sock.close()
        raise


def _exchange(endpoint: Endpoint, exchange: HttpExchange, options: ConnectOptions) -> None:
    """Run one plain HTTP request/response with the endpoint, under the token limit."""
    seconds = options.timeouts.token
    wire = _open(endpoint, options, console=True)
    try:
        wire.outgoing += exchange.data_to_send()
        deadline = time.monotonic() + seconds
        while not exchange.done:
            remaining = _remaining(deadline)
            if remaining == 0:
                raise step_timed_out(Step.TOKEN, seconds, origin=endpoint.origin, console=True)
            data = wire.exchange(True, remaining)
            if data is not None:
                exchange.receive_data(data)
    finally:
        wire.close()


def fetch_token(config: SessionConfig, options: ConnectOptions | None = None) -> str:
    """Trade the API key for a session token at the console."""
    options = options or ConnectOptions()
    exchange = new_token_exchange(config, options)
    _exchange(config.console_endpoint, exchange, options)
    return exchange.token


def resolve_environment(
    config: SessionConfig, options: ConnectOptions | None = None
) -> SessionConfig:
    """``config`` with its environment's endpoints: the config service is asked once per
    process (each step within the lookup's limit; the presets on any failure)."""
    options = options or ConnectOptions()
    lookup = environment_lookup(config, options)
    if lookup is not None:
        with contextlib.suppress(AvatarError):  # the presets stand in
            _exchange(lookup.endpoint, lookup, lookup_options(options))
        remember_environments(lookup)
    return with_known_environments(config)


class BlockingSession(SessionBase):
    """An open session: send audio, interrupt, iterate events, close."""

    def __init__(self, core: ClientSession, options: ConnectOptions, callbacks: Callbacks) -> None:
        super().__init__(core, options, callbacks)
        self._reading_paused = False
        self._wire: _Wire | None = None

    # --- bytes -------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        self._core.receive_data(data)
        if data:
            self._core.tick(time.monotonic())
        self._write_now()
        self._deliver_core_events()
        if self._queue_full:
            self._reading_paused = True
        if self._core.state.ended:
            self._drop_socket()

    def _after_tick(self) -> None:
        """Deliver what a keepalive tick did (a ping to send, or the end of the session)."""
        self._write_now()
        self._deliver_core_events()
        if self._core.state.ended:
            self._drop_socket()

    def _write_now(self) -> None:
        data = self._core.data_to_send()
        if data and self._wire is not None and not self._wire.closed:
            self._wire.outgoing += data

    def _pump(self, timeout: float | None, read: bool) -> bool:
        """One round of I/O, waiting at most ``timeout``; whether bytes were read."""
        wire = self._wire
        if wire is None or wire.closed:
            return False
        self._write_now()
        keepalive = self._core.next_deadline()
        if keepalive is not None:  # wake for the keepalive too
            due = max(0.0, keepalive - time.monotonic())
            timeout = due if timeout is None else min(timeout, due)
        data = wire.exchange(read, timeout)
        if data is not None:
            self._on_data(data)
        elif keepalive is not None and time.monotonic() >= keepalive:
            self._core.tick(time.monotonic(), reading=read)
            self._after_tick()
        return data is not None

    def _pump_until(
        self, done: Callable[[], bool], deadline: float | None, *, must_progress: bool = False
    ) -> bool:
        """Pump until ``done()`` (True) or the deadline (False).

        Reading pauses while the event queue is full, except for a call that
        ``must_progress`` (a send waiting for room, ``wait_for_request``,
        ``run_until_closed``): it never stalls on unread events; it keeps reading,
        and frames the queue has no room for are counted in ``dropped_frames`` (each
        request's status still counts them). Every other event is queued. With
        reading paused and nothing unsent no byte can move: False at once.
        """
        self._drop_overflowing_frames = must_progress
        try:
            while not done():
                wire = self._wire
                if wire is None or wire.closed:
                    return done()
                reading = (
                    must_progress
                    or not self._reading_paused
                    or self._core.state is SessionState.CLOSING
                )
                if not reading and not wire.outgoing:
                    return False
                self._pump(_remaining(deadline), reading)
                if deadline is not None and time.monotonic() >= deadline:
                    return done()
            return True
        finally:
            self._drop_overflowing_frames = False

    def _within(self, step: Step, done: Callable[[], bool]) -> None:
        seconds = self._options.timeouts.of(step)
        if not self._pump_until(done, time.monotonic() + seconds, must_progress=True):
            origin = self._core.config.ingress_endpoint.origin
            raise step_timed_out(step, seconds, origin=origin, console=False)

    def _flush(self) -> None:
        """Write what the core queued, read what already came; wait while too much is unsent."""
        for _ in range(_READS_PER_CALL):
            if not self._pump(0, not self._reading_paused):
                break
        wire, limit = self._wire, self._options.max_buffered_audio
        if wire is not None:
            self._within(Step.SEND, lambda: wire.closed or len(wire.outgoing) <= limit)

    def _start(self, endpoint: Endpoint) -> None:
        with observing(self._observer, "connect"):
            self._wire = _open(endpoint, self._options, console=False)
        try:
            with observing(self._observer, "handshake"):
                self._write_now()
                self._within(Step.UPGRADE, lambda: self._core.state is not SessionState.CONNECTING)
                self._within(Step.HANDSHAKE, self._handshake_done)
        except BaseException:
            self._abort()
            raise

    def _drop_socket(self) -> None:
        wire = self._wire
        if wire is not None and not wire.closed:
            wire.exchange(False, 0)  # a last non-blocking try for the close frame
            wire.close()

    def _abort(self) -> None:
        """Drop the socket now, without the closing handshake; the session reports closed."""
        try:
            if not self._core.state.ended:
                self._core.close()
                self._on_data(b"")
        finally:
            self._drop_socket()

    # --- what the application calls ---------------------------------------------------

    def send_audio(
        self,
        audio: bytes | bytearray | memoryview,
        end: bool = False,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> str:
        """Send audio for the current request; waits while too much is unsent."""
        req_id = self._queue_audio(audio, end, traceparent, tracestate)
        self._flush()
        return req_id

    def stream(
        self,
        audio: Iterable[bytes],
        *,
        realtime: bool = True,
        end: bool = True,
        start: float | None = None,
        ahead: float = 0.0,
    ) -> str:
        """Send an iterable of PCM chunks as one request (closed with ``end=True``
        unless ``end=False``); returns its req_id once the last chunk went out.

        ``realtime=True`` sends each chunk when its audio would start playing, the
        first at ``start`` (a time of ``time.monotonic()``; by default now), keeping
        the socket moving (and callbacks coming) in between; the calling thread keeps
        the time. ``ahead`` (seconds, at most 0.5) lets chunks go out that much early,
        joined with the due ones. An ``interrupt()`` of the request (from a callback,
        or from the source between chunks) stops the stream there. ``realtime=False``
        sends as fast as backpressure allows.
        """
        if not realtime:
            req_id = ""
            for chunk in audio:
                req_id = self.send_audio(chunk) if chunk else req_id
            return self.send_audio(b"", end=True) if end else req_id
        first, ahead = check_pacing(start, ahead, "time.monotonic()")
        rate = pcm_bytes_per_second(self._core.config, encoder_rate(self))
        begin = time.monotonic() if first is None else first
        paced = PacedAudio(rate, begin, end=end, ahead=ahead, source=audio)
        stream = _PacedCall(self, paced)
        queue: PaceQueue[_PacedCall] = PaceQueue()
        queue.add(stream, time.monotonic())
        while (due := queue.next_due) is not None:
            self.wait(due - time.monotonic())
            queue.serve_due(time.monotonic(), _PacedCall.serve)
        if stream.error is not None:
            raise stream.error
        return paced.req_id

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        """Queue audio without writing (the pacer's call)."""
        return queue_paced(self, audio, end)

    def _write_paced(self) -> None:
        """Write what the pacer queued, waiting while too much is unsent."""
        self._flush()

    def _current_request(self) -> str | None:
        """The req_id the next audio goes to (``None``: it opens a new request)."""
        return current_request(self)

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        """Never: ``_write_paced`` itself waits for room, in the calling thread."""
        return False

    def interrupt(self) -> str:
        """Interrupt the most recent request; returns its req_id."""
        req_id = self._queue_interrupt()
        self._flush()
        return req_id

    def pause(self) -> str:
        """Hold playout of the most recent request (``playback_control`` only)."""
        req_id = self._queue_pause()
        self._flush()
        return req_id

    def resume(self) -> str:
        """Resume playout held by :meth:`pause`."""
        req_id = self._queue_resume()
        self._flush()
        return req_id

    def next_event(self, timeout: float | None = None) -> Event:
        """The next event, waiting at most ``timeout`` seconds (then ``TimeoutError``);
        after the session closed, its ``SessionClosed`` again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        taken = self._pump_until(lambda: bool(self._events) or self._closed is not None, deadline)
        if not taken:
            raise TimeoutError(f"no event within {timeout} s")
        event = self._take_event()
        assert event is not None
        if self._reading_paused and self._queue_has_room:
            self._reading_paused = False
        return event

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.next_event()
            yield event
            if isinstance(event, SessionClosed):
                return

    def frames(self, req_id: str) -> Iterator[AnimationFrame]:
        """The animation frames of request ``req_id``, ending when it finishes.

        Takes events off the queue; those of other requests are skipped. Raises the
        session's error if it closes with one first.
        """
        while True:
            found = request_frame(self.next_event(), req_id)
            if isinstance(found, AnimationFrame):
                yield found
            elif found:
                return

    def wait(self, seconds: float) -> None:
        """Keep the socket moving (and callbacks coming) for ``seconds``: a pacing sleep."""
        deadline = time.monotonic() + seconds
        self._pump_until(lambda: False, deadline)
        remaining = _remaining(deadline)
        if remaining:
            time.sleep(remaining)

    def wait_for_request(self, req_id: str, timeout: float | None = None) -> RequestStatus:
        """Pump until a request finished (or the session closed); ``TimeoutError`` after
        ``timeout``. Queued events stay queued; frames a full queue has no room for
        are counted in ``dropped_frames`` (see the module's docstring)."""
        status = self._core.request(req_id)
        if status is None:
            raise LocalProtocolError(f"no request {req_id!r} in this session")
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = self._pump_until(
            lambda: status.finished or self._closed is not None, deadline, must_progress=True
        )
        if not finished:
            raise TimeoutError(f"request {req_id} did not finish within {timeout} s")
        return status

    def run_until_closed(self, timeout: float | None = None) -> SessionClosed:
        """Pump until the session is over (the server closed it, or :meth:`close`);
        ``TimeoutError`` after ``timeout``. Queued events stay queued."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._pump_until(lambda: self._closed is not None, deadline, must_progress=True):
            raise TimeoutError(f"the session did not close within {timeout} s")
        assert self._closed is not None
        return self._closed

    def close(self) -> None:
        """Close the session: closing handshake within the close timeout, then the socket."""
        try:
            if not self._core.state.ended:
                self._core.close()
                self._write_now()
                self._deliver_core_events()
                deadline = time.monotonic() + self._options.timeouts.close
                self._pump_until(lambda: self._core.state.ended, deadline)
        finally:
            self._abort()


class _PacedCall(PacedStreamBase):
    """The one stream of a blocking ``stream()`` call: its outcome, kept for the caller."""

    __slots__ = ("ended", "error")

    def __init__(self, session: BlockingSession, paced: PacedAudio) -> None:
        super().__init__(session, paced)
        self.error: BaseException | None = None
        self.ended = False

    def over(self) -> bool:
        return self.ended

    def resolve(self) -> None:
        self.ended = True

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self.ended = True

    def wake(self) -> None:  # pragma: no cover - a blocking session never defers a write
        pass


def open_session(
    config: SessionConfig,
    token: str,
    options: ConnectOptions | None = None,
    callbacks: Callbacks | None = None,
    *,
    observer: SessionObserver | None = None,
) -> BlockingSession:
    """Open the ingress socket with a token and run the handshake; returns a ready session."""
    options = options or ConnectOptions()
    session = BlockingSession(
        new_client_session(config, token, options), options, callbacks or Callbacks()
    )
    session._observer = observer or new_observer(options)
    session._start(config.ingress_endpoint)
    return session


#: How this binding opens a session: its I/O in the sequence :mod:`.opening` decides.
_OPENER = BlockingOpener(resolve_environment, fetch_token, open_session, time.sleep)


@contextmanager
def connect(
    config: SessionConfig, **keywords: Unpack[ConnectKeywords]
) -> Iterator[BlockingSession]:
    """Fetch a token, open the socket, run the handshake; close on the way out.

    Takes the keywords of :class:`~.opening.ConnectKeywords`. ``retry`` retries the
    opening per the policy (each attempt with a new token), logging each retry and
    telling ``on_retry``; without it, nothing is retried. Callbacks are called as
    events come; every event is also queued for ``for`` / ``next_event()`` unless
    ``queue_events=False``. On Ctrl-C (any exception that is not an ``Exception``)
    the socket is dropped at once, without the closing handshake. Retries sleep in
    the caller's thread.
    """
    session = _OPENER.open(config, Opening.from_keywords(keywords))
    try:
        yield session
    except BaseException as exc:
        if not isinstance(exc, Exception):
            session._abort()
        raise
    finally:
        session.close()


if TYPE_CHECKING:
    _satisfies_the_protocol: type[SyncSession] = BlockingSession
    _connect_satisfies_the_protocol: SyncConnect = connect
