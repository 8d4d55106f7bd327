"""Workloads 1-3 for any asyncio client (the official SDK and our asyncio binding).

A client driver supplies ``open_session(info, on_frame)``: an async context manager
yielding an object with ``send_audio(audio, end=False)`` and ``interrupt()``
coroutines, whose frames go to ``on_frame(frame, is_last)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from common import (
    CHUNK_MS,
    CHUNKS_PER_SECOND,
    FRAMES_PER_SECOND,
    EmulatorInfo,
    chunk,
    cpu_seconds,
    latency_summary,
    now,
    raise_fd_limit,
    rss_bytes,
)
from recorder import FrameRecorder


class AsyncAvatar(Protocol):
    async def send_audio(self, audio: bytes, end: bool = False) -> str: ...
    async def interrupt(self) -> str: ...


Opener = Callable[[EmulatorInfo, FrameRecorder], AbstractAsyncContextManager[AsyncAvatar]]


async def throughput(
    open_session: Opener, infos: list[EmulatorInfo], seconds: float, repeats: int = 3
) -> dict[str, Any]:
    """One session sends ``seconds`` of audio as fast as it can and takes every frame.

    A short warm-up request first, then ``repeats`` timed requests.
    """
    done = asyncio.Event()
    frames = FrameRecorder(done.set)
    runs = []
    async with open_session(infos[0], frames) as session:
        for run, length in enumerate([1.0] + [seconds] * repeats):
            count = int(length * CHUNKS_PER_SECOND)
            done.clear()
            frames.mark()
            wall, cpu = now(), cpu_seconds()
            for index in range(count):
                await session.send_audio(chunk(index), end=index == count - 1)
            await asyncio.wait_for(done.wait(), 120)
            wall, cpu = now() - wall, cpu_seconds() - cpu
            if run:
                runs.append(throughput_run(count, frames.frames_since_mark, wall, cpu))
    return throughput_report(runs)


def throughput_run(sent: int, frames: int, wall: float, cpu: float) -> dict[str, Any]:
    """The figures of one timed request."""
    return {
        "sent": sent,
        "frames": frames,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_message": 1e6 * cpu / (sent + frames),
    }


def throughput_report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run (by CPU per message), with every run listed."""
    ordered = sorted(runs, key=lambda run: run["cpu_us_per_message"])
    return {**ordered[len(ordered) // 2], "runs": runs}


async def scale_paced(
    open_session: Opener,
    infos: list[EmulatorInfo],
    sessions: int,
    seconds: float,
    ahead: float = 0.0,
) -> dict[str, Any]:
    """:func:`scale` with each session's audio sent by the library's shared pacer."""
    return await scale(open_session, infos, sessions, seconds, paced=True, ahead=ahead)


async def scale(
    open_session: Opener,
    infos: list[EmulatorInfo],
    sessions: int,
    seconds: float,
    paced: bool = False,
    ahead: float = 0.0,
) -> dict[str, Any]:
    """``sessions`` sessions, each streaming in real time for ``seconds``: a task per
    session sleeping until each send, or (``paced``) ``session.stream(realtime=True)``."""
    raise_fd_limit()
    async with open_session(infos[0], FrameRecorder()):
        pass  # warm-up: imports and caches are not per-session memory
    rss_before = rss_bytes()
    connecting = asyncio.Semaphore(32)
    opened = 0
    all_open = asyncio.Event()
    go: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    lateness: list[float] = []
    recorders: list[FrameRecorder] = []
    failures: list[str] = []
    count = int(seconds * CHUNKS_PER_SECOND)
    interval = CHUNK_MS / 1000

    async def one(index: int) -> None:
        nonlocal opened
        frames = FrameRecorder()
        recorders.append(frames)
        async with contextlib.AsyncExitStack() as stack:
            async with connecting:
                session = await stack.enter_async_context(
                    open_session(infos[index % len(infos)], frames)
                )
            opened += 1
            if opened == sessions:
                all_open.set()
            base = await go
            start = base + interval * index / sessions  # spread sends over the interval
            if paced:
                # The loop's clock is time.monotonic() (uvloop's: the same, in whole ms).
                def source() -> Iterator[bytes]:
                    for step in range(count):  # taken by the pacer as each falls due
                        lateness.append(time.monotonic() - (start + step * interval))
                        yield chunk(step)

                await session.stream(source(), realtime=True, start=start, ahead=ahead)  # type: ignore[attr-defined]
            for step in range(0 if paced else count):
                due = start + step * interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                lateness.append(time.monotonic() - due)
                await session.send_audio(chunk(step), end=step == count - 1)
            deadline = time.monotonic() + 5
            while frames.ends == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)

    async def guarded(index: int) -> None:
        try:
            await one(index)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            if opened + len(failures) >= sessions:
                all_open.set()

    tasks = [asyncio.create_task(guarded(index)) for index in range(sessions)]
    connect_started = now()
    await asyncio.wait_for(all_open.wait(), 300)
    connect_seconds = now() - connect_started
    rss_open = rss_bytes()
    base = time.monotonic() + 0.2
    go.set_result(base)
    await asyncio.sleep(base - time.monotonic())
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds / 2)
    rss_mid = rss_bytes()
    await asyncio.sleep(seconds / 2)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    await asyncio.gather(*tasks)
    return scale_report(
        sessions,
        seconds,
        lateness,
        recorders,
        failures,
        cpu=cpu1 - cpu0,
        wall=wall1 - wall0,
        rss_before=rss_before,
        rss_open=rss_open,
        rss_mid=rss_mid,
        connect_seconds=connect_seconds,
    )


def scale_report(
    sessions: int,
    seconds: float,
    lateness: list[float],
    recorders: list[FrameRecorder],
    failures: list[str],
    *,
    cpu: float,
    wall: float,
    rss_before: int,
    rss_open: int,
    rss_mid: int,
    connect_seconds: float,
) -> dict[str, Any]:
    """The figures of a scale run, the same for every client."""
    expected_frames = sessions * int(seconds * FRAMES_PER_SECOND)
    return {
        "sessions": sessions,
        "failed_sessions": len(failures),
        "failures": sorted(set(failures))[:5],
        "cpu_percent": 100 * cpu / wall if wall else None,
        "send_lateness": latency_summary(lateness),
        "sends": len(lateness),
        "frames": sum(r.frames for r in recorders),
        "frames_expected": expected_frames,
        "requests_completed": sum(1 for r in recorders if r.ends),
        "memory_per_session_bytes": (rss_mid - rss_before) / max(1, sessions),
        "memory_per_idle_session_bytes": (rss_open - rss_before) / max(1, sessions),
        "connect_s": connect_seconds,
    }


async def interrupt_queued(
    open_session: Opener, infos: list[EmulatorInfo], rounds: int, audio_seconds: float = 60.0
) -> dict[str, Any]:
    """``interrupt()`` while a burst of frames is still queued in the socket: time from
    its return to the last frame of the interrupted request reaching the callback.

    Each round sends ``audio_seconds`` of audio at once, the last chunk ``end=True``;
    the burst sink answers with all of the request's frames in one write; as soon as
    the first of them reaches the callback, the request is interrupted (a barge-in
    while it plays), with most of its frames still unread in the socket.
    """
    first = asyncio.Event()
    frames = FrameRecorder()
    frames.on_frame = first.set
    delays: list[float] = []
    late_frames: list[int] = []
    count = int(audio_seconds * CHUNKS_PER_SECOND)
    async with open_session(infos[0], frames) as session:
        for _ in range(rounds + 1):  # the first round warms up
            first.clear()
            for index in range(count):
                await session.send_audio(chunk(index), end=index == count - 1)
            await first.wait()  # in place: wait_for would add loop iterations (reads)
            await session.interrupt()
            returned = now()
            frames.mark()
            await asyncio.sleep(0.3)  # every frame still coming has arrived by then
            delays.append(max(0.0, frames.last_at - returned))
            late_frames.append(frames.frames_since_mark)
    delays, late_frames = delays[1:], late_frames[1:]
    return {
        "interrupt_to_last_frame": latency_summary(delays),
        "frames_after_interrupt_p50": sorted(late_frames)[len(late_frames) // 2],
        "frames_after_interrupt_max": max(late_frames),
        "frames_per_round": count // 2,
    }


async def latency(open_session: Opener, infos: list[EmulatorInfo], rounds: int) -> dict[str, Any]:
    """Interrupt -> last frame of the request, and end=True -> its final frame."""
    ended = asyncio.Event()
    frames = FrameRecorder(ended.set)
    interrupt_delays: list[float] = []
    frames_after_interrupt = 0
    end_delays: list[float] = []
    async with open_session(infos[0], frames) as session:
        for _ in range(rounds):
            # Two seconds of audio at once; the service plays it out in real time.
            frames.mark()
            for index in range(2 * CHUNKS_PER_SECOND):
                await session.send_audio(chunk(index))
            while frames.frames_since_mark < 5:
                await asyncio.sleep(0.002)
            asked = now()
            await session.interrupt()
            await asyncio.sleep(0.3)  # any frame still coming has arrived by then
            interrupt_delays.append(max(0.0, frames.last_at - asked))
            frames_after_interrupt += int(frames.last_at > asked)
        for _ in range(rounds):
            # Half a second in real time; the last chunk closes the request.
            await asyncio.sleep(0.1)  # let the previous request's playout drain
            ended.clear()
            count = CHUNKS_PER_SECOND // 2
            start = time.monotonic()
            for index in range(count):
                delay = start + index * CHUNK_MS / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                last = index == count - 1
                if last:
                    asked = now()
                await session.send_audio(chunk(index), end=last)
            await asyncio.wait_for(ended.wait(), 10)
            end_delays.append(frames.ended_at - asked)
    return {
        "interrupt_to_last_frame": latency_summary(interrupt_delays),
        "rounds_with_frames_after_interrupt": frames_after_interrupt,
        "end_to_final_frame": latency_summary(end_delays),
    }
