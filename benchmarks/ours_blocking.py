"""Driver for avatarwire's blocking binding: one thread per session (no event loop)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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

NAME = "blocking"


@contextmanager
def open_session(info: EmulatorInfo, frames: FrameRecorder) -> Iterator[Any]:
    """A ready session whose frames go to ``frames``."""
    from avatarwire.bindings.blocking import connect

    with connect(session_config(info), transport_frames=frames, queue_events=False) as session:
        yield session


def _pump_until(session: Any, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        session.wait(0.001)


def throughput(infos: list[EmulatorInfo], seconds: float, repeats: int = 3) -> dict[str, Any]:
    frames = FrameRecorder()
    runs = []
    with open_session(infos[0], frames) as session:
        for run, length in enumerate([1.0] + [seconds] * repeats):
            count = int(length * CHUNKS_PER_SECOND)
            ends = frames.ends
            frames.mark()
            wall, cpu = now(), cpu_seconds()
            req_id = ""
            for index in range(count):
                req_id = session.send_audio(chunk(index), end=index == count - 1)
            session.wait_for_request(req_id, timeout=120)
            _pump_until(session, lambda ends=ends: frames.ends > ends, 10)
            wall, cpu = now() - wall, cpu_seconds() - cpu
            if run:
                runs.append(throughput_run(count, frames.frames_since_mark, wall, cpu))
    return throughput_report(runs)


def scale(
    infos: list[EmulatorInfo], sessions: int, seconds: float, paced: bool = False
) -> dict[str, Any]:
    """A thread per session, sleeping until each send while it reads, or (``paced``)
    pacing its own audio with ``session.stream(realtime=True)``."""
    raise_fd_limit()
    threading.stack_size(256 * 1024)
    with open_session(infos[0], FrameRecorder()):
        pass  # warm-up: imports and caches are not per-session memory
    rss_before = rss_bytes()
    connecting = threading.Semaphore(32)
    lock = threading.Lock()
    opened = [0]
    all_open = threading.Event()
    go = threading.Event()
    base_at: list[float] = []
    lateness: list[float] = []
    recorders: list[FrameRecorder] = []
    failures: list[str] = []
    count = int(seconds * CHUNKS_PER_SECOND)
    interval = CHUNK_MS / 1000

    def arrived() -> None:
        with lock:
            if opened[0] + len(failures) >= sessions:
                all_open.set()

    def one(index: int) -> None:
        frames = FrameRecorder()
        mine: list[float] = []
        with lock:
            recorders.append(frames)
        try:
            with connecting:
                manager = open_session(infos[index % len(infos)], frames)
                session = manager.__enter__()
        except Exception as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
            arrived()
            return
        try:
            with lock:
                opened[0] += 1
            arrived()
            go.wait()
            start = base_at[0] + interval * index / sessions
            if paced:

                def source() -> Iterator[bytes]:
                    for step in range(count):  # taken as each falls due
                        mine.append(time.monotonic() - (start + step * interval))
                        yield chunk(step)

                session.stream(source(), realtime=True, start=start)
            for step in range(0 if paced else count):
                due = start + step * interval
                delay = due - time.monotonic()
                if delay > 0:
                    session.wait(delay)  # keeps reading frames while it paces
                mine.append(time.monotonic() - due)
                session.send_audio(chunk(step), end=step == count - 1)
            _pump_until(session, lambda: frames.ends > 0, 5)
        except Exception as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            manager.__exit__(None, None, None)
            with lock:
                lateness.extend(mine)

    threads = [
        threading.Thread(target=one, args=(index,), daemon=True) for index in range(sessions)
    ]
    connect_started = now()
    for thread in threads:
        thread.start()
    all_open.wait(300)
    connect_seconds = now() - connect_started
    rss_open = rss_bytes()
    base = time.monotonic() + 0.2
    base_at.append(base)
    go.set()
    time.sleep(max(0.0, base - time.monotonic()))
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    time.sleep(seconds / 2)
    rss_mid = rss_bytes()
    time.sleep(seconds / 2)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    for thread in threads:
        thread.join(60)
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


def latency(infos: list[EmulatorInfo], rounds: int) -> dict[str, Any]:
    frames = FrameRecorder()
    interrupt_delays: list[float] = []
    frames_after_interrupt = 0
    end_delays: list[float] = []
    with open_session(infos[0], frames) as session:
        for _ in range(rounds):
            frames.mark()
            for index in range(2 * CHUNKS_PER_SECOND):
                session.send_audio(chunk(index))
            _pump_until(session, lambda: frames.frames_since_mark >= 5, 10)
            asked = now()
            session.interrupt()
            session.wait(0.3)
            interrupt_delays.append(max(0.0, frames.last_at - asked))
            frames_after_interrupt += int(frames.last_at > asked)
        for _ in range(rounds):
            session.wait(0.1)  # let the previous request's playout drain
            ends = frames.ends
            count = CHUNKS_PER_SECOND // 2
            start = time.monotonic()
            asked = 0.0
            for index in range(count):
                delay = start + index * CHUNK_MS / 1000 - time.monotonic()
                if delay > 0:
                    session.wait(delay)
                last = index == count - 1
                if last:
                    asked = now()
                session.send_audio(chunk(index), end=last)
            _pump_until(session, lambda ends=ends: frames.ends > ends, 10)
            end_delays.append(frames.ended_at - asked)
    return {
        "interrupt_to_last_frame": latency_summary(interrupt_delays),
        "rounds_with_frames_after_interrupt": frames_after_interrupt,
        "end_to_final_frame": latency_summary(end_delays),
    }


def run(
    workload: str, infos: list[EmulatorInfo], client: str = "blocking", **params: Any
) -> dict[str, Any]:
    """Run one workload with plain threads (``blocking-paced``: ``scale`` through the
    binding's pacing)."""
    if workload == "scale" and client.endswith("-paced"):
        params["paced"] = True
    workloads: dict[str, Callable[..., Any]] = {
        "throughput": throughput,
        "scale": scale,
        "latency": latency,
    }
    result: dict[str, Any] = workloads[workload](infos, **params)
    return result
