"""trio binding: the core driven by trio streams, its reader and writer owned by a nursery.

One reader task feeds the core and delivers events; one writer task sends the
audio ``send_audio`` queued. Both live in the nursery of the ``async with
connect(...)`` block, so nothing outlives the block. Writes go out under one FIFO
lock (so replies from the reader and the application's audio never interleave).

Audio is batched: ``send_audio`` queues its message in the core and wakes the
writer, which runs at the caller's next schedule point and sends everything the
core holds in one write. Once the core holds ``WRITE_BATCH`` bytes (or
``max_buffered_audio``, if smaller) ``send_audio`` writes them itself and waits
until the kernel took them, behind any write in progress: so at most about twice
that is ever unsent, and ``send_audio`` is a cancel point on every call but a
schedule point only when it writes. ``interrupt``, ``pause``, ``resume`` and
``close`` write at once. Reading pauses while more than ``max_queued_events``
events wait to be consumed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

import trio

from avatarwire.core.config import SessionConfig
from avatarwire.core.endpoints import Endpoint
from avatarwire.core.environments import CONFIG_SERVICE_TIMEOUT
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import Event
from avatarwire.core.http_exchange import HttpExchange
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.core.steps import Step, Timeouts, step_failed, step_timed_out

from ._base import AsyncSessionBase
from ._common import (
    READ_SIZE,
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
from .session import Connect, Session
from .trio_pacer import stream_paced

__all__ = [
    "Timeouts",
    "TrioSession",
    "connect",
    "fetch_token",
    "open_session",
    "resolve_environment",
]

#: What a stream raises when the connection under it is gone (TLS errors included).
_STREAM_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)

#: Audio calls that leave less than this unsent share one write (the writer task's).
WRITE_BATCH = 64 * 1024


@contextmanager
def _within(step: Step, seconds: float, origin: str, console: bool) -> Iterator[None]:
    """Run a step under its time limit; turn its failures into the step's AvatarError."""
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError:
        raise step_timed_out(step, seconds, origin=origin, console=console) from None
    except _STREAM_ERRORS as exc:
        raise step_failed(step, exc, origin=origin, console=console) from None


async def _open(endpoint: Endpoint, options: ConnectOptions, *, console: bool) -> trio.abc.Stream:
    route = route_to(endpoint, options, console=console)
    timeouts, origin = options.timeouts, route.origin
    with _within(Step.TCP_CONNECT, timeouts.tcp_connect, origin, console):
        tcp = await trio.open_tcp_stream(route.host, route.port)
    try:
        tunnel = route.tunnel()
        if tunnel is not None:
            with _within(Step.PROXY_CONNECT, timeouts.proxy_connect, origin, console):
                await tcp.send_all(tunnel.data_to_send())
                while not tunnel.done:
                    tunnel.receive_data(bytes(await tcp.receive_some(READ_SIZE)))
            tunnel.raise_for_outcome()
        context = tls_context_for(endpoint.secure, options.ssl_context)
        if context is None:
            return tcp
        # https_compatible: a peer that drops TCP without close_notify is an EOF, not an error.
        tls = trio.SSLStream(tcp, context, server_hostname=endpoint.host, https_compatible=True)
        with _within(Step.TLS, timeouts.tls, origin, console):
            await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return tls


async def _exchange(endpoint: Endpoint, exchange: HttpExchange, options: ConnectOptions) -> None:
    """Run one plain HTTP request/response with the endpoint, under the token limit."""
    stream = await _open(endpoint, options, console=True)
    try:
        with _within(Step.TOKEN, options.timeouts.token, endpoint.origin, True):
            await stream.send_all(exchange.data_to_send())
            while not exchange.done:
                exchange.receive_data(bytes(await stream.receive_some(READ_SIZE)))
    finally:
        await trio.aclose_forcefully(stream)


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
        with trio.move_on_after(CONFIG_SERVICE_TIMEOUT):
            with contextlib.suppress(AvatarError):  # the presets stand in
                await _exchange(lookup.endpoint, lookup, lookup_options(options))
        remember_environments(lookup)
    return with_known_environments(config)


class TrioSession(AsyncSessionBase):
    """An open session: send audio, interrupt, iterate events, close."""

    def __init__(
        self,
        core: ClientSession,
        stream: trio.abc.Stream,
        options: ConnectOptions,
        callbacks: Callbacks,
    ) -> None:
        super().__init__(core, options, callbacks)
        self._stream = stream
        self._origin = core.config.ingress_endpoint.origin
        self._arrived = trio.lowlevel.ParkingLot()  # wakes next_event and the handshake
        self._room = trio.lowlevel.ParkingLot()  # wakes a reader paused by a full queue
        self._write_lock = trio.StrictFIFOLock()
        self._reader = trio.CancelScope()
        self._writer = trio.CancelScope()
        self._keeper = trio.CancelScope()
        self._write_wanted = trio.lowlevel.ParkingLot()  # wakes the writer task
        self._write_scheduled = False  # the writer is woken and has not finished yet
        self._batch_bytes = min(WRITE_BATCH, options.max_buffered_audio)
        self._closing = False
        self._reading = True  # False while a full event queue holds the reader back
        self._write_failure: AvatarError | None = None
        #: Called once after the next write (or when the connection is gone): paced
        #: streams waiting for room.
        self._on_written: list[Callable[[], None]] = []

    # --- bytes -------------------------------------------------------------------------

    async def _read(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The reader task: socket -> core -> events, until closed or cancelled."""
        try:
            with self._reader:
                task_status.started()
                while not self._core.state.ended:
                    try:
                        data = bytes(await self._stream.receive_some(READ_SIZE))
                    except _STREAM_ERRORS:
                        data = b""
                    self._take(data)
                    # While a write runs, its loop sends the replies too.
                    if self._core.bytes_to_send and not self._write_lock.locked():
                        await self._flush_replies()
                    while self._queue_full and not self._closing:
                        self._reading = False
                        await self._room.park()
                    self._reading = True
        finally:  # stopped early (cancelled), the session is over all the same
            self._take(b"")
            self._written_out()
            self._writer.cancel()
            self._keeper.cancel()
            await trio.aclose_forcefully(self._stream)

    async def _write_batches(
        self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The writer task: sends all the core holds each time ``send_audio`` wakes it."""
        lock = self._write_lock
        with self._writer:
            task_status.started()
            while True:
                await self._write_wanted.park()
                try:
                    try:  # just woken: no need for the checkpoint of ``acquire``
                        lock.acquire_nowait()
                    except trio.WouldBlock:
                        await lock.acquire()
                    try:
                        await self._write_all(Step.SEND)
                    finally:
                        lock.release()
                except AvatarError as exc:  # stored: the application's next call raises it
                    self._log.info("could not write to the service: %s", exc)
                finally:
                    self._write_scheduled = False

    async def _keep_alive(
        self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The keepalive task: ticks the core at its deadlines; a ping it queues goes
        out through the writer task, so this task never waits on the socket."""
        with self._keeper:
            task_status.started()
            while not self._core.state.ended:
                deadline = self._core.next_deadline()
                if deadline is None:
                    await self._arrived.park()
                    continue
                await trio.sleep_until(deadline)
                self._core.tick(trio.current_time(), reading=self._reading)
                self._take(None)
                if self._closed is not None:  # the connection is gone: stop waiting to read
                    self._reader.cancel()
                elif self._core.bytes_to_send and not self._write_scheduled:
                    self._write_scheduled = True
                    self._write_wanted.unpark_all()

    def _take(self, data: bytes | None) -> None:
        """Feed bytes to the core (``b""``: the connection is gone; ``None``: nothing)
        and deliver what happened, in order."""
        if data is not None:
            self._core.receive_data(data)
            if data:
                self._core.tick(trio.current_time())
        self._deliver_core_events()
        self._arrived.unpark_all()

    async def _flush(self, step: Step = Step.SEND) -> None:
        """Write all the core has queued, also what it queues meanwhile.

        If a write fails or is cancelled, part of a message may be out: the
        connection is dropped and the session closed, then the step's error raised.
        """
        async with self._write_lock:
            await self._write_all(step)

    async def _write_all(self, step: Step) -> None:
        """``_flush``'s loop; the caller holds the write lock."""
        if self._write_failure is not None:  # another task failed to write our bytes
            raise self._write_failure
        seconds = self._options.timeouts.of(step)
        try:
            while data := self._core.data_to_send():
                try:
                    await self._send_within(step, seconds, data)
                except BaseException as exc:
                    ended_first = self._closed is not None
                    await trio.aclose_forcefully(self._stream)
                    self._take(b"")
                    if isinstance(exc, AvatarError):
                        if ended_first:  # its SessionClosed already says why
                            return
                        self._write_failure = exc
                    raise
        finally:
            self._written_out()

    def _written_out(self) -> None:
        """A write ended (or the connection is gone): wake the paced streams waiting."""
        if self._on_written:
            waiting, self._on_written = self._on_written, []
            for wake in waiting:
                wake()

    async def _send_within(self, step: Step, seconds: float, data: bytes) -> None:
        """One write under the step's time limit (``_within`` without its generators)."""
        try:
            with trio.CancelScope(deadline=trio.current_time() + seconds) as scope:
                await self._stream.send_all(data)
        except _STREAM_ERRORS as exc:
            raise step_failed(step, exc, origin=self._origin, console=False) from None
        if scope.cancelled_caught:
            raise step_timed_out(step, seconds, origin=self._origin, console=False)

    async def _flush_replies(self) -> None:
        try:
            await self._flush()
        except AvatarError as exc:
            self._log.info("could not write to the service: %s", exc)

    async def _start(self, nursery: trio.Nursery) -> None:
        timeouts = self._options.timeouts
        await nursery.start(self._read)
        await nursery.start(self._write_batches)
        if self._options.ping_interval is not None:
            await nursery.start(self._keep_alive)
        try:
            await self._flush(Step.UPGRADE)
            with _within(Step.UPGRADE, timeouts.upgrade, self._origin, False):
                await self._until(lambda: self._core.state is not SessionState.CONNECTING)
            with _within(Step.HANDSHAKE, timeouts.handshake, self._origin, False):
                await self._until(self._handshake_done)
        except BaseException:
            self._reader.cancel()
            self._writer.cancel()
            self._keeper.cancel()
            await trio.aclose_forcefully(self._stream)
            raise

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._arrived.park()

    # --- what the application calls ---------------------------------------------------

    def _check_io(self) -> None:
        """Raise the error of a write that failed in another task (the session is closed)."""
        if self._write_failure is not None:
            raise self._write_failure

    async def _written(self, req_id: str) -> str:
        await self._flush()
        return req_id

    async def send_audio(
        self,
        audio: bytes | bytearray | memoryview,
        end: bool = False,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> str:
        """Queue audio for the current request; waits while too much is unsent.

        Written by the writer task at the caller's next schedule point, or at once
        (waiting until the socket took it) once the core holds a batch's worth.
        """
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled call queues nothing
        self._check_io()
        req_id = self._queue_audio(audio, end, traceparent, tracestate)
        if self._core.bytes_to_send >= self._batch_bytes:
            await self._flush()
        elif not self._write_scheduled:
            self._write_scheduled = True
            self._write_wanted.unpark_all()
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

        ``realtime=True`` sends each chunk when its audio would start playing, the
        first at ``start`` (a time of ``trio.current_time()``; by default now); every
        session of the trio run shares one pacer task for it. ``ahead`` (seconds, at
        most 0.5) lets chunks go out that much early, joined with the due ones. An
        ``interrupt()`` of the request stops the stream there. ``realtime=False``
        sends as fast as backpressure allows.
        """
        if realtime:
            config, rate = self._core.config, encoder_rate(self)
            return await stream_paced(
                self, config, audio, end=end, start=start, ahead=ahead, encoder_rate=rate
            )
        return await send_unpaced(self.send_audio, audio, end)

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        """Queue audio without writing (the pacer's call: it writes once per pass)."""
        self._check_io()
        return queue_paced(self, audio, end)

    def _write_paced(self) -> None:
        """Have the writer task send what the pacer queued."""
        if not self._write_scheduled:
            self._write_scheduled = True
            self._write_wanted.unpark_all()

    def _current_request(self) -> str | None:
        """The req_id the next audio goes to (``None``: it opens a new request)."""
        return current_request(self)

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        """``False`` if less than ``max_buffered_audio`` is unsent; else ``wake()``
        after the next write."""
        if self._core.bytes_to_send < self._options.max_buffered_audio or self._closed:
            return False
        self._on_written.append(wake)
        return True

    async def next_event(self) -> Event:
        """The next event; after the session closed, its ``SessionClosed`` again."""
        while (event := self._take_event()) is None:
            await self._arrived.park()
        if self._queue_has_room:
            self._room.unpark_all()
        return event

    async def close(self) -> None:
        """Close the session: closing handshake within the close timeout, then the socket.

        Cancelled or timed out, it still reports the close and drops the socket.
        """
        self._closing = True
        self._room.unpark_all()
        try:
            if not self._core.state.ended:
                self._core.close()
                self._take(None)
                with trio.move_on_after(self._options.timeouts.close):
                    await self._flush()
                    await self._until_closed()
        except AvatarError:
            pass
        finally:
            self._take(b"")  # a no-op once closed
            self._reader.cancel()
            self._writer.cancel()
            self._keeper.cancel()
            await trio.aclose_forcefully(self._stream)

    async def _until_closed(self) -> None:
        while not self._core.state.ended:
            await self._arrived.park()


async def open_session(
    config: SessionConfig,
    token: str,
    options: ConnectOptions | None = None,
    callbacks: Callbacks | None = None,
    *,
    nursery: trio.Nursery,
    observer: SessionObserver | None = None,
) -> TrioSession:
    """Open the ingress socket with a token and run the handshake; returns a ready session.

    The session's reader runs in ``nursery``; close the session before it exits.
    """
    options = options or ConnectOptions()
    core = new_client_session(config, token, options)
    observer = observer or new_observer(options)
    with observing(observer, "connect"):
        stream = await _open(config.ingress_endpoint, options, console=False)
    session = TrioSession(core, stream, options, callbacks or Callbacks())
    session._observer = observer
    with observing(observer, "handshake"):
        await session._start(nursery)
    return session


@asynccontextmanager
async def connect(
    config: SessionConfig, **keywords: Unpack[ConnectKeywords]
) -> AsyncIterator[TrioSession]:
    """Fetch a token, open the socket, run the handshake; close on the way out.

    Takes the keywords of :class:`~.opening.ConnectKeywords`. The session's reader
    and writer live in a nursery of this block. ``retry`` retries the opening per
    the policy (each attempt with a new token), logging each retry and telling
    ``on_retry``; without it, nothing is retried. Callbacks are called as events
    come; every event is also queued for ``async for`` / ``next_event()`` unless
    ``queue_events=False``.
    """
    opening = Opening.from_keywords(keywords)
    # Errors leave the nursery before they are raised, so callers catch an AvatarError
    # (or their own exception), not an exception group; cancellation goes through it.
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        in_nursery = functools.partial(open_session, nursery=nursery)
        opener = AsyncOpener(resolve_environment, fetch_token, in_nursery, trio.sleep)
        try:
            session = await opener.open(config, opening)
        except Exception as exc:
            failure = exc
        else:
            try:
                yield session
            except Exception as exc:
                failure = exc
            finally:
                await session.close()
    if failure is not None:
        raise failure


if TYPE_CHECKING:
    _satisfies_the_protocol: type[Session] = TrioSession
    _connect_satisfies_the_protocol: Connect = connect
