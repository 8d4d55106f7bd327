"""The pacer's schedule on a clock the test moves: every chunk goes out in the first
timer pass that covers its due time, in order, once per session per pass; streams
that are interrupted, fail or wait for a full socket leave the others as they were.

The loop here is a stand-in that only keeps time and the one timer (the pacer asks
nothing else of it); each pass fires late by a drawn amount, as a busy loop would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from avatarwire.bindings._pacing import PacedStreamBase
from avatarwire.bindings.pacer import SLACK, PacedStream, Pacer
from avatarwire.core.pacing import PacedAudio, PaceQueue

RATE = 32000  # bytes per second of 16 kHz PCM


class Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ClockLoop:
    """Time and timers only: the test decides when each timer fires."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[Timer]:
        self.timers = [timer for timer in self.timers if not timer.cancelled]
        return self.timers

    def fire_next(self, late: float) -> float:
        """Fire the earliest armed timer ``late`` seconds after it was due; its time."""
        timer = min(self.armed(), key=lambda timer: timer.when)
        self.timers.remove(timer)
        self.now = max(self.now, timer.when + late)
        timer.callback()
        return self.now


@dataclass
class Session:
    """Records what the pacer queues and when it writes; can be full or interrupted."""

    loop: ClockLoop
    name: int
    queued: list[tuple[float, bytes, bool]] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    unwritten: int = 0
    request: str | None = None
    full: bool = False
    waits: int = 0
    wake: Callable[[], None] | None = None
    fail_after: int | None = None

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        if self.fail_after is not None and len(self.queued) >= self.fail_after:
            raise ConnectionError(f"session {self.name} lost")
        self.queued.append((self.loop.now, audio, end))
        self.unwritten += 1
        if self.request is None:
            self.request = f"req-{self.name}"
        request = self.request
        if end:
            self.request = None
        return request

    def _write_paced(self) -> None:
        assert self.unwritten, "a write with nothing queued"
        self.writes.append(self.loop.now)
        self.unwritten = 0

    def _current_request(self) -> str | None:
        return self.request

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        if not self.full:
            return False
        self.waits += 1
        self.wake = wake
        return True

    def drain(self) -> None:
        self.full = False
        wake, self.wake = self.wake, None
        if wake is not None:
            wake()


def chunks(sizes: list[int], seed: int) -> Iterator[bytes]:
    for index, size in enumerate(sizes):
        yield bytes([(seed + index) % 256]) * size


def due_times(start: float, sizes: list[int]) -> list[float]:
    dues, sent = [], 0
    for size in sizes:
        dues.append(start + sent / RATE)
        sent += size
    return dues


@dataclass
class Run:
    loop: ClockLoop
    futures_loop: asyncio.AbstractEventLoop
    sessions: list[Session]
    streams: list[PacedStream]
    passes: list[float]


def start_streams(plans: list[tuple[float, list[int]]], first: int = 0, ahead: float = 0.0) -> Run:
    loop = ClockLoop()
    futures_loop = asyncio.new_event_loop()
    pacer = Pacer(loop)  # type: ignore[arg-type]
    sessions, streams = [], []
    for name, (start, sizes) in enumerate(plans, first):
        session = Session(loop, name)
        done: asyncio.Future[str] = futures_loop.create_future()
        stream = PacedStream(session, pacer, RATE, start, done, True, ahead)
        stream.source = chunks(sizes, name)
        pacer.add(stream)
        sessions.append(session)
        streams.append(stream)
    return Run(loop, futures_loop, sessions, streams, [])


def run_out(
    run: Run, lateness: Iterator[float], on_pass: Callable[[int], None] = lambda _: None
) -> None:
    """Fire the pacer's timer until nothing is armed (each pass late by the next draw)."""
    for number in range(100_000):
        if not run.loop.armed():
            return
        run.passes.append(run.loop.fire_next(next(lateness)))
        on_pass(number)
    raise AssertionError("the pacer never ran out of work")


plans = st.lists(
    st.tuples(
        st.floats(0, 0.05),
        st.lists(st.integers(1, 40).map(lambda n: 32 * n), min_size=1, max_size=12),
    ),
    min_size=1,
    max_size=6,
)
delays = st.lists(st.floats(0, 0.08), min_size=1, max_size=30)


def cycle(values: list[float]) -> Iterator[float]:
    while True:
        yield from values


aheads = st.sampled_from([0.0, 0.0, 0.02, 0.05])


def send_times(session: Session, sizes: list[int]) -> list[float]:
    """When each source chunk went out; also checks the messages hold exactly the
    source's audio, whole chunks each, with one ``end=True``, on the last."""
    assert b"".join(audio for _, audio, _ in session.queued) == b"".join(
        chunks(sizes, session.name)
    )
    assert [end for _, _, end in session.queued] == [False] * (len(session.queued) - 1) + [True]
    times: list[float] = []
    sizes_left = list(sizes)
    for at, audio, _ in session.queued:
        taken = 0
        while taken < len(audio):
            taken += sizes_left.pop(0)
            times.append(at)
        assert taken == len(audio), "a message split a source chunk"
    return times


def assert_on_time(run: Run, plan: tuple[float, list[int]], session: Session, ahead: float) -> None:
    """Each chunk in the first pass that covers its due time, or earlier only joined
    to a due chunk at most ``ahead`` before it; one write per session per pass."""
    times = send_times(session, plan[1])
    for sent_at, due in zip(times, due_times(*plan), strict=True):
        # Bounds in the pacer's own order of float operations: (now + SLACK) + ahead.
        assert due <= sent_at + SLACK + ahead, "a chunk went out early"
        first_cover = next((at for at in run.passes if at + SLACK >= due), float("inf"))
        assert sent_at <= first_cover, "a due chunk waited for a later pass"
        if due > sent_at + SLACK:  # early: it joined a message whose first chunk was due
            first_due = due_times(*plan)[times.index(sent_at)]
            assert first_due <= sent_at + SLACK
    assert len(session.writes) == len(set(session.writes)), "two writes in one pass"


@settings(max_examples=60, deadline=None)
@given(plans=plans, delays=delays, ahead=aheads)
def test_every_chunk_goes_out_in_the_first_pass_that_covers_it(
    plans: list[tuple[float, list[int]]], delays: list[float], ahead: float
) -> None:
    run = start_streams(plans, ahead=ahead)
    run_out(run, cycle(delays))
    for plan, session, stream in zip(plans, run.sessions, run.streams, strict=True):
        assert stream.done.result() == f"req-{session.name}"
        assert_on_time(run, plan, session, ahead)
    run.futures_loop.close()


@settings(max_examples=40, deadline=None)
@given(plans=plans.filter(lambda p: len(p) >= 2), delays=delays, cut=st.integers(0, 10))
def test_an_interrupted_or_failed_stream_leaves_the_others_as_they_were(
    plans: list[tuple[float, list[int]]], delays: list[float], cut: int
) -> None:
    run = start_streams(plans)
    interrupted, failing = run.sessions[0], None
    if len(run.sessions) > 2:
        failing = run.sessions[2]
        failing.fail_after = cut

    def interrupt(number: int) -> None:
        if number == cut:
            interrupted.request = None  # the application interrupted the request

    run_out(run, cycle(delays), interrupt)
    at_cut = run.passes[cut] if cut < len(run.passes) else run.passes[-1]
    before = [entry for entry in interrupted.queued if entry[0] <= at_cut]
    if before:  # it had begun when interrupted: nothing after, not even end=True
        assert interrupted.queued == before, "audio went out after the interrupt"
    assert run.streams[0].done.result() == "req-0"
    for plan, other, stream in zip(plans[1:], run.sessions[1:], run.streams[1:], strict=True):
        if other is failing and isinstance(stream.done.exception(), ConnectionError):
            assert len(other.queued) == cut  # nothing after the failure
            continue
        assert stream.done.result() == f"req-{other.name}"
        assert_on_time(run, plan, other, 0.0)
    run.futures_loop.close()


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40).map(lambda n: 32 * n), min_size=2, max_size=12),
    full_for=st.integers(1, 20),
)
def test_a_full_socket_waits_for_its_drain_and_then_catches_up_in_one_write(
    sizes: list[int], full_for: int
) -> None:
    run = start_streams([(0.0, sizes), (0.0, sizes)])
    blocked, other = run.sessions
    blocked.full = True
    for _ in range(full_for):
        if not run.loop.armed():
            break
        run.passes.append(run.loop.fire_next(0.001))
    assert blocked.queued == []
    assert blocked.waits == 1, "a full socket was asked again before it drained"
    run.loop.now += 0.5  # the socket drains much later: everything is due by then
    blocked.drain()
    run_out(run, cycle([0.0]))
    assert blocked.writes == [blocked.queued[0][0]]  # all of it in one write
    assert send_times(blocked, sizes) == [blocked.writes[0]] * len(sizes)
    send_times(other, sizes)
    run.futures_loop.close()


# --- the shared logic alone (core.pacing + the bindings' serve), as trio and blocking use it


class CoreStream(PacedStreamBase):
    """A stream served by a bare :class:`PaceQueue`, as the trio and blocking pacers do."""

    __slots__ = ("outcome",)

    def __init__(self, session: Session, paced: PacedAudio) -> None:
        super().__init__(session, paced)
        self.outcome: str | BaseException | None = None

    def over(self) -> bool:
        return self.outcome is not None

    def resolve(self) -> None:
        self.outcome = self.paced.req_id

    def fail(self, exc: BaseException) -> None:
        self.outcome = exc

    def wake(self) -> None:
        raise AssertionError("these sessions are never full")


@settings(max_examples=60, deadline=None)
@given(plans=plans, delays=delays, ahead=aheads, per_call=st.booleans())
def test_the_shared_queue_sends_every_chunk_in_the_first_pass_that_covers_it(
    plans: list[tuple[float, list[int]]], delays: list[float], ahead: float, per_call: bool
) -> None:
    """One queue for all streams (trio's task), or one queue per stream served in turn
    (each blocking call its own): the same schedule as the asyncio pacer's."""
    clock = ClockLoop()
    sessions = [Session(clock, name) for name in range(len(plans))]
    streams = [
        CoreStream(
            session,
            PacedAudio(RATE, start, end=True, ahead=ahead, source=chunks(sizes, session.name)),
        )
        for session, (start, sizes) in zip(sessions, plans, strict=True)
    ]
    queues: list[PaceQueue[CoreStream]] = (
        [PaceQueue() for _ in streams] if per_call else [PaceQueue()]
    )
    for index, stream in enumerate(streams):
        queues[index if per_call else 0].add(stream, clock.now)
    lateness = cycle(delays)
    passes: list[float] = []
    for queue in queues:  # per call: one call after the other, as one thread would
        while (due := queue.next_due) is not None:
            clock.now = max(clock.now, due + next(lateness))
            passes.append(clock.now)
            queue.serve_due(clock.now, CoreStream.serve)
    run = Run(clock, asyncio.new_event_loop(), sessions, [], passes)
    for plan, session, stream in zip(plans, sessions, streams, strict=True):
        assert stream.outcome == f"req-{session.name}"
        if not per_call:
            assert_on_time(run, plan, session, ahead)
        else:  # a later call starts late: each chunk still no earlier than due
            for sent_at, due in zip(send_times(session, plan[1]), due_times(*plan), strict=True):
                assert due <= sent_at + SLACK + ahead
    run.futures_loop.close()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40).map(lambda n: 32 * n), min_size=2, max_size=12),
    cut=st.integers(1, 11),
    passes=st.lists(st.floats(0, 0.2), min_size=1, max_size=20),
)
def test_a_source_that_interrupts_its_own_request_sends_nothing_after(
    sizes: list[int], cut: int, passes: list[float]
) -> None:
    clock = ClockLoop()
    session = Session(clock, 0)
    session.request = "req-0"  # the request is open: audio went out before the stream

    def source() -> Iterator[bytes]:
        for index, chunk in enumerate(chunks(sizes, 0)):
            if index == cut:
                session.request = None  # the source interrupts the request
            yield chunk

    stream = CoreStream(session, PacedAudio(RATE, 0.0, end=True, source=source()))
    queue: PaceQueue[CoreStream] = PaceQueue()
    queue.add(stream, clock.now)
    lateness = cycle(passes)
    while (due := queue.next_due) is not None:
        clock.now = max(clock.now, due + next(lateness))
        queue.serve_due(clock.now, CoreStream.serve)
    sent = b"".join(audio for _, audio, _ in session.queued)
    assert stream.outcome == "req-0"
    whole = b"".join(chunks(sizes, 0))
    if cut < len(sizes):
        assert len(sent) <= sum(sizes[:cut]), "audio went out after the interrupt"
        assert all(not end for _, _, end in session.queued)
    else:
        assert sent == whole
    assert whole.startswith(sent)
