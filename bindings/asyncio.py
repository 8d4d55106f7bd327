"""asyncio binding: the core driven by asyncio transports, with no background tasks.

Bytes arrive in ``data_received`` and go straight into the core; what the core says
goes straight to the transport. Writes wait (``send_audio`` awaits) while the
transport holds more than ``max_buffered_audio`` unsent bytes; reading pauses
while more than ``max_queued_events`` events wait to be consumed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from avatarwire.core.config import SessionConfig
from avatarwire.core.endpoints import Endpoint
from avatarwire.core.environments import CONFIG_SERVICE_TIMEOUT
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import Event
from avatarwire.core.http_exchange import HttpExchange
from avatarwire.core.proxy import TunnelExchange
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.core.steps import Step, Timeouts, step_failed, step_timed_out

from ._base import AsyncSessionBase
from ._common import (
    Callbacks,
    ConnectOptions,
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
from ._pacing import current_request, encoder_rate, queue_paced, send_unpaced
from .observer import SessionObserver, observing
from .opening import AsyncOpener, ConnectKeywords, Opening, Unpack
from .pacer import stream_paced
from .session import Connect, Session

__all__ = [
    "AsyncSession",
    "Timeouts",
    "connect",
    "fetch_token",
    "open_session",
    "resolve_environment",
]

T = TypeVar("T")

#: Calls that queue less than this share one write per loop iteration.
WRITE_BATCH = 64 * 1024


class _Wire(asyncio.Protocol):
    """Hands a transport's bytes to a callback and tracks write backpressure."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self.on_data = on_data
        self.transport: asyncio.Transport | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        #: ``not writable.is_set()``, as a plain attribute for the per-message check.
        self.paused = False
        self.lost = False
        #: Called once when the transport drains (or is lost): paced streams waiting.
        self.on_writable: list[Callable[[], None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's transports have the whole Transport API without being
        # subclasses of asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.on_data(data)

    def eof_received(self) -> bool:
        self.on_data(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable()
        if not self.lost:
            self.lost = True
            self.on_data(b"")

    def pause_writing(self) -> None:
        self.paused = True
        self.writable.clear()

    def resume_writing(self) -> None:
        self._writable()

    def _writable(self) -> None:
        self.paused = False
        self.writable.set()
        waiting, self.on_writable = self.on_writable, []
        for wake in waiting:
            wake()


if sys.version_info >= (3, 11):

    async def _bounded(awaitable: Any, seconds: float) -> Any:
        async with asyncio.timeout(seconds):  # unlike wait_for, never drops a cancel
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _bounded(awaitable: Any, seconds: float) -> Any:
        # wait_for runs the awaitable in a task of its own and can drop a cancel that
        # lands as it completes; awaiting in place and cancelling ourselves cannot.
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if expired:
                raise asyncio.TimeoutError from None
            raise
        finally:
            timer.cancel()


async def _within(step: Step, seconds: float, origin: str, awaitable: Any, console: bool) -> Any:
    try:
        return await _bounded(awaitable, seconds)
    except asyncio.TimeoutError:
        raise step_timed_out(step, seconds, origin=origin, console=console) from None
    except (OSError, EOFError) as exc:
        raise step_failed(step, exc, origin=origin, console=console) from None


async def _open(
    endpoint: Endpoint, wire: _Wire, options: ConnectOptions, *, console: bool
) -> asyncio.Transport:
    loop = asyncio.get_running_loop()
    route = route_to(endpoint, options, console=console)
    timeouts, origin = options.timeouts, route.origin
    connecting = loop.create_connection(lambda: wire, route.host, route.port)
    transport, _ = await _within(
        Step.TCP_CONNECT, timeouts.tcp_connect, origin, connecting, console
    )
    try:
        tunnel = route.tunnel()
        if tunnel is not None:
            await _open_tunnel(tunnel, wire, transport, timeouts.proxy_connect, origin, console)
        context = tls_context_for(endpoint.secure, options.ssl_context)
        if context is not None:
            upgrading = loop.start_tls(transport, wire, context, server_hostname=endpoint.host)
            transport = await _within(Step.TLS, timeouts.tls, origin, upgrading, console)
            wire.transport = transport
    except BaseException:
        transport.abort()
        raise
    return cast(asyncio.Transport, transport)


async def _open_tunnel(
    tunnel: TunnelExchange,
    wire: _Wire,
    transport: asyncio.Transport,
    seconds: float,
    origin: str,
    console: bool,
) -> None:
    """Run CONNECT on the proxy connection, the wire's bytes going to the exchange meanwhile."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    on_data = wire.on_data

    def feed(data: bytes) -> None:
        tunnel.receive_data(data)
        if tunnel.done and not done.done():
            done.set_result(None)

    wire.on_data = feed
    try:
        transport.write(tunnel.data_to_send())
        await _within(Step.PROXY_CONNECT, seconds, origin, done, console)
    finally:
        wire.on_data = on_data
    tunnel.raise_for_outcome()


async def _exchange(endpoint: Endpoint, exchange: HttpExchange, options: ConnectOptions) -> None:
    """Run one plain HTTP request/response with the endpoint, under the token limit."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_data(data: bytes) -> None:
        exchange.receive_data(data)
        if exchange.done and not done.done():
            done.set_result(None)

    wire = _Wire(on_data)
    transport = await _open(endpoint, wire, options, console=True)
    try:
        transport.write(exchange.data_to_send())
        await _within(Step.TOKEN, options.timeouts.token, endpoint.origin, done, True)
    finally:
        transport.abort()


async def fetch_token(config: SessionConfig, options: ConnectOptions | None = None) -> str:
    """Trade the API key for a session token at the console."""
    options = options or ConnectOptions()
    exchange = new_token_exchange(config, options)
    await _exchange(config.console_endpoint, exchange, options)
    return exchange.token


async def resolve_environment(
    config: SessionConfig, options: ConnectOptions | None = None
) -> SessionConfig:
    """``config`` with its environment's endpoints: the config service is asked once per
    process (within its time limit; the presets on any failure)."""
    options = options or ConnectOptions()
    lookup = environment_lookup(config, options)
    if lookup is not None:
        try:
            exchanging = _exchange(lookup.endpoint, lookup, lookup_options(options))
            await _bounded(exchanging, CONFIG_SERVICE_TIMEOUT)
        except (AvatarError, asyncio.TimeoutError):
            pass  # the presets stand in
        remember_environments(lookup)
    return with_known_environments(config)


class AsyncSession(AsyncSessionBase):
    """An open session: send audio, interrupt, iterate events, close."""

    def __init__(self, core: ClientSession, options: ConnectOptions, callbacks: Callbacks) -> None:
        super().__init__(core, options, callbacks)
        self._wakeup = asyncio.Event()
        self._reading_paused = False
        self._write_scheduled = False
        self._wire = _Wire(self._on_data)
        self._loop = asyncio.get_running_loop()
        self._keepalive: asyncio.TimerHandle | None = None

    # --- bytes -------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        self._core.receive_data(data)
        if data:
            self._core.tick(self._loop.time())
        self._write_now()
        self._deliver_core_events()
        if self._queue_full and not self._reading_paused:
            self._pause_reading(True)
        self._wakeup.set()
        transport = self._wire.transport
        if self._core.state.ended:
            self._stop_keepalive()
            if transport is not None:
                transport.close()
        elif self._keepalive is None:
            self._arm_keepalive()

    def _arm_keepalive(self) -> None:
        """One timer at the core's next keepalive deadline (moved lazily: a timer that
        fires early just re-arms at the later deadline)."""
        deadline = self._core.next_deadline()
        if deadline is not None:
            self._keepalive = self._loop.call_at(deadline, self._keepalive_due)

    def _keepalive_due(self) -> None:
        self._keepalive = None
        self._core.tick(self._loop.time(), reading=not self._reading_paused)
        self._write_now()
        self._deliver_core_events()
        self._wakeup.set()
        if self._core.state.ended:  # the connection is gone: no goodbye
            if self._wire.transport is not None:
                self._wire.transport.abort()
        else:
            self._arm_keepalive()

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def _pause_reading(self, pause: bool) -> None:
        transport = self._wire.transport
        if transport is None or transport.is_closing():
            return
        self._reading_paused = pause
        transport.pause_reading() if pause else transport.resume_reading()

    def _write_now(self) -> None:
        data = self._core.data_to_send()
        transport = self._wire.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _write_soon(self) -> None:
        self._write_scheduled = False
        self._write_now()

    async def _flush(self, batch: bool = False) -> None:
        """Write what the core queued (audio batched: once per loop iteration, or at once
        past ``WRITE_BATCH`` bytes); then wait while the transport holds too much."""
        if not batch or self._core.bytes_to_send >= WRITE_BATCH:
            self._write_now()
        elif not self._write_scheduled:
            self._write_scheduled = True
            asyncio.get_running_loop().call_soon(self._write_soon)
        if not self._wire.writable.is_set():
            origin = self._core.config.ingress_endpoint.origin
            seconds = self._options.timeouts.send
            await _within(Step.SEND, seconds, origin, self._wire.writable.wait(), False)

    async def _start(self, endpoint: Endpoint) -> None:
        with observing(self._observer, "connect"):
            transport = await _open(endpoint, self._wire, self._options, console=False)
        transport.set_write_buffer_limits(high=self._options.max_buffered_audio)
        timeouts, origin = self._options.timeouts, endpoint.origin
        self._write_now()
        try:
            with observing(self._observer, "handshake"):
                upgraded = self._until(lambda: self._core.state is not SessionState.CONNECTING)
                await _within(Step.UPGRADE, timeouts.upgrade, origin, upgraded, False)
                confirmed = self._until(self._handshake_done)
                await _within(Step.HANDSHAKE, timeouts.handshake, origin, confirmed, False)
        except BaseException:
            transport.abort()
            raise

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition() and not self._core.state.ended:
            self._wakeup.clear()
            await self._wakeup.wait()

    # --- what the application calls ---------------------------------------------------

    async def send_audio(
        self,
        audio: bytes | bytearray | memoryview,
        end: bool = False,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> str:
        """Send audio for the current request; waits while too much is unsent."""
        if self._options.encoder is None and self._observer is None:
            # _queue_payload's own case, and _flush(batch=True) inline: one coroutine
            # and three calls fewer per message on the bulk path.
            core = self._core
            req_id = core.send_audio(audio, end, traceparent=traceparent, tracestate=tracestate)
            if self._log.logger.isEnabledFor(logging.DEBUG):
                self._log_audio(audio, end, req_id)
            if core.bytes_to_send >= WRITE_BATCH:
                self._write_now()
            elif not self._write_scheduled:
                self._write_scheduled = True
                self._loop.call_soon(self._write_soon)
            if not self._wire.paused:
                return req_id
        else:
            req_id = self._queue_audio(audio, end, traceparent, tracestate)
        await self._flush(batch=True)
        return req_id

    async def stream(
        self,
        audio: Iterable[bytes] | AsyncIterable[bytes],
        *,
        realtime: bool = True,
        end: bool = True,
        start: float | None = None,
        ahead: float = 0.0,
    ) -> str:
        """Send a source of PCM chunks as one request (closed with ``end=True`` unless
        ``end=False``); returns its req_id.

        ``realtime=True`` sends each chunk when its audio would start playing, as a
        live speaker would, the first at ``start`` (a time of ``loop.time()``; by default
        now); every session of the event loop shares one timer for it. ``ahead`` (seconds,
        at most 0.5) lets chunks go out that much early, joined with the due ones: fewer,
        larger messages for less CPU. An ``interrupt()`` of the request stops the stream
        there. ``realtime=False`` sends as fast as backpressure allows.
        """
        if realtime:
            config, rate = self._core.config, encoder_rate(self)
            return await stream_paced(
                self, config, audio, end=end, start=start, ahead=ahead, encoder_rate=rate
            )
        return await send_unpaced(self.send_audio, audio, end)

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        """Queue audio without writing (the pacer's call: it writes once per pass)."""
        return queue_paced(self, audio, end)

    def _write_paced(self) -> None:
        """Write what the pacer queued."""
        self._write_now()

    def _current_request(self) -> str | None:
        """The req_id the next audio goes to (``None``: it opens a new request)."""
        return current_request(self)

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        """``False`` if the socket takes more now; else ``wake()`` once it drains."""
        if self._wire.writable.is_set():
            return False
        self._wire.on_writable.append(wake)
        return True

    async def _written(self, req_id: str) -> str:
        await self._flush()
        return req_id

    async def next_event(self) -> Event:
        """The next event; after the session closed, its ``SessionClosed`` again."""
        while (event := self._take_event()) is None:
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._reading_paused and self._queue_has_room:
            self._pause_reading(False)
        return event

    async def close(self) -> None:
        """Close the session: closing handshake within the close timeout, then the socket."""
        transport = self._wire.transport
        self._stop_keepalive()
        try:
            if not self._core.state.ended:
                self._core.close()
                self._write_now()
                self._deliver_core_events()
                seconds = self._options.timeouts.close
                closed = self._until(lambda: self._closed is not None)
                await _bounded(closed, seconds)
        except (asyncio.TimeoutError, OSError):
            self._on_data(b"")
        finally:
            if transport is not None:
                transport.abort() if self._closed is None else transport.close()


async def open_session(
    config: SessionConfig,
    token: str,
    options: ConnectOptions | None = None,
    callbacks: Callbacks | None = None,
    *,
    observer: SessionObserver | None = None,
) -> AsyncSession:
    """Open the ingress socket with a token and run the handshake; returns a ready session."""
    options = options or ConnectOptions()
    session = AsyncSession(
        new_client_session(config, token, options), options, callbacks or Callbacks()
    )
    session._observer = observer or new_observer(options)
    await session._start(config.ingress_endpoint)
    return session


#: How this binding opens a session: its I/O in the sequence :mod:`.opening` decides.
_OPENER = AsyncOpener(resolve_environment, fetch_token, open_session, asyncio.sleep)


@asynccontextmanager
async def connect(
    config: SessionConfig, **keywords: Unpack[ConnectKeywords]
) -> AsyncIterator[AsyncSession]:
    """Fetch a token, open the socket, run the handshake; close on the way out.

    Takes the keywords of :class:`~.opening.ConnectKeywords`. ``retry`` retries the
    opening per the policy (each attempt with a new token), logging each retry and
    telling ``on_retry``; without it, nothing is retried. Callbacks are called as
    events come; every event is also queued for ``async for`` / ``next_event()``
    unless ``queue_events=False``.
    """
    session = await _OPENER.open(config, Opening.from_keywords(keywords))
    try:
        yield session
    finally:
        await session.close()


if TYPE_CHECKING:
    _satisfies_the_protocol: type[Session] = AsyncSession
    _connect_satisfies_the_protocol: Connect = connect
