"""Real-time pacing, decided once for every binding: when a stream's next chunk is due,
which chunks one pass sends joined into one message, what an interrupt does to a
stream, and which streams a timer pass serves in what order.

A chunk is due when its audio would start playing: ``start + bytes sent before it /
bytes per second``. A binding only keeps time: it asks :class:`PaceQueue` what is
due at its clock's now (one queue and one timer for all the sessions of a loop, or
one per blocking call) and writes what :meth:`PacedAudio.take_due` hands back.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .audio_formats import AUDIO_FORMATS
from .config import SessionConfig
from .errors import ConfigError, LocalProtocolError

__all__ = [
    "MAX_AHEAD",
    "READ_AHEAD",
    "SLACK",
    "PaceQueue",
    "PacedAudio",
    "Send",
    "check_pacing",
    "pcm_bytes_per_second",
]

#: Chunks due this soon after a timer fires go out with it (fewer wake-ups).
SLACK = 0.002
#: How far an async source may run ahead of the schedule, in seconds of audio.
READ_AHEAD = 1.0
#: The most ``ahead`` may be: sending sooner than this is not real time any more.
MAX_AHEAD = 0.5


def pcm_bytes_per_second(config: SessionConfig, encoder_rate: int | None = None) -> int:
    """Bytes per second of the PCM ``stream()`` is given: the session's own format, or
    16-bit mono at ``encoder_rate`` when the session encodes PCM itself."""
    if encoder_rate is not None:
        return 2 * encoder_rate
    per_second = AUDIO_FORMATS[config.audio_format].bytes_per_second(config.sample_rate)
    if per_second is None:
        raise LocalProtocolError(
            "stream(realtime=True) paces by PCM duration; this session sends "
            f"{config.audio_format.value}: pace the audio yourself or pass realtime=False"
        )
    return per_second


def check_pacing(start: object, ahead: object, clock: str) -> tuple[float | None, float]:
    """``start`` and ``ahead`` as numbers, or a ``ConfigError`` naming the bad one;
    ``clock`` names the clock ``start`` is a time of."""
    if (
        isinstance(ahead, bool)
        or not isinstance(ahead, (int, float))
        or not 0 <= ahead <= MAX_AHEAD
    ):
        raise ConfigError("ahead", repr(ahead), f"seconds from 0 to {MAX_AHEAD}")
    if start is None:
        return None, float(ahead)
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
        raise ConfigError("start", repr(start), f"a finite time of {clock}")
    return float(start), float(ahead)


@dataclass(frozen=True, slots=True)
class Send:
    """One message a pass sends: the due chunks joined, and whether it ends the request."""

    audio: bytes
    end: bool


class PacedAudio:
    """One request's audio on its way out in real time: what waits, what went, when
    the next chunk is due, and whether the request it went under is still current."""

    __slots__ = (
        "ahead",
        "buffered",
        "chunks",
        "end",
        "rate",
        "req_id",
        "scheduled",
        "sent_bytes",
        "source",
        "source_done",
        "start",
    )

    def __init__(
        self,
        rate: int,
        start: float,
        *,
        end: bool,
        ahead: float = 0.0,
        source: Iterable[bytes] | None = None,
    ) -> None:
        self.rate = rate
        self.start = start
        self.end = end
        #: Chunks due this much after the one that is due go out with it, joined.
        self.ahead = ahead
        self.sent_bytes = 0
        #: The request the audio went under ("" until the first message).
        self.req_id = ""
        #: Chunks pushed ahead of the schedule (an async source's).
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        #: A plain iterable's iterator: each chunk is taken as it falls due.
        self.source: Iterator[bytes] | None = None if source is None else iter(source)
        self.source_done = False
        #: Whether the stream waits in a :class:`PaceQueue` (at most once).
        self.scheduled = False

    @property
    def due(self) -> float:
        """When the next chunk's audio starts playing."""
        return self.start + self.sent_bytes / self.rate

    @property
    def has_room(self) -> bool:
        """Whether an async source may read on: less than :data:`READ_AHEAD` is waiting."""
        return self.buffered <= READ_AHEAD * self.rate

    @property
    def finished(self) -> bool:
        """The source ran dry and everything it gave went out."""
        return self.source_done and not self.chunks

    @property
    def pending(self) -> bool:
        """Whether there is (or may be) more to send: schedule it again."""
        return bool(self.chunks) or self.source is not None

    def push(self, chunk: bytes) -> bool:
        """A chunk an async source gave, ahead of the schedule; whether it was taken
        (an empty one is skipped: nothing to send)."""
        if not chunk:
            return False
        self.chunks.append(bytes(chunk))
        self.buffered += len(chunk)
        return True

    def source_ran_dry(self) -> None:
        """The async source has no more chunks."""
        self.source_done = True

    def interrupted(self, current: str | None) -> bool:
        """Whether the request this stream sends under is no longer the session's
        current one (``current``): it was interrupted, and the stream stops there."""
        return bool(self.req_id) and current != self.req_id

    def cut_while_taking(self, before: str | None, after: str | None) -> bool:
        """Whether the request current before :meth:`take_due` (``before``) was
        interrupted by the source itself while it gave the due chunks (``after`` is
        the current one then): those chunks are dropped, and the stream stops under
        the request it belonged to."""
        if before is None or after == before:
            return False
        self.req_id = before
        return True

    def _next_chunk(self) -> bytes | None:
        if self.chunks:
            chunk = self.chunks.popleft()
            self.buffered -= len(chunk)
            return chunk
        if self.source is not None:
            for chunk in self.source:
                if chunk:
                    return bytes(chunk)
            self.source = None
            self.source_done = True
        return None

    def take_due(self, horizon: float) -> Send | None:
        """Every chunk due by ``horizon`` (plus :attr:`ahead`) joined into one message,
        with ``end`` if the source ran dry and the stream ends its request; ``None``
        if nothing is to be sent."""
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
        end = self.finished and self.end
        if not due and not end:
            return None
        return Send(due[0] if len(due) == 1 else b"".join(due), end)

    def last(self) -> Send | None:
        """What ends the request once an async source ran dry with nothing waiting."""
        return Send(b"", True) if self.end else None


class Scheduled(Protocol):
    """What a :class:`PaceQueue` holds: something with a :class:`PacedAudio`."""

    @property
    def paced(self) -> PacedAudio:
        """The stream's schedule."""


S = TypeVar("S", bound=Scheduled)


class PaceQueue(Generic[S]):
    """The streams waiting for their next chunk's due time, earliest first: one timer
    at :attr:`next_due` serves them all."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, S]] = []
        self._count = 0
        self._serving = False

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def next_due(self) -> float | None:
        """When the timer must fire next (``None``: nothing waits)."""
        return self._heap[0][0] if self._heap else None

    def add(self, stream: S, now: float) -> bool:
        """Schedule ``stream`` at its due time (or ``now``, if that passed), unless it
        is already waiting; whether the timer must move earlier to :attr:`next_due`."""
        paced = stream.paced
        if paced.scheduled:
            return False
        due = max(paced.due, now)
        paced.scheduled = True
        self._count += 1
        heapq.heappush(self._heap, (due, self._count, stream))
        return not self._serving and self._heap[0][2] is stream

    def serve_due(self, now: float, serve: Callable[[S, float], bool]) -> float | None:
        """One timer pass at ``now``: every stream due by ``now +`` :data:`SLACK` is
        served in due order (``serve(stream, horizon)`` sends what is due and says
        whether the stream has more), then those that have are put back at their next
        due time; when the timer must fire next."""
        heap = self._heap
        horizon = now + SLACK
        again: list[S] = []
        self._serving = True
        try:
            while heap and heap[0][0] <= horizon:
                stream = heapq.heappop(heap)[2]
                stream.paced.scheduled = False
                if serve(stream, horizon):
                    again.append(stream)
        finally:
            self._serving = False
            for stream in again:
                paced = stream.paced
                if not paced.scheduled:
                    paced.scheduled = True
                    self._count += 1
                    heapq.heappush(heap, (paced.due, self._count, stream))
        return self.next_due
