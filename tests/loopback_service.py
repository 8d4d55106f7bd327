"""A small AvatarKit service on loopback for binding tests, with knobs to misbehave.

It runs the core's service role (:class:`ServerConnection`) on its own asyncio loop
in a background thread, so tests of any binding (asyncio, trio, blocking) can talk
to a real socket. What it received is recorded for the test to check.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from avatarwire.core.config import SessionConfig
from avatarwire.core.server import (
    AudioReceived,
    ClientClosed,
    ConfigureReceived,
    HttpRequestReceived,
    InterruptReceived,
    ServerConnection,
    ServerEvent,
    ServerState,
    UpgradeRequested,
)

TOKEN = "loopback-token-0123456789"
CONNECTION_ID = "loopback-connection"
READ_SIZE = 64 * 1024


@dataclass
class Behaviour:
    """How the service answers; the defaults make a well-behaved service."""

    answer_token: bool = True
    accept_upgrade: bool = True
    confirm: bool = True
    capabilities: tuple[str, ...] = ("playback_control",)
    #: After confirming, stop reading the socket (the client's writes back up).
    read_after_ready: bool = True
    #: Frames sent for each audio message (the last one of a request ends it).
    frames_per_audio: int = 1
    frame_animation: bytes = b""
    #: Environment names ``GET /sdk`` (the config service) points at this service.
    environments: tuple[str, ...] = ("loopback",)


@dataclass
class Record:
    """What the service saw, guarded by the service's condition."""

    audio: dict[str, bytearray] = field(default_factory=dict, repr=False)
    finished: list[str] = field(default_factory=list)
    interrupts: list[str] = field(default_factory=list)
    client_closes: list[int | None] = field(default_factory=list)
    connections_opened: int = 0
    connections_open: int = 0
    #: ``GET /sdk`` requests (environment lookups) and token requests answered.
    lookups: int = 0
    token_requests: int = 0
    frames_written: int = 0


class LoopbackService:
    """Console and ingress on one loopback port, served from a background thread."""

    def __init__(
        self, behaviour: Behaviour | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        self.record = Record()
        self._ssl = ssl_context
        self._changed = threading.Condition()
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping = asyncio.Event()
        self.port = 0

    # --- lifetime -------------------------------------------------------------------

    def start(self) -> LoopbackService:
        """Start serving; returns self once the port is bound."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-service")
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=5)
        return self

    def stop(self) -> None:
        """Stop serving and drop every connection; the thread ends."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> LoopbackService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use -----------------------------------------------------------------

    def config(self, **overrides: Any) -> SessionConfig:
        """A session config pointing at this service."""
        scheme = "https" if self._ssl is not None else "http"
        ws_scheme = "wss" if self._ssl is not None else "ws"
        values: dict[str, Any] = {
            "api_key": "loopback-api-key-0123456789",
            "app_id": "loopback-app",
            "avatar_id": "loopback-avatar",
            "console_url": f"{scheme}://127.0.0.1:{self.port}/v1/console",
            "ingress_url": f"{ws_scheme}://127.0.0.1:{self.port}/v2/driveningress",
        }
        values.update(overrides)
        return SessionConfig(**values)

    def wait_until(self, condition: Callable[[Record], bool], timeout: float = 5.0) -> bool:
        """Block until ``condition(record)`` holds (True) or the timeout passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self.record), timeout)

    @contextmanager
    def locked(self) -> Iterator[Record]:
        """The record, held still while the caller reads it."""
        with self._changed:
            yield self.record

    # --- serving (on the service's loop) ---------------------------------------------------

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self._ssl)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._stopping.set()
        for task, writer in list(self._handlers.items()):
            writer.transport.abort()
            with suppress(Exception):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        self._update(lambda r: _opened(r))
        try:
            await self._serve(ServerConnection(), reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.pop(task, None)
            writer.close()
            self._update(lambda r: _closed(r))

    async def _serve(
        self, conn: ServerConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while not conn.closed:
            data = await reader.read(READ_SIZE)
            conn.receive_data(data)
            while (event := conn.next_event()) is not None:
                await self._answer(conn, event, writer)
            writer.write(conn.data_to_send())
            await writer.drain()
            if not data:
                return
            if conn.state is ServerState.OPEN and not self.behaviour.read_after_ready:
                await self._stopping.wait()  # hold the socket, never read again
                return

    async def _answer(
        self, conn: ServerConnection, event: ServerEvent, writer: asyncio.StreamWriter
    ) -> None:
        behaviour = self.behaviour
        if isinstance(event, HttpRequestReceived) and event.path == "/sdk":
            self._update(lambda r: setattr(r, "lookups", r.lookups + 1))
            origin = f"http://127.0.0.1:{self.port}"
            urls = {"api": origin, "driveningress": origin}
            conn.respond(200, {"environments": {name: urls for name in behaviour.environments}})
        elif isinstance(event, HttpRequestReceived) and behaviour.answer_token:
            self._update(lambda r: setattr(r, "token_requests", r.token_requests + 1))
            conn.respond(200, {"sessionToken": TOKEN})
        elif isinstance(event, UpgradeRequested) and behaviour.accept_upgrade:
            conn.accept_upgrade()
        elif isinstance(event, ConfigureReceived) and behaviour.confirm:
            conn.confirm_session(CONNECTION_ID, list(behaviour.capabilities))
        elif isinstance(event, AudioReceived):
            self._update(lambda r: _add_audio(r, event))
            await self._send_frames(conn, event, writer)
        elif isinstance(event, InterruptReceived):
            self._update(lambda r: r.interrupts.append(event.req_id))
        elif isinstance(event, ClientClosed):
            self._update(lambda r: r.client_closes.append(event.code))

    async def _send_frames(
        self, conn: ServerConnection, event: AudioReceived, writer: asyncio.StreamWriter
    ) -> None:
        count = self.behaviour.frames_per_audio
        for index in range(count):
            if conn.state is not ServerState.OPEN:
                return
            last = event.end and index == count - 1
            conn.send_animation(
                event.req_id,
                end=last,
                connection_id=CONNECTION_ID,
                animation=self.behaviour.frame_animation or None,
            )
            writer.write(conn.data_to_send())
            await writer.drain()
            self._update(_count_frame)

    def _update(self, change: Callable[[Record], object]) -> None:
        with self._changed:
            change(self.record)
            self._changed.notify_all()


def _opened(record: Record) -> None:
    record.connections_opened += 1
    record.connections_open += 1


def _closed(record: Record) -> None:
    record.connections_open -= 1


def _count_frame(record: Record) -> None:
    record.frames_written += 1


def _add_audio(record: Record, event: AudioReceived) -> None:
    record.audio.setdefault(event.req_id, bytearray()).extend(event.audio)
    if event.end:
        record.finished.append(event.req_id)
