"""Real-time pacing for asyncio: one timer per event loop sends every paced session's
audio as it falls due.

A task per session that sleeps 20 ms between sends costs a task switch and a timer
per chunk; at a thousand sessions that alone fills a core. The :class:`Pacer` keeps
one heap of due times and one ``call_at`` handle per loop: when it fires, every
stream with audio due within :data:`SLACK` sends *all* of it, in due order, straight
through its session (no task wakes up), one write per session, and the timer re-arms
for the next. A stream that fell behind (a slow pass, a socket that was full) so
catches up in one pass, whatever the pass rate. A chunk is due when its audio would
start playing: ``start + bytes sent before it / bytes per second``.

A stream whose socket is full leaves the heap and is put back by the session when the
socket drains (no polling); one whose request was interrupted stops there.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from typing import Protocol

from avatarwire.core.audio_formats import AUDIO_FORMATS
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import ConfigError, LocalProtocolError

__all__ = ["SLACK", "PacedStream", "Pacer", "pacer_for"]

#: Chunks due this soon after a timer fires go out with it (fewer wake-ups).
SLACK = 0.002
#: How far an async source may run ahead of the schedule, in seconds of audio.
READ_AHEAD = 1.0
#: The most ``ahead`` may be: sending sooner than this is not real time any more.
MAX_AHEAD = 0.5


class PacedSession(Protocol):
    """What the pacer needs of a session: queue audio, write it, and say if it may."""

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        """Queue audio for the current request (no write yet); its req_id."""
        ...

    def _write_paced(self) -> None:
        """Write everything queued, in one write."""
        ...

    def _current_request(self) -> str | None:
        """The req_id audio goes to now (``None``: the next audio opens a request)."""
        ...

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        """``False`` if the socket takes more now; else ``True``, and ``wake()`` is called
        once when it drains (or the connection is lost)."""
        ...


def bytes_per_second(config: SessionConfig) -> int:
    """PCM bytes per second of audio; real-time pacing needs PCM to know a chunk's length."""
    per_second = AUDIO_FORMATS[config.audio_format].bytes_per_second(config.sample_rate)
    if per_second is None:
        raise LocalProtocolError(
            "stream(realtime=True) paces by PCM duration; this session sends "
            f"{config.audio_format.value}: pace the audio yourself or pass realtime=False"
        )
    return per_second


class PacedStream:
    """One request's audio on its way out in real time; ``done`` holds its req_id."""

    __slots__ = (
        "ahead",
        "buffered",
        "chunks",
        "done",
        "end",
        "pacer",
        "rate",
        "req_id",
        "room",
        "scheduled",
        "sent_bytes",
        "session",
        "source",
        "source_done",
        "start",
    )

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
        self.session = session
        self.pacer = pacer
        self.rate = rate
        self.start = start
        self.done = done
        self.end = end
        #: Chunks due this much after the one that is due go out with it, joined.
        self.ahead = ahead
        self.sent_bytes = 0
        self.req_id = ""
        #: An async source's chunks, read ahead of the schedule by its feeder task.
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        #: A plain iterable's iterator: each chunk is taken as it falls due.
        self.source: Iterator[bytes] | None = None
        self.source_done = False
        #: Set while an async source's feeder may read ahead (made only for those).
        self.room: asyncio.Event | None = None
        #: Whether the stream is in the pacer's heap (at most once).
        self.scheduled = False

    @property
    def due(self) -> float:
        """When the next chunk's audio starts playing."""
        return self.start + self.sent_bytes / self.rate

    def wake(self) -> None:
        """Back into the pacer's schedule (the socket drained, or a chunk arrived)."""
        if not self.done.done():
            self.pacer.add(self)

    def _next_chunk(self) -> bytes | None:
        """The next chunk to send (``None``: nothing yet, or the source ran dry)."""
        if self.chunks:
            chunk = self.chunks.popleft()
            self.buffered -= len(chunk)
            if self.room is not None and self.buffered <= READ_AHEAD * self.rate:
                self.room.set()
            return chunk
        if self.source is not None:
            for chunk in self.source:
                if chunk:
                    return bytes(chunk)
            self.source = None
            self.source_done = True
        return None

    def send_due(self, horizon: float) -> bool:
        """Send every chunk due by ``horizon`` (plus :attr:`ahead`) as one message, with
        ``end=True`` if the source ran dry, in one write; whether to schedule it again."""
        session = self.session
        if self.req_id and session._current_request() != self.req_id:
            self._resolve()  # the request was interrupted: stop here
            return False
        rate, start = self.rate, self.start
        horizon += self.ahead
        sent = self.sent_bytes
        due: list[bytes] = []
        while start + sent / rate <= horizon:
            chunk = self._next_chunk()
            if chunk is None:
                break
            due.append(chunk)
            sent += len(chunk)
        self.sent_bytes = sent
        finished = self.source_done and not self.chunks
        end = finished and self.end
        if due or end:
            audio = due[0] if len(due) == 1 else b"".join(due)
            self.req_id = session._queue_paced(audio, end)
            session._write_paced()
        if finished:
            self._resolve()
            return False
        return bool(self.chunks) or self.source is not None

    def finish(self) -> None:
        """An async source ran dry with nothing left to send: end the request (if asked)
        and resolve ``done``."""
        if self.done.done():
            return
        try:
            if self.end:
                self.req_id = self.session._queue_paced(b"", True)
                self.session._write_paced()
        except Exception as exc:
            self.done.set_exception(exc)
            return
        self._resolve()

    def _resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(self.req_id)


class Pacer:
    """The one timer of an event loop that sends all paced streams on schedule."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, PacedStream]] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._firing = False

    def add(self, stream: PacedStream) -> None:
        """Schedule ``stream``'s next chunk at its due time (or now, if that has passed)."""
        if stream.scheduled:
            return
        due = max(stream.due, self._loop.time())
        stream.scheduled = True
        self._count += 1
        heapq.heappush(self._heap, (due, self._count, stream))
        if not self._firing and (self._timer is None or due < self._timer_at):
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        """Send every chunk due by now (plus :data:`SLACK`), stream by stream in due
        order, one write per session; then re-arm at the next stream's due time."""
        self._timer = None
        self._firing = True
        heap = self._heap
        horizon = self._loop.time() + SLACK
        again: list[PacedStream] = []
        try:
            while heap and heap[0][0] <= horizon:
                stream = heapq.heappop(heap)[2]
                stream.scheduled = False
                if stream.done.done():
                    continue
                try:
                    if stream.session._wait_writable(stream.wake):
                        continue  # back when its socket drains
                    if stream.send_due(horizon):
                        again.append(stream)
                except Exception as exc:  # the session closed or refused the audio
                    if not stream.done.done():
                        stream.done.set_exception(exc)
        finally:
            self._firing = False
            count = self._count
            for stream in again:
                if not stream.scheduled:
                    count += 1
                    stream.scheduled = True
                    heapq.heappush(heap, (stream.due, count, stream))
            self._count = count
            if heap:
                self._arm(heap[0][0])


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
) -> str:
    """Send ``source``'s chunks as one request, each when its audio would start playing
    (the first at ``start``, a time of the loop's clock; by default now), or up to
    ``ahead`` seconds before, joined with the chunks due before it."""
    if (
        isinstance(ahead, bool)
        or not isinstance(ahead, (int, float))
        or not 0 <= ahead <= MAX_AHEAD
    ):
        raise ConfigError("ahead", repr(ahead), f"seconds from 0 to {MAX_AHEAD}")
    if start is not None and (
        isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start)
    ):
        raise ConfigError("start", repr(start), "a finite time of the event loop's clock")
    loop = asyncio.get_running_loop()
    rate = bytes_per_second(config)
    done: asyncio.Future[str] = loop.create_future()
    pacer = pacer_for(loop)
    first = loop.time() if start is None else float(start)
    stream = PacedStream(session, pacer, rate, first, done, end, float(ahead))
    if not isinstance(source, AsyncIterable):
        stream.source = iter(source)
        pacer.add(stream)
        return await done
    room = stream.room = asyncio.Event()
    room.set()
    done.add_done_callback(lambda _: room.set())  # a failed stream frees its feeder
    async for chunk in source:
        if done.done():
            break
        if not chunk:
            continue
        stream.chunks.append(bytes(chunk))
        stream.buffered += len(chunk)
        pacer.add(stream)
        if stream.buffered > READ_AHEAD * rate:
            room.clear()
            await room.wait()
    stream.source_done = True
    if not stream.scheduled and not stream.chunks:
        stream.finish()
    elif not stream.scheduled:
        pacer.add(stream)
    return await done
