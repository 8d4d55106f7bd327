"""Real-time pacing for asyncio: one timer per event loop sends every paced session's
audio as it falls due.

A task per session that sleeps 20 ms between sends costs a task switch and a timer
per chunk; at a thousand sessions that alone fills a core. The :class:`Pacer` keeps
one :class:`~avatarwire.core.pacing.PaceQueue` and one ``call_at`` handle per loop:
when it fires, every stream with audio due within :data:`SLACK` sends *all* of it, in
due order, straight through its session (no task wakes up), one write per session,
and the timer re-arms for the next. A stream that fell behind (a slow pass, a socket
that was full) so catches up in one pass, whatever the pass rate. What is due when,
how chunks are joined and what an interrupt does are the core's decisions
(:mod:`avatarwire.core.pacing`), shared with the trio and blocking pacers.

A stream whose socket is full leaves the queue and is put back by the session when
the socket drains (no polling); one whose request was interrupted stops there.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterable, Iterable, Iterator

from avatarwire.core.config import SessionConfig
from avatarwire.core.pacing import (
    MAX_AHEAD,
    READ_AHEAD,
    SLACK,
    PacedAudio,
    PaceQueue,
    check_pacing,
    pcm_bytes_per_second,
)

from ._pacing import PacedSession, PacedStreamBase

__all__ = [
    "MAX_AHEAD",
    "READ_AHEAD",
    "SLACK",
    "PacedSession",
    "PacedStream",
    "Pacer",
    "pacer_for",
    "stream_paced",
]


class PacedStream(PacedStreamBase):
    """One request's audio on its way out in real time; ``done`` holds its req_id."""

    __slots__ = ("done", "pacer", "room")

    def __init__(
        self,
        session: PacedSession,
        pacer: Pacer,
        rate: int,
        start: float,
        done: asyncio.Future[str],
        end: bool,
        ahead: float = 0.0,
    ) -> None:
        super().__init__(session, PacedAudio(rate, start, end=end, ahead=ahead))
        self.pacer = pacer
        self.done = done
        #: Set while an async source's feeder may read ahead (made when it first waits).
        self.room: asyncio.Event | None = None

    @property
    def source(self) -> Iterator[bytes] | None:
        """A plain iterable's iterator: each chunk is taken as it falls due."""
        return self.paced.source

    @source.setter
    def source(self, chunks: Iterable[bytes]) -> None:
        self.paced.source = iter(chunks)

    def over(self) -> bool:
        return self.done.done()

    def resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(self.paced.req_id)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def wake(self) -> None:
        if not self.done.done():
            self.pacer.add(self)

    def abandon(self) -> None:
        self.done.cancel()

    async def room_to_read(self) -> None:
        room = self.room
        if room is None:
            room = self.room = asyncio.Event()
            self.done.add_done_callback(lambda _: room.set())  # a failed stream frees it
        room.clear()
        await room.wait()

    def serve(self, horizon: float) -> bool:
        more = super().serve(horizon)
        if self.room is not None and self.paced.has_room:
            self.room.set()
        return more


class Pacer:
    """The one timer of an event loop that sends all paced streams on schedule."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: PaceQueue[PacedStream] = PaceQueue()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, stream: PacedStream) -> None:
        """Schedule ``stream``'s next chunk at its due time (or now, if that has passed)."""
        if self._queue.add(stream, self._loop.time()):
            self._arm(self._queue.next_due)

    def _arm(self, due: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if due is None else self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        """Send every chunk due by now (plus :data:`SLACK`), stream by stream in due
        order, one write per session; then re-arm at the next stream's due time."""
        self._timer = None
        self._arm(self._queue.serve_due(self._loop.time(), PacedStream.serve))


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


def pacer_for(loop: asyncio.AbstractEventLoop) -> Pacer:
    """The running loop's pacer (one per loop, made on first use)."""
    pacer = _PACERS.get(loop)
    if pacer is None:
        pacer = _PACERS[loop] = Pacer(loop)
    return pacer


async def stream_paced(
    session: PacedSession,
    config: SessionConfig,
    source: Iterable[bytes] | AsyncIterable[bytes],
    *,
    end: bool,
    start: float | None = None,
    ahead: float = 0.0,
    encoder_rate: int | None = None,
) -> str:
    """Send ``source``'s chunks as one request, each when its audio would start playing
    (the first at ``start``, a time of the loop's clock; by default now), or up to
    ``ahead`` seconds before, joined with the chunks due before it."""
    first, ahead = check_pacing(start, ahead, "the event loop's clock")
    loop = asyncio.get_running_loop()
    rate = pcm_bytes_per_second(config, encoder_rate)
    done: asyncio.Future[str] = loop.create_future()
    pacer = pacer_for(loop)
    stream = PacedStream(
        session, pacer, rate, loop.time() if first is None else first, done, end, ahead
    )
    if isinstance(source, AsyncIterable):
        await stream.feed(source)
    else:
        stream.source = source
        pacer.add(stream)
    return await done
