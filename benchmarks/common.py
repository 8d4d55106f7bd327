"""What every benchmark shares: the emulator subprocess, test audio, clocks, statistics."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16000
CHUNK_MS = 20
CHUNK_BYTES = SAMPLE_RATE * 2 * CHUNK_MS // 1000  # 640 bytes of 16-bit mono PCM
CHUNKS_PER_SECOND = 1000 // CHUNK_MS
FRAMES_PER_SECOND = 25
FRAME_INTERVAL = 1.0 / FRAMES_PER_SECOND


def speech_like_chunk(index: int) -> bytes:
    """20 ms of a 220 Hz tone whose loudness swells like syllables (so frames vary)."""
    loudness = 0.2 + 0.7 * abs(math.sin(index * 0.15))
    samples = CHUNK_BYTES // 2
    start = index * samples
    values = (
        int(32767 * loudness * math.sin(2 * math.pi * 220 * (start + n) / SAMPLE_RATE))
        for n in range(samples)
    )
    return b"".join(v.to_bytes(2, "little", signed=True) for v in values)


#: A few distinct chunks, reused: building audio must not cost the client CPU we measure.
CHUNKS = tuple(speech_like_chunk(index) for index in range(16))


def chunk(index: int) -> bytes:
    """The audio of chunk ``index`` of a stream."""
    return CHUNKS[index % len(CHUNKS)]


def raise_fd_limit() -> None:
    """Let one process hold a few thousand sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned_to(cpus: set[int] | None) -> Any:
    """A ``preexec_fn`` that keeps a child process on ``cpus`` (``None``: anywhere)."""

    def pin() -> None:
        raise_fd_limit()
        if cpus:
            os.sched_setaffinity(0, cpus)

    return pin


def cpu_seconds() -> float:
    """CPU (user + system) used by this process so far, all threads."""
    return time.process_time()


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def latency_summary(seconds: list[float]) -> dict[str, Any]:
    """p50 / p99 / max of a list of delays, in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 0.50)),
        "p99_ms": ms(percentile(seconds, 0.99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


@dataclass(frozen=True)
class EmulatorInfo:
    """Where an emulator listens and the credentials it accepts."""

    console_url: str
    ingress_url: str
    api_key: str
    app_id: str
    avatar_id: str

    @classmethod
    def from_json(cls, text: str) -> EmulatorInfo:
        data = json.loads(text)
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


class EmulatorProcess:
    """``python -m avatarwire.emulator`` in its own process, so it never shares our CPU."""

    def __init__(
        self, *, fast: bool, idle_timeout: float = 600.0, cpus: set[int] | None = None
    ) -> None:
        args = [sys.executable, "-m", "avatarwire.emulator", "--port", "0"]
        args += ["--idle-timeout", str(idle_timeout)]
        if fast:
            args.append("--fast")
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=pinned_to(cpus),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator did not start (exit {self.process.wait()})")
        self.info = EmulatorInfo.from_json(line)
        self._cpu_at_start = self.cpu_seconds()

    def cpu_seconds(self) -> float:
        """CPU used by the emulator process so far (from /proc)."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        """Terminate the emulator and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SinkProcess(EmulatorProcess):
    """``benchmarks/sink_server.py`` in its own process: a server that does the least
    a client needs, so it is never the bottleneck."""

    def __init__(
        self, *, deflate: bool = False, burst: bool = False, cpus: set[int] | None = None
    ) -> None:
        here = os.path.dirname(os.path.abspath(__file__))
        args = [sys.executable, os.path.join(here, "sink_server.py")]
        args += ["--deflate"] * deflate + ["--burst"] * burst
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, text=True, preexec_fn=pinned_to(cpus)
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sink did not start (exit {self.process.wait()})")
        self.info = EmulatorInfo.from_json(line)
        self._cpu_at_start = self.cpu_seconds()


def compiled_modules() -> list[str]:
    """The avatarwire modules this interpreter would load compiled (``mypyc_build.py``);
    empty for the pure-Python package."""
    spec = importlib.util.find_spec("avatarwire")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(
        "avatarwire." + ".".join((*path.relative_to(root).parts[:-1], path.name.split(".")[0]))
        for path in root.rglob("*.so")
    )


def now() -> float:
    """The monotonic clock every benchmark uses."""
    return time.perf_counter()
