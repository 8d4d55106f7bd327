"""Driver for avatarwire's trio binding: workloads 1-3 written with trio primitives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from asyncio_workloads import scale_report, throughput_report, throughput_run
from common import (
    CHUNK_MS,
    CHUNKS_PER_SECOND,
    EmulatorInfo,
    chunk,
    cpu_seconds,
    latency_summary,
    now,
    raise_fd_limit,
    rss_bytes,
)
from ours_asyncio import session_config
from recorder import FrameRecorder

NAME = "trio"


@asynccontextmanager
async def open_session(info: EmulatorInfo, frames: FrameRecorder) -> AsyncIterator[Any]:
    """A ready session whose frames go to ``frames``."""
    from avatarwire.bindings.trio import connect

    async with connect(
        session_config(info), transport_frames=frames, queue_events=False
    ) as session:
        yield session


class _Flag:
    """A resettable event for trio (trio.Event cannot be cleared)."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def set(self) -> None:
        self.event.set()

    def clear(self) -> None:
        if self.event.is_set():
            self.event = trio.Event()

    async def wait(self) -> None:
        await self.event.wait()


async def throughput(infos: list[EmulatorInfo], seconds: float, repeats: int = 3) -> dict[str, Any]:
    done = _Flag()
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
            with trio.fail_after(120):
                await done.wait()
            wall, cpu = now() - wall, cpu_seconds() - cpu
            if run:
                runs.append(throughput_run(count, frames.frames_since_mark, wall, cpu))
    return throughput_report(runs)


async def scale(
    infos: list[EmulatorInfo], sessions: int, seconds: float, paced: bool = False
) -> dict[str, Any]:
    """A task per session sleeping until each send, or (``paced``) each session's audio
    sent by the binding's shared pacer, ``session.stream(realtime=True)``."""
    raise_fd_limit()
    async with open_session(infos[0], FrameRecorder()):
        pass  # warm-up: imports and caches are not per-session memory
    rss_before = rss_bytes()
    connecting = trio.Semaphore(32)
    opened = 0
    all_open = trio.Event()
    go = trio.Event()
    base_at: list[float] = []
    lateness: list[float] = []
    recorders: list[FrameRecorder] = []
    failures: list[str] = []
    count = int(seconds * CHUNKS_PER_SECOND)
    interval = CHUNK_MS / 1000

    async def one(index: int) -> None:
        nonlocal opened
        frames = FrameRecorder()
        recorders.append(frames)
        try:
            async with connecting:
                manager = open_session(infos[index % len(infos)], frames)
                session = await manager.__aenter__()
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            if opened + len(failures) >= sessions:
                all_open.set()
            return
        try:
            opened += 1
            if opened + len(failures) >= sessions:
                all_open.set()
            await go.wait()
            start = base_at[0] + interval * index / sessions
            if paced:

                def source() -> Iterator[bytes]:
                    for step in range(count):  # taken by the pacer as each falls due
                        lateness.append(trio.current_time() - (start + step * interval))
                        yield chunk(step)

                await session.stream(source(), realtime=True, start=start)
            for step in range(0 if paced else count):
                due = start + step * interval
                await trio.sleep_until(due)
                lateness.append(trio.current_time() - due)
                await session.send_audio(chunk(step), end=step == count - 1)
            with trio.move_on_after(5):
                while frames.ends == 0:
                    await trio.sleep(0.05)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            await manager.__aexit__(None, None, None)

    async with trio.open_nursery() as nursery:
        for index in range(sessions):
            nursery.start_soon(one, index)
        connect_started = now()
        with trio.fail_after(300):
            await all_open.wait()
        connect_seconds = now() - connect_started
        rss_open = rss_bytes()
        base = trio.current_time() + 0.2
        base_at.append(base)
        go.set()
        await trio.sleep_until(base)
        cpu0, wall0 = cpu_seconds(), trio.current_time()
        await trio.sleep(seconds / 2)
        rss_mid = rss_bytes()
        await trio.sleep(seconds / 2)
        cpu1, wall1 = cpu_seconds(), trio.current_time()
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


async def latency(infos: list[EmulatorInfo], rounds: int) -> dict[str, Any]:
    ended = _Flag()
    frames = FrameRecorder(ended.set)
    interrupt_delays: list[float] = []
    frames_after_interrupt = 0
    end_delays: list[float] = []
    async with open_session(infos[0], frames) as session:
        for _ in range(rounds):
            frames.mark()
            for index in range(2 * CHUNKS_PER_SECOND):
                await session.send_audio(chunk(index))
            while frames.frames_since_mark < 5:
                await trio.sleep(0.002)
            asked = now()
            await session.interrupt()
            await trio.sleep(0.3)
            interrupt_delays.append(max(0.0, frames.last_at - asked))
            frames_after_interrupt += int(frames.last_at > asked)
        for _ in range(rounds):
            await trio.sleep(0.1)  # let the previous request's playout drain
            ended.clear()
            count = CHUNKS_PER_SECOND // 2
            start = trio.current_time()
            asked = 0.0
            for index in range(count):
                await trio.sleep_until(start + index * CHUNK_MS / 1000)
                last = index == count - 1
                if last:
                    asked = now()
                await session.send_audio(chunk(index), end=last)
            with trio.fail_after(10):
                await ended.wait()
            end_delays.append(frames.ended_at - asked)
    return {
        "interrupt_to_last_frame": latency_summary(interrupt_delays),
        "rounds_with_frames_after_interrupt": frames_after_interrupt,
        "end_to_final_frame": latency_summary(end_delays),
    }


def run(
    workload: str, infos: list[EmulatorInfo], client: str = "trio", **params: Any
) -> dict[str, Any]:
    """Run one workload under trio (``trio-paced``: ``scale`` through the pacer)."""
    if workload == "scale" and client.endswith("-paced"):
        params["paced"] = True
    workloads: dict[str, Callable[..., Any]] = {
        "throughput": throughput,
        "scale": scale,
        "latency": latency,
    }
    result: dict[str, Any] = trio.run(lambda: workloads[workload](infos, **params))
    return result
