"""Real-time pacing for trio: one system task per ``trio.run`` sends every paced
session's audio as it falls due.

The task sleeps until the earliest due time of its
:class:`~avatarwire.core.pacing.PaceQueue` (or until a stream is added ahead of it),
then every stream with audio due sends all of it through its session in one write
(the session's writer task takes it from there), exactly as the asyncio pacer does;
what is due, how chunks are joined and what an interrupt does are the core's
decisions. A stream whose caller is cancelled leaves at its next due time.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Iterable

import trio

from avatarwire.core.config import SessionConfig
from avatarwire.core.pacing import PacedAudio, PaceQueue, check_pacing, pcm_bytes_per_second

from ._pacing import PacedSession, PacedStreamBase

__all__ = ["TrioPacer", "stream_paced"]


class TrioPacedStream(PacedStreamBase):
    """One request's audio on its way out; ``done`` is set with its outcome."""

    __slots__ = ("abandoned", "done", "error", "pacer", "room")

    def __init__(self, session: PacedSession, pacer: TrioPacer, paced: PacedAudio) -> None:
        super().__init__(session, paced)
        self.pacer = pacer
        self.done = trio.Event()
        self.error: BaseException | None = None
        self.abandoned = False  # the caller was cancelled
        #: Set while an async source may read ahead.
        self.room = trio.Event()
        self.room.set()

    def over(self) -> bool:
        return self.done.is_set() or self.abandoned

    def resolve(self) -> None:
        self.done.set()
        self.room.set()

    def fail(self, exc: BaseException) -> None:
        if not self.done.is_set():
            self.error = exc
        self.resolve()

    def wake(self) -> None:
        if not self.over():
            self.pacer.add(self)

    def abandon(self) -> None:
        self.abandoned = True

    async def room_to_read(self) -> None:
        if not self.over():
            self.room = trio.Event()
            await self.room.wait()

    def serve(self, horizon: float) -> bool:
        more = super().serve(horizon)
        if self.paced.has_room:
            self.room.set()
        return more

    async def outcome(self) -> str:
        """Wait for the stream to end; its req_id, or its error raised."""
        try:
            await self.done.wait()
        except BaseException:
            self.abandoned = True
            raise
        if self.error is not None:
            raise self.error
        return self.paced.req_id


class TrioPacer:
    """The one timer of a trio run that sends all paced streams on schedule."""

    def __init__(self) -> None:
        self._queue: PaceQueue[TrioPacedStream] = PaceQueue()
        self._sooner = trio.Event()

    def add(self, stream: TrioPacedStream) -> None:
        """Schedule ``stream``'s next chunk at its due time (or now, if that has passed)."""
        if self._queue.add(stream, trio.current_time()):
            self._sooner.set()

    async def run(self) -> None:
        """The pacer's task: sleep until the next due time, serve, repeat, until the run ends."""
        while True:
            due = self._queue.next_due
            with trio.move_on_at(math.inf if due is None else due):
                await self._sooner.wait()
            self._sooner = trio.Event()
            self._queue.serve_due(trio.current_time(), TrioPacedStream.serve)


_PACER: trio.lowlevel.RunVar[TrioPacer] = trio.lowlevel.RunVar("avatarwire_pacer")


def pacer() -> TrioPacer:
    """This trio run's pacer, its task started on first use."""
    try:
        return _PACER.get()
    except LookupError:
        made = TrioPacer()
        _PACER.set(made)
        trio.lowlevel.spawn_system_task(made.run, name="avatarwire pacer")
        return made


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
    (the first at ``start``, a time of ``trio.current_time()``; by default now), or
    up to ``ahead`` seconds before, joined with the chunks due before it."""
    first, ahead = check_pacing(start, ahead, "trio.current_time()")
    rate = pcm_bytes_per_second(config, encoder_rate)
    begin = trio.current_time() if first is None else first
    the_pacer = pacer()
    chunks = None if isinstance(source, AsyncIterable) else source
    paced = PacedAudio(rate, begin, end=end, ahead=ahead, source=chunks)
    stream = TrioPacedStream(session, the_pacer, paced)
    if isinstance(source, AsyncIterable):
        await stream.feed(source)
    else:
        the_pacer.add(stream)
    return await stream.outcome()
