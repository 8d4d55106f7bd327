"""The speak script performed over each binding: connect, act, take events, close.

Each runner only does I/O: it reads its clock, performs what
:class:`~avatarwire.cli.script.StreamScript` says and feeds the session's events to
the tally. After the session is up, Ctrl-C stops the script instead of raising, so
the session is closed with its closing handshake and the run is still reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import FrameType

import trio

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.bindings.encoding import AudioEncoder
from avatarwire.bindings.session import Session, SyncSession
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, LocalProtocolError
from avatarwire.core.events import AnimationFrame, Event

from .frames_file import FrameWriter
from .plan import AudioChunk, InterruptStep
from .script import Finish, StreamScript, Wait
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

    def act(self, action: AudioChunk | InterruptStep, req_id: str | None) -> None:
        """Tell the tally what went out, and when."""
        if isinstance(action, AudioChunk):
            assert req_id is not None
            self._job.tally.sent(action, req_id, self._clock())
        else:
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
Connect = Callable[..., AbstractAsyncContextManager[Session]]


async def _next_event_asyncio(session: Session, seconds: float) -> Event | None:
    try:
        return await asyncio.wait_for(session.next_event(), seconds)
    except asyncio.TimeoutError:
        return None


async def _next_event_trio(session: Session, seconds: float) -> Event | None:
    with trio.move_on_after(seconds):
        return await session.next_event()
    return None


async def _act_async(
    session: Session,
    job: StreamJob,
    clock: Callable[[], float],
    frames: FrameClock,
    next_event_within: NextEventWithin,
) -> None:
    script = job.script()
    start = clock()
    while not isinstance(action := script.next_action(clock() - start), Finish):
        try:
            if isinstance(action, Wait):
                event = await next_event_within(session, action.seconds)
                if event is not None:
                    frames.observe(event)
            elif isinstance(action, AudioChunk):
                frames.act(action, await session.send_audio(action.audio, action.end))
            else:
                await session.interrupt()
                frames.act(action, None)
        except LocalProtocolError:
            if not session.state.ended:
                raise
            return  # the session closed under us: its events say why


async def _stream_async(
    job: StreamJob,
    connect: Connect,
    clock: Callable[[], float],
    next_event_within: NextEventWithin,
) -> None:
    session: Session | None = None
    frames = FrameClock(job, clock)
    try:
        async with connect(
            job.config,
            max_queued_events=_MAX_QUEUED_EVENTS,
            transport_frames=frames.on_frame,
            encoder=job.encoder,
        ) as session:
            job.tally.connection_id = session.connection_id
            with ctrl_c_sets(job.stop):
                await _act_async(session, job, clock, frames, next_event_within)
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
    await _stream_async(job, asyncio_binding.connect, clock, _next_event_asyncio)


async def stream_trio(job: StreamJob) -> None:
    """Run the job on the trio binding."""
    await _stream_async(job, trio_binding.connect, trio.current_time, _next_event_trio)


# --- blocking ---------------------------------------------------------------------------


def _act_blocking(session: SyncSession, job: StreamJob, frames: FrameClock) -> None:
    script = job.script()
    start = time.monotonic()
    while not isinstance(action := script.next_action(time.monotonic() - start), Finish):
        try:
            if isinstance(action, Wait):
                with contextlib.suppress(TimeoutError):
                    frames.observe(session.next_event(timeout=action.seconds))
            elif isinstance(action, AudioChunk):
                frames.act(action, session.send_audio(action.audio, action.end))
            else:
                session.interrupt()
                frames.act(action, None)
        except LocalProtocolError:
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
