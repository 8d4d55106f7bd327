"""What ``avatarwire speak`` will send and when, worked out before any I/O.

The audio is cut into requests (``--split-every``), each request into chunks
(``--chunk-ms``); ``--interrupt-after`` cuts the request under way at that point and
places an interrupt there. Every step carries its position on the audio's timeline:
real-time runs send it at that time (PCM through the library's pacer, Ogg pages at
their granule times), fast runs at once. Every binding follows the same plan, so
they differ only in how they wait and write.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

__all__ = [
    "AudioChunk",
    "InterruptStep",
    "PlannedRequest",
    "Step",
    "StreamPlan",
    "plan_passthrough",
    "plan_stream",
]

SAMPLE_WIDTH = 2


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One ``send_audio`` call: part of request ``request``, due at ``at`` seconds."""

    request: int
    audio: bytes = field(repr=False)
    end: bool
    at: float


@dataclass(frozen=True, slots=True)
class InterruptStep:
    """One ``interrupt()`` call, targeting request ``request`` (the most recent one)."""

    request: int
    at: float


Step = AudioChunk | InterruptStep


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request of the plan: how much audio it will carry and whether it is cut."""

    index: int
    audio_bytes: int
    seconds: float
    cut_by_interrupt: bool


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """The ordered steps of a run and the requests they make."""

    steps: tuple[Step, ...]
    requests: tuple[PlannedRequest, ...]
    sample_rate: int
    bytes_per_second: float = 0.0  # 0: 16-bit PCM at sample_rate
    #: Whether the steps go out at their times (``False``: at once, a fast run).
    realtime: bool = True
    #: Whether the chunks are pages of an encoded stream, each due at its own time (its
    #: length does not say its duration, so the pacer cannot time it).
    timed_pages: bool = False

    def __post_init__(self) -> None:
        if not self.bytes_per_second:
            object.__setattr__(self, "bytes_per_second", float(SAMPLE_WIDTH * self.sample_rate))

    @property
    def seconds(self) -> float:
        """When the last step is due (0 for a fast run)."""
        return max((step.at for step in self.steps), default=0.0)


def _segments(total: int, every: int | None) -> list[tuple[int, int]]:
    """Sample ranges of the requests: the whole audio, or consecutive ``every``-sample runs."""
    if every is None or every >= total:
        return [(0, total)]
    return [(start, min(start + every, total)) for start in range(0, total, every)]


def plan_stream(
    pcm: bytes,
    sample_rate: int,
    *,
    chunk_ms: int = 20,
    split_every: float | None = None,
    interrupt_after: float | None = None,
    realtime: bool = True,
) -> StreamPlan:
    """Plan a run over mono 16-bit ``pcm``.

    ``split_every`` (seconds) starts a new request at each multiple; ``interrupt_after``
    (seconds) stops the request under way at that point (the rest of its audio is not
    sent) and interrupts it; past the end of the audio, the interrupt targets the last
    request after its end. Later requests are sent as planned. ``realtime=False``
    makes every step due at once, in the same order.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    if chunk_ms <= 0:
        raise ValueError(f"chunk_ms must be > 0, got {chunk_ms}")
    if split_every is not None and split_every <= 0:
        raise ValueError(f"split_every must be > 0 seconds, got {split_every}")
    if interrupt_after is not None and interrupt_after <= 0:
        raise ValueError(f"interrupt_after must be > 0 seconds, got {interrupt_after}")
    total = len(pcm) // SAMPLE_WIDTH
    chunk = max(1, sample_rate * chunk_ms // 1000)
    every = None if split_every is None else max(1, round(split_every * sample_rate))
    cut = None if interrupt_after is None else max(1, round(interrupt_after * sample_rate))

    def due(sample: int) -> float:
        return sample / sample_rate if realtime else 0.0

    steps: list[Step] = []
    requests: list[PlannedRequest] = []
    interrupt_pending = cut is not None
    for index, (start, stop) in enumerate(_segments(total, every)):
        if interrupt_pending and cut is not None and cut <= start:
            steps.append(InterruptStep(index - 1, due(cut)))
            interrupt_pending = False
        cut_here = interrupt_pending and cut is not None and cut < stop
        stop_at = cut if cut_here and cut is not None else stop
        for offset in range(start, stop_at, chunk):
            until = min(offset + chunk, stop_at)
            audio = pcm[offset * SAMPLE_WIDTH : until * SAMPLE_WIDTH]
            end = not cut_here and until == stop
            steps.append(AudioChunk(index, audio, end, due(offset)))
        requests.append(
            PlannedRequest(
                index,
                (stop_at - start) * SAMPLE_WIDTH,
                (stop_at - start) / sample_rate,
                cut_by_interrupt=cut_here,
            )
        )
        if cut_here and cut is not None:
            steps.append(InterruptStep(index, due(cut)))
            interrupt_pending = False
    if interrupt_pending and interrupt_after is not None and requests:
        at = interrupt_after if realtime else 0.0
        steps.append(InterruptStep(len(requests) - 1, at))
    return StreamPlan(tuple(steps), tuple(requests), sample_rate, realtime=realtime)


def plan_passthrough(
    data: bytes,
    pages: tuple[tuple[int, float], ...],
    sample_rate: int,
    bytes_per_second: float,
    *,
    interrupt_after: float | None = None,
    realtime: bool = True,
) -> StreamPlan:
    """Plan a run over an encoded stream that must stay one request (Ogg Opus).

    ``pages`` are the (byte offset, start second) points where the stream may be cut;
    each chunk is one page, due at its start. ``interrupt_after`` stops sending at the
    first page that starts at or after it and interrupts the request there.
    """
    if interrupt_after is not None and interrupt_after <= 0:
        raise ValueError(f"interrupt_after must be > 0 seconds, got {interrupt_after}")
    bounds = [*pages, (len(data), float("inf"))]
    steps: list[Step] = []
    sent, cut = 0, False
    for (start, at), (stop, _) in itertools.pairwise(bounds):
        if interrupt_after is not None and at >= interrupt_after and steps:
            cut = True
            break
        end = stop == len(data)
        steps.append(AudioChunk(0, data[start:stop], end, at if realtime else 0.0))
        sent = stop
    if interrupt_after is not None:
        steps.append(InterruptStep(0, interrupt_after if realtime else 0.0))
    seconds = sent / bytes_per_second if bytes_per_second else 0.0
    request = PlannedRequest(0, sent, seconds, cut_by_interrupt=cut)
    return StreamPlan(
        tuple(steps), (request,), sample_rate, bytes_per_second, realtime, timed_pages=True
    )
