"""One TCP connection of the emulator: feed the service-role core, route what it
reports (console call, egress report, ingress upgrade, session messages), write
its answers, and clean up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from avatarwire.core.errors import LocalProtocolError
from avatarwire.core.server import (
    ClientClosed,
    ConnectionLost,
    HttpRequestReceived,
    ServerConnection,
    ServerEvent,
    ServerState,
    UpgradeRequested,
)
from avatarwire.core.wire_constants import CLOSE_GOING_AWAY

from .admission import admit
from .console import Console
from .faults import Fault, FaultKind, first_of
from .link import Link
from .motion import MotionSynthesizer
from .session import IngressSession
from .settings import EmulatorSettings
from .sink import EgressSink
from .tokens import TokenStore

READ_SIZE = 64 * 1024
logger = logging.getLogger("avatarwire.emulator")
#: Receive buffer asked of the kernel under a slow-reads fault, so backpressure shows
#: early; not below the loopback MSS (64 KiB), or the sender stalls ~200 ms a window
#: and the reader gets far less than its configured rate.
_SLOW_RECEIVE_BUFFER = 64 * 1024


class _Stall(Exception):
    """Raised inside routing to stop answering (a stall fault or a hanging console)."""


class ConnectionHandler:
    """Serves one accepted TCP connection from first byte to close."""

    def __init__(
        self,
        settings: EmulatorSettings,
        console: Console,
        tokens: TokenStore,
        sink: EgressSink,
        motion: MotionSynthesizer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._settings = settings
        self._console = console
        self._tokens = tokens
        self._sink = sink
        self._motion = motion
        self._reader = reader
        self._writer = writer
        self._core = ServerConnection(max_message_size=settings.max_message_size)
        self._link = Link(self._core, writer)
        self._session: IngressSession | None = None
        self._slow_reads: Fault | None = None

    def __repr__(self) -> str:
        return f"<ConnectionHandler {self._core!r}>"

    @property
    def session(self) -> IngressSession | None:
        """The ingress session, once the upgrade was accepted."""
        return self._session

    async def serve(self) -> None:
        """Run until the connection ends; never raises for anything the client does."""
        try:
            await self._pump()
        except _Stall:
            await self._discard_until_eof()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except LocalProtocolError:  # an emulator bug: drop this connection, keep serving
            logger.exception("emulator connection failed; dropping it")
            self._link.abort()
        finally:
            await self._shut()

    async def _pump(self) -> None:
        while not self._core.closed:
            data = await self._read()
            self._core.receive_data(data)
            while (event := self._core.next_event()) is not None:
                self._route(event)
            self._link.flush()
            await self._link.drain()

    async def _read(self) -> bytes:
        """The next bytes (``b""`` at EOF), slowly under a slow-reads fault."""
        size = READ_SIZE
        if self._slow_reads is not None:
            size = max(1, min(READ_SIZE, self._slow_reads.bytes_per_second // 10))
        data = await self._reader.read(size)
        if self._slow_reads is not None and data:
            await asyncio.sleep(len(data) / self._slow_reads.bytes_per_second)
        return data

    def _route(self, event: ServerEvent) -> None:
        if isinstance(event, HttpRequestReceived):
            answer = self._console.answer(event)
            if answer.hang:
                raise _Stall
            self._core.respond(answer.status, answer.body, content_type=answer.content_type)
        elif isinstance(event, UpgradeRequested):
            self._upgrade(event)
        elif self._session is not None:
            self._session.handle(event)
            if isinstance(event, (ClientClosed, ConnectionLost)):
                self._link.flush()

    def _upgrade(self, upgrade: UpgradeRequested) -> None:
        faults = self._settings.faults_for(upgrade.avatar_id)
        if first_of(faults, FaultKind.STALL_CONNECT) is not None:
            raise _Stall
        refusal = admit(upgrade, self._settings, self._tokens)
        if refusal is not None:
            self._core.reject_upgrade(refusal.status, refusal.body)
            return
        self._slow_reads = first_of(faults, FaultKind.SLOW_READS)
        if self._slow_reads is not None:
            self._shrink_receive_buffer()
        self._session = IngressSession(
            self._link, self._settings, upgrade.avatar_id, faults, self._sink, self._motion
        )
        self._core.accept_upgrade()

    def _shrink_receive_buffer(self) -> None:
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SLOW_RECEIVE_BUFFER)

    async def _discard_until_eof(self) -> None:
        """Keep the connection open, answering nothing, until the client gives up."""
        with contextlib.suppress(ConnectionError):
            while await self._reader.read(READ_SIZE):
                pass

    async def _shut(self) -> None:
        """Stop the session's tasks and close the socket (also on cancellation)."""
        if self._session is not None:
            await self._session.stop()
        self._link.cancel_timers()
        if self._core.state is ServerState.OPEN:
            self._core.close(CLOSE_GOING_AWAY, "emulator shutting down")
        with contextlib.suppress(Exception):
            self._link.flush()
        if self._writer.transport.get_write_buffer_size() == 0:
            self._writer.close()
        else:  # the client stopped reading: do not linger
            self._link.abort()
