"""One TCP connection as a session sees it: the service-role core plus the stream
it writes to."""

from __future__ import annotations

import asyncio

from avatarwire.core.server import ServerConnection, ServerState
from avatarwire.core.wire_constants import CLOSE_NORMAL

#: How long to wait for the client's close frame after ours before dropping TCP.
CLOSE_TIMEOUT = 5.0


class Link:
    """Pairs a :class:`ServerConnection` with its writer; ``flush`` after every core call."""

    def __init__(self, core: ServerConnection, writer: asyncio.StreamWriter) -> None:
        self.core = core
        self.writer = writer
        self._close_timer: asyncio.TimerHandle | None = None
        self._flush_scheduled = False

    def __repr__(self) -> str:
        return f"<Link {self.core!r}>"

    @property
    def session_open(self) -> bool:
        """Whether session messages may still be sent."""
        return self.core.state is ServerState.OPEN and not self.writer.is_closing()

    def flush(self) -> None:
        """Hand what the core queued to the transport."""
        self._flush_scheduled = False
        data = self.core.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def flush_soon(self) -> None:
        """:meth:`flush` once this turn of the event loop is over: the frames a fast
        playout makes in one go leave in one write, not a system call each."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    async def drain(self) -> None:
        """Wait while the transport holds too much unsent data (backpressure)."""
        try:
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.abort()

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake; drop TCP if the client does not answer in time."""
        self.core.close(code, reason)
        self.flush()
        if self._close_timer is None:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT, self._abort_unless_closed)

    def _abort_unless_closed(self) -> None:
        if not self.core.closed:
            self.abort()

    def cancel_timers(self) -> None:
        """Forget the pending close timeout (the connection is being cleaned up)."""
        if self._close_timer is not None:
            self._close_timer.cancel()

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""
        self.writer.transport.abort()
