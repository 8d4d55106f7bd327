"""The speak script performed over each binding: connect, act, take events, close.

Each runner only does I/O: it reads its clock, performs what
:class:`~avatarwire.cli.script.StreamScript` says and feeds the session's events to
the tally. A request's PCM goes out through ``session.stream()``: the library's
pacer sends each chunk when its audio would start playing, on every binding (an Ogg
Opus file's pages, whose length does not say their duration, are waited for here,
each until its granule time). After the session is up, Ctrl-C stops the script
instead of raising, so the session is closed with its closing handshake and the run
is still reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import FrameType

import trio

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.bindings.encoding import AudioEncoder
from avatarwire.bindings.session import Connect, Session, SyncSession
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import AnimationFrame, Event

from .frames_file import FrameWriter
from .plan import InterruptStep
from .script import Finish, StreamRequest, StreamScript, Wait
from .tally import RunTally

__all__ = ["StreamJob", "stream"]

#: Events are taken while waiting; a fast run sends everything first, so let them queue.
_MAX_QUEUED_EVENTS = 1 << 20


@dataclass(frozen=True, slots=True)
class StreamJob:
    """One run: the session to open, the account to keep, when to give up, the stop flag."""

    config: SessionConfig
    tally: RunTally
    drain_timeout: float
    stop: threading.Event
    frames_out: FrameWriter | None = None
    encoder: AudioEncoder | None = None  # encodes the PCM on this side (--opus)

    def script(self) -> StreamScript:
        """A fresh script over this job's plan."""
        return StreamScript(self.tally, self.drain_timeout, self.stop.is_set)


class _Stopped(Exception):
    """The user asked to stop (Ctrl-C) while a request was being streamed."""


class FrameClock:
    """Times each frame as it arrives (the frame callback runs as it is read) and hands
    the times to the tally in the same order, with the frames the queue gives later."""

    def __init__(self, job: StreamJob, clock: Callable[[], float]) -> None:
        self._job = job
        self._clock = clock
        self._arrivals: deque[float] = deque()

    def on_frame(self, data: bytes, last: bool) -> None:
        """The ``transport_frames`` callback: note the time, save the frame if asked."""
        self._arrivals.append(self._clock())
        if self._job.frames_out is not None:
            self._job.frames_out.write(data)

    def observe(self, event: Event) -> None:
        """Give the tally one event from the queue, with its arrival time."""
        if isinstance(event, AnimationFrame) and self._arrivals:
            self._job.tally.observe(event, self._arrivals.popleft())
        else:
            self._job.tally.observe(event, self._clock())

    @property
    def closed(self) -> bool:
        """Whether the session's ``SessionClosed`` was taken."""
        return self._job.tally.closed

    def chunks(self, action: StreamRequest) -> Iterator[bytes]:
        """The request's audio for ``session.stream()``: the pacer takes each chunk as
        it sends it, so the tally learns what went out, and when, as it goes."""
        for chunk in action.chunks:
            if self._job.stop.is_set():
                raise _Stopped
            self._job.tally.sent(chunk, None, self._clock())
            yield chunk.audio

    def streamed(self, action: StreamRequest, req_id: str) -> None:
        """The stream is over: the request it went out under."""
        if req_id:
            self._job.tally.named(action.request, req_id)

    def interrupted(self, action: InterruptStep) -> None:
        """Tell the tally the run interrupted a request."""
        self._job.tally.interrupt_sent(action)


@contextlib.contextmanager
def ctrl_c_sets(flag: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C sets ``flag`` rather than raising ``KeyboardInterrupt``."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        yield  # not ours to catch: another thread, or Ctrl-C is ignored (a background job)
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        flag.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- asyncio and trio --------------------------------------------------------------------


#: The next event within so many seconds, or ``None``: each event loop's own timeout.
NextEventWithin = Callable[[Session, float], Awaitable[Event | None]]
#: Await the first while the second runs beside it (each event loop's own way).
Beside = Callable[[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]], Awaitable[str]]


async def _next_event_asyncio(session: Session, seconds: float) -> Event | None:
    try:
        return await asyncio.wait_for(session.next_event(), seconds)
    except asyncio.TimeoutError:
        return None


async def _next_event_trio(session: Session, seconds: float) -> Event | None:
    with trio.move_on_after(seconds):
        return await session.next_event()
    return None


async def _beside_asyncio(
    main: Callable[[], Awaitable[str]], beside: Callable[[], Awaitable[None]]
) -> str:
    task = asyncio.ensure_future(beside())
    try:
        return await main()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _beside_trio(
    main: Callable[[], Awaitable[str]], beside: Callable[[], Awaitable[None]]
) -> str:
    result, failure = "", None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(beside)
        try:
            result = await main()
        except Exception as exc:  # raised as itself, not in an exception group
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


@dataclass(frozen=True, slots=True)
class AsyncLoop:
    """What the asyncio and trio runners differ in: clock, sleep, waits, concurrency."""

    connect: Connect
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    next_event_within: NextEventWithin
    beside: Beside


async def _timed_pages(
    action: StreamRequest, frames: FrameClock, loop: AsyncLoop, start: float
) -> AsyncIterator[bytes]:
    """An Ogg stream's pages, each when due (their length does not say their duration)."""
    for chunk, audio in zip(action.chunks, frames.chunks(action), strict=True):
        await loop.sleep(start + chunk.at - loop.clock())
        yield audio


async def _stream_async(
    session: Session,
    job: StreamJob,
    action: StreamRequest,
    frames: FrameClock,
    loop: AsyncLoop,
    start: float,
) -> str:
    """One request's chunks through ``session.stream()``, taking events meanwhile."""
    plan = job.tally.plan

    async def send() -> str:
        if plan.timed_pages and plan.realtime:
            pages = _timed_pages(action, frames, loop, start)
            return await session.stream(pages, realtime=False, end=action.end)
        chunks = frames.chunks(action)
        first = start + action.at
        return await session.stream(chunks, realtime=plan.realtime, end=action.end, start=first)

    async def take_events() -> None:
        while True:
            frames.observe(await session.next_event())

    return await loop.beside(send, take_events)


async def _act_async(session: Session, job: StreamJob, frames: FrameClock, loop: AsyncLoop) -> None:
    script = job.script()
    start = loop.clock()
    while not isinstance(action := script.next_action(loop.clock() - start), Finish):
        try:
            if isinstance(action, Wait):
                event = await loop.next_event_within(session, action.seconds)
                if event is not None:
                    frames.observe(event)
            elif isinstance(action, StreamRequest):
                frames.streamed(
                    action, await _stream_async(session, job, action, frames, loop, start)
                )
            else:
                await session.interrupt()
                frames.interrupted(action)
        except _Stopped:
            continue  # the script sees the stop flag and finishes
        except AvatarError:
            if not session.state.ended:
                raise
            return  # the session closed under us: its events say why


async def _run_async(job: StreamJob, loop: AsyncLoop) -> None:
    session: Session | None = None
    frames = FrameClock(job, loop.clock)
    try:
        async with loop.connect(
            job.config,
            max_queued_events=_MAX_QUEUED_EVENTS,
            transport_frames=frames.on_frame,
            encoder=job.encoder,
        ) as session:
            job.tally.connection_id = session.connection_id
            with ctrl_c_sets(job.stop):
                await _act_async(session, job, frames, loop)
            job.tally.closing = True
    except AvatarError as exc:
        job.tally.fail(exc)
    if session is not None:
        while not job.tally.closed:
            frames.observe(await session.next_event())
        job.tally.settle(session.request)


async def stream_asyncio(job: StreamJob) -> None:
    """Run the job on the asyncio binding."""
    clock = asyncio.get_running_loop().time
    loop = AsyncLoop(
        asyncio_binding.connect, clock, asyncio.sleep, _next_event_asyncio, _beside_asyncio
    )
    await _run_async(job, loop)


async def stream_trio(job: StreamJob) -> None:
    """Run the job on the trio binding."""
    loop = AsyncLoop(
        trio_binding.connect, trio.current_time, _sleep_trio, _next_event_trio, _beside_trio
    )
    await _run_async(job, loop)


async def _sleep_trio(seconds: float) -> None:
    await trio.sleep(max(0.0, seconds))


# --- blocking ---------------------------------------------------------------------------


def _timed_pages_blocking(
    session: SyncSession, action: StreamRequest, frames: FrameClock, start: float
) -> Iterator[bytes]:
    """An Ogg stream's pages, each when due, the socket kept moving meanwhile."""
    for chunk, audio in zip(action.chunks, frames.chunks(action), strict=True):
        while (left := start + chunk.at - time.monotonic()) > 0 and not frames.closed:
            with contextlib.suppress(TimeoutError):
                frames.observe(session.next_event(timeout=left))
        yield audio


def _stream_blocking(
    session: SyncSession, job: StreamJob, action: StreamRequest, frames: FrameClock, start: float
) -> str:
    """One request's chunks through ``session.stream()``; the events wait in the queue
    (frames are timed by their callback as they arrive)."""
    plan = job.tally.plan
    if plan.timed_pages and plan.realtime:
        pages = _timed_pages_blocking(session, action, frames, start)
        return session.stream(pages, realtime=False, end=action.end)
    chunks = frames.chunks(action)
    return session.stream(chunks, realtime=plan.realtime, end=action.end, start=start + action.at)


def _act_blocking(session: SyncSession, job: StreamJob, frames: FrameClock) -> None:
    script = job.script()
    start = time.monotonic()
    while not isinstance(action := script.next_action(time.monotonic() - start), Finish):
        try:
            if isinstance(action, Wait):
                with contextlib.suppress(TimeoutError):
                    frames.observe(session.next_event(timeout=action.seconds))
            elif isinstance(action, StreamRequest):
                frames.streamed(action, _stream_blocking(session, job, action, frames, start))
            else:
                session.interrupt()
                frames.interrupted(action)
        except _Stopped:
            continue  # the script sees the stop flag and finishes
        except AvatarError:
            if not session.state.ended:
                raise
            return  # the session closed under us: its events say why


def stream_blocking(job: StreamJob) -> None:
    """Run the job on the blocking binding."""
    session: SyncSession | None = None
    frames = FrameClock(job, time.monotonic)
    try:
        with blocking_binding.connect(
            job.config,
            max_queued_events=_MAX_QUEUED_EVENTS,
            transport_frames=frames.on_frame,
            encoder=job.encoder,
        ) as session:
            job.tally.connection_id = session.connection_id
            with ctrl_c_sets(job.stop):
                _act_blocking(session, job, frames)
            job.tally.closing = True
    except AvatarError as exc:
        job.tally.fail(exc)
    if session is not None:
        while not job.tally.closed:
            frames.observe(session.next_event())
        job.tally.settle(session.request)


def _run_asyncio(job: StreamJob) -> None:
    asyncio.run(stream_asyncio(job))


def _run_trio(job: StreamJob) -> None:
    trio.run(stream_trio, job)


RUNNERS: dict[str, Callable[[StreamJob], None]] = {
    "asyncio": _run_asyncio,
    "trio": _run_trio,
    "blocking": stream_blocking,
}


def stream(binding: str, job: StreamJob) -> None:
    """Run the job on the named binding (a key of :data:`RUNNERS`)."""
    runner = RUNNERS.get(binding)
    if runner is None:
        raise ValueError(f"unknown binding {binding!r}; choose from {', '.join(RUNNERS)}")
    runner(job)
