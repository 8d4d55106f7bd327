"""What one emulator process spends per session: memory and CPU, N sessions streaming.

The emulator runs in its own process (pinned with ``--pin``); the client opens N
asyncio sessions at once, streams 20 ms chunks in real time for a while, and the
emulator's resident memory and CPU time are read from /proc around that.

    python benchmarks/emulator_capacity.py --sessions 500 --seconds 10 --pin 0:1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack

from common import EmulatorProcess, chunk, now, raise_fd_limit
from ours_asyncio import session_config

from avatarwire.bindings.asyncio import connect

CHUNK_SECONDS = 0.02


def emulator_rss(process: EmulatorProcess) -> int:
    """Resident memory of the emulator process, in bytes."""
    with open(f"/proc/{process.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def measure(process: EmulatorProcess, sessions: int, seconds: float) -> dict[str, float]:
    config = session_config(process.info)
    frames = [0]

    def count(_data: bytes, _last: bool) -> None:
        frames[0] += 1

    rss_before = emulator_rss(process)
    async with AsyncExitStack() as stack:
        opened = await asyncio.gather(
            *(stack.enter_async_context(connect(config, transport_frames=count))
              for _ in range(sessions))
        )  # fmt: skip
        rss_open = emulator_rss(process)
        cpu_before, start = process.cpu_seconds(), now()

        async def stream(session: object, offset: float) -> None:
            await asyncio.sleep(offset)
            index = 0
            while now() - start < seconds:
                await session.send_audio(chunk(index))  # type: ignore[attr-defined]
                index += 1
                await asyncio.sleep(max(0.0, start + offset + index * CHUNK_SECONDS - now()))

        spread = CHUNK_SECONDS / max(sessions, 1)
        await asyncio.gather(*(stream(s, i * spread) for i, s in enumerate(opened)))
        cpu = process.cpu_seconds() - cpu_before
        elapsed = now() - start
        rss_streaming = emulator_rss(process)
    return {
        "sessions": sessions,
        "seconds": round(elapsed, 2),
        "emulator_rss_per_open_session_kib": round((rss_open - rss_before) / sessions / 1024, 1),
        "emulator_rss_per_streaming_session_kib": round(
            (rss_streaming - rss_before) / sessions / 1024, 1
        ),
        "emulator_cpu_percent": round(100 * cpu / elapsed, 1),
        "emulator_cpu_percent_per_session": round(100 * cpu / elapsed / sessions, 3),
        "frames_per_second": round(frames[0] / elapsed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pin", help="CLIENT_CPUS:EMULATOR_CPUS, e.g. 0:1")
    args = parser.parse_args()
    raise_fd_limit()
    emulator_cpus = None
    if args.pin:
        client, emulator = args.pin.split(":")
        import os

        os.sched_setaffinity(0, {int(cpu) for cpu in client.split(",")})
        emulator_cpus = {int(cpu) for cpu in emulator.split(",")}
    process = EmulatorProcess(fast=False, cpus=emulator_cpus)
    try:
        result = asyncio.run(measure(process, args.sessions, args.seconds))
    finally:
        process.stop()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
