"""``python benchmarks/instructions.py``: CPU instructions per message, immune to a busy machine.

Timing CPU on a shared machine is noisy (other processes evict caches and steal
cycles); counting instructions is not. Each client's ``throughput`` worker runs
under ``valgrind --tool=callgrind`` twice, with a short and a long request; the
difference of the two totals divided by the difference in messages (sends +
frames) is the cost of one message, with start-up and imports cancelled out. The
server (sink or emulator) runs natively in its own process, so only the client is
counted. Needs valgrind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    CHUNKS_PER_SECOND,
    FRAMES_PER_SECOND,
    EmulatorProcess,
    SinkProcess,
    compiled_modules,
)

HERE = Path(__file__).resolve().parent
REPEATS = 3  # timed requests per worker run (plus a 1 s warm-up)


def instructions(client: str, info: dict[str, str], seconds: float, allocator: str) -> int:
    """Instructions the client's worker process executed for one throughput run, with
    ``allocator`` as ``PYTHONMALLOC`` (``malloc``: every object through the C library,
    as rounds 2-4 counted; ``pymalloc``: the interpreter's default, what users run)."""
    params = json.dumps({"emulators": [info], "seconds": seconds, "repeats": REPEATS})
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "callgrind.out")
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        worker = [sys.executable, str(HERE / "worker.py"), client, "throughput", params]
        done = subprocess.run(
            [*valgrind, *worker],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONMALLOC": allocator},
        )
    found = re.findall(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{client}: {done.stderr.strip().splitlines()[-3:]}")
    return int(found[-1])


def per_message(
    client: str, info: dict[str, str], short: float, long: float, allocator: str
) -> dict[str, Any]:
    """Instructions per message from two runs that differ only in length."""
    low = instructions(client, info, short, allocator)
    high = instructions(client, info, long, allocator)
    messages = REPEATS * (long - short) * (CHUNKS_PER_SECOND + FRAMES_PER_SECOND)
    return {
        "instructions_short_run": low,
        "instructions_long_run": high,
        "messages_between": messages,
        "instructions_per_message": round((high - low) / messages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="official,spatialreal,asyncio,uvloop")
    parser.add_argument("--server", default="sink", choices=("sink", "sink-deflate", "emulator"))
    parser.add_argument("--short", type=float, default=4.0, help="seconds of audio, short run")
    parser.add_argument("--long", type=float, default=12.0, help="seconds of audio, long run")
    parser.add_argument(
        "--allocator",
        default="malloc",
        choices=("malloc", "pymalloc"),
        help="PYTHONMALLOC for the clients (malloc: as rounds 2-4; pymalloc: the default)",
    )
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args()
    if args.server == "emulator":
        server: EmulatorProcess = EmulatorProcess(fast=True)
    else:
        server = SinkProcess(deflate=args.server == "sink-deflate")
    compiled = compiled_modules()
    results: dict[str, Any] = {
        "server": args.server,
        "allocator": args.allocator,
        "compiled": compiled,
        "clients": {},
    }
    if compiled:
        print(f"avatarwire compiled with mypyc: {', '.join(compiled)}")
    try:
        for client in args.clients.split(","):
            figures = per_message(
                client, server.info.__dict__, args.short, args.long, args.allocator
            )
            results["clients"][client] = figures
            print(f"{client:24} {figures['instructions_per_message']:>10,} instructions/message")
    finally:
        server.stop()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
