"""``python benchmarks/profile_split.py``: where a real-time scale run's CPU goes, by layer.

Runs one ``scale`` worker (default: uvloop + the shared pacer, N = 1000, against the
sink) under ``py-spy record --native`` and sorts every sample taken while the sessions
stream by the innermost layer it is in: the core (``avatarwire/core``, with the
protobuf parsing it calls), the bindings and pacer, the benchmark's own driver, or the
rest (the event loop, system calls, the interpreter between them). The split says
how much a faster core (mypyc, a C extension) could save and how much is the loop's and
the kernel's, which only fewer system calls or more cores reduce. Needs ``py-spy``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import SinkProcess, compiled_modules, pinned_to

HERE = Path(__file__).resolve().parent
#: Frames of these functions mark a sample as taken before streaming began.
SETUP = ("open_session", "_open", "connect (", "fetch_token", "warm", "one (")


#: libc calls that enter the kernel: a sample whose leaf is one is the kernel's time.
SYSCALLS = ("write", "read", "send", "recv", "epoll", "poll", "syscall", "close", "connect")
#: uvloop's and libuv's C sources: the event loop's own work.
LOOP_SOURCES = (
    "loop.c",
    "stream.c",
    "core.c",
    "linux.c",
    "tcp.c",
    "timer.c",
    "loop-watcher.c",
    "queue.h",
    "heap-inl.h",
    "uv-common.c",
)


def layer(stack: list[str]) -> str:
    """What the sample was doing, from its innermost frame outwards: a system call, the
    event loop's C code, or the Python function (ours or not) that native code
    such as protobuf parsing or reference counting runs for."""
    for frame in reversed(stack):
        name, _, where = frame.partition(" (")
        if where.startswith("libc") and any(call in name for call in SYSCALLS):
            return "system calls"
        if any(where.startswith(source) for source in LOOP_SOURCES):
            return "event loop (uvloop, C)"
        if where.startswith("__native_") or name.startswith("CPy"):
            return "core (compiled by mypyc)"
        if ".py:" not in where:
            continue  # the interpreter, protobuf's upb, ...: counted for their caller
        if where.startswith("avatarwire/core/"):
            return "core (Python)"
        if where.startswith("avatarwire/bindings/"):
            return "bindings and pacer (Python)"
        if "asyncio_workloads" in where or "ours_asyncio" in where:
            return "benchmark driver (Python)"
        return "other Python (stdlib)"
    return "other native"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="uvloop-paced")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--pin", default="0:1", help="CLIENT_CPU:SINK_CPU")
    parser.add_argument("--out", default=None, help="JSON file to write")
    parser.add_argument("--raw", default=None, help="also keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    client_cpu, sink_cpu = ({int(c)} for c in args.pin.split(":"))
    sink = SinkProcess(cpus=sink_cpu)
    params = {"emulators": [sink.info.__dict__], "sessions": args.sessions}
    params["seconds"] = args.seconds
    try:
        with tempfile.TemporaryDirectory() as scratch:
            raw = os.path.join(scratch, "samples.txt")
            spy = str(Path(sys.executable).parent / "py-spy")
            command = [spy, "record", "--native", "--format", "raw", "--rate", str(args.rate)]
            command += ["--output", raw, "--"]
            command += [sys.executable, str(HERE / "worker.py"), args.client, "scale"]
            command += [json.dumps(params)]
            done = subprocess.run(
                command, capture_output=True, text=True, preexec_fn=pinned_to(client_cpu)
            )
            if done.returncode != 0:
                sys.exit(done.stderr[-2000:])
            lines = Path(raw).read_text().splitlines()
            if args.raw:
                Path(args.raw).write_text("\n".join(lines))
    finally:
        sink.stop()
    counts: collections.Counter[str] = collections.Counter()
    setup = 0
    for line in lines:
        frames, _, count_text = line.rpartition(" ")
        stack, count = frames.split(";"), int(count_text)
        if any(marker in frames for marker in SETUP) and "stream" not in frames:
            setup += count
            continue
        counts[layer(stack)] += count
    total = sum(counts.values())
    result = {
        "client": args.client,
        "sessions": args.sessions,
        "compiled": compiled_modules(),
        "samples_streaming": total,
        "samples_setup_left_out": setup,
        "share_percent": {k: round(100 * v / total, 1) for k, v in counts.most_common()},
        "worker": json.loads(next(ln for ln in done.stdout.splitlines() if ln.startswith("{"))),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "worker"}, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
