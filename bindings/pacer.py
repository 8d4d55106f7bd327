"""Real-time pacing for asyncio: one timer per event loop sends every paced session's
audio as it falls due.

A task per session that sleeps 20 ms between sends costs a task switch and a timer
per chunk; at a thousand sessions that alone fills a core. The :class:`Pacer` keeps
one heap of due times and one ``call_at`` handle per loop: when it fires, it sends
every chunk due within :data:`SLACK` straight through the session (no task wakes
up) and re-arms for the next. A chunk is due when its audio would start playing:
``start + bytes sent before it / bytes per second``.
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from typing import Protocol

from avatarwire.core.audio_formats import AUDIO_FORMATS
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import LocalProtocolError

__all__ = ["SLACK", "PacedStream", "Pacer", "pacer_for"]

#: Chunks due this soon after a timer fires go out with it (fewer wake-ups).
SLACK = 0.002
#: How far an async source may run ahead of the schedule, in seconds of audio.
READ_AHEAD = 1.0
#: How long a stream waits before trying again while its socket is not writable.
RETRY_WHEN_BLOCKED = 0.005


class PacedSession(Protocol):
    """What the pacer needs of a session: queue audio now, and say if it may write."""

    def _send_audio_now(self, audio: bytes, end: bool) -> str: ...

    def _may_write(self) -> bool: ...


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

    def __init__(
        self,
        session: PacedSession,
        rate: int,
        start: float,
        done: asyncio.Future[str],
        end: bool,
    ) -> None:
        self.session = session
        self.rate = rate
        self.start = start
        self.done = done
        self.end = end
        self.sent_bytes = 0
        self.req_id = ""
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.source: Iterator[bytes] | None = None
        self.source_done = False
        self.room = asyncio.Event()
        self.room.set()
        #: Whether the stream is in the pacer's heap (at most once).
        self.scheduled = False

    @property
    def due(self) -> float:
        """When the next chunk's audio starts playing."""
        return self.start + self.sent_bytes / self.rate

    def _next_chunk(self) -> bytes | None:
        """The next chunk to send (``None``: nothing yet; ``b""`` never)."""
        if self.chunks:
            chunk = self.chunks.popleft()
            self.buffered -= len(chunk)
            if self.buffered <= READ_AHEAD * self.rate:
                self.room.set()
            return chunk
        if self.source is not None:
            for chunk in self.source:
                if chunk:
                    return bytes(chunk)
            self.source = None
            self.source_done = True
        return None

    def send_due(self) -> bool:
        """Send the next chunk; whether the stream has more to send later."""
        chunk = self._next_chunk()
        if chunk is None:
            if self.source_done:
                self.finish()
            return False
        self.req_id = self.session._send_audio_now(chunk, False)
        self.sent_bytes += len(chunk)
        return True

    def finish(self) -> None:
        """The source ran dry: end the request (if asked) and resolve ``done``."""
        if self.done.done():
            return
        try:
            if self.end:
                self.req_id = self.session._send_audio_now(b"", True)
        except Exception as exc:
            self.done.set_exception(exc)
            return
        self.done.set_result(self.req_id)


class Pacer:
    """The one timer of an event loop that sends all paced streams on schedule."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, PacedStream]] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, stream: PacedStream) -> None:
        """Schedule ``stream``'s next chunk at its due time (or now, if that has passed)."""
        if not stream.scheduled:
            self._push(stream, max(stream.due, self._loop.time()))

    def _push(self, stream: PacedStream, due: float) -> None:
        stream.scheduled = True
        self._count += 1
        heapq.heappush(self._heap, (due, self._count, stream))
        if self._timer is None or due < self._timer_at:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        """Send one chunk of every stream due by now (plus :data:`SLACK`); a stream that
        is further behind sends its next chunk on the next pass, after the loop has
        read its sockets, so a backlog never becomes one long burst."""
        self._timer = None
        heap = self._heap
        horizon = self._loop.time() + SLACK
        again: list[PacedStream] = []
        while heap and heap[0][0] <= horizon:
            _, _, stream = heapq.heappop(heap)
            stream.scheduled = False
            if stream.done.done():
                continue
            if not stream.session._may_write():
                self._count += 1
                stream.scheduled = True
                heapq.heappush(heap, (horizon + RETRY_WHEN_BLOCKED, self._count, stream))
                continue
            try:
                more = stream.send_due()
            except Exception as exc:  # the session closed or refused the audio
                stream.done.set_exception(exc)
                continue
            if more:
                again.append(stream)
        for stream in again:
            self._count += 1
            stream.scheduled = True
            heapq.heappush(heap, (stream.due, self._count, stream))
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
    clock: Callable[[], float] | None = None,
) -> str:
    """Send ``source``'s chunks as one request, each when its audio would start playing."""
    loop = asyncio.get_running_loop()
    rate = bytes_per_second(config)
    done: asyncio.Future[str] = loop.create_future()
    stream = PacedStream(session, rate, (clock or loop.time)(), done, end)
    done.add_done_callback(lambda _: stream.room.set())  # a failed stream frees its feeder
    pacer = pacer_for(loop)
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            if done.done():
                break
            if not chunk:
                continue
            stream.chunks.append(bytes(chunk))
            stream.buffered += len(chunk)
            pacer.add(stream)
            if stream.buffered > READ_AHEAD * rate:
                stream.room.clear()
                await stream.room.wait()
        stream.source_done = True
        if not stream.scheduled:
            stream.finish()
    else:
        stream.source = iter(source)
        pacer.add(stream)
    return await done
