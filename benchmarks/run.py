"""``python benchmarks/run.py [--quick] [--out results.json]``: avatarwire vs the official SDK.

Starts the emulator in separate processes, runs every workload for every client
(each client in its own process, so CPU and memory figures never mix), prints a
table of ratios (ours / official) with the absolute figures, and writes it all to
a JSON file. Needs the ``bench`` extra (the official ``avatarkit`` SDK).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import EmulatorProcess, SinkProcess, compiled_modules, pinned_to

HERE = Path(__file__).resolve().parent
#: The official SDKs: ``avatarkit`` 0.1.7 and its successor ``spatialreal`` 0.2.x, each
#: also with permessage-deflate off (only a ``--server sink-deflate`` accepts it).
OFFICIAL = ("official", "spatialreal", "official-nodeflate", "spatialreal-nodeflate")
OURS = ("asyncio", "trio", "blocking")
CLIENTS = ("official", "spatialreal", *OURS)
#: The asyncio binding on uvloop, and with the shared pacer in ``scale`` (``-paced``;
#: ``-paced-ahead``: with ``ahead=0.02``, each chunk may go out one chunk early, joined
#: with the one before it: half the messages).
ASYNCIO_VARIANTS = (
    "uvloop",
    "asyncio-paced",
    "uvloop-paced",
    "asyncio-paced-ahead",
    "uvloop-paced-ahead",
)
#: The trio and blocking bindings with their own pacing in ``scale``.
PACED_VARIANTS = ("trio-paced", "blocking-paced")
ALL_CLIENTS = (*OFFICIAL, *OURS, *ASYNCIO_VARIANTS, *PACED_VARIANTS)
#: ``--server``: what the clients talk to in throughput, latency, interrupt and scale.
SERVERS = ("emulator", "sink", "sink-deflate")


#: ``--pin``: the CPUs of client processes and of emulator processes (``None``: any).
PIN: dict[str, set[int] | None] = {"client": None, "emulator": None}


def parse_pin(text: str) -> dict[str, set[int] | None]:
    """``"0:1"`` -> clients on CPU 0, emulators on CPU 1 (``"0:1-3"``, ``"0,1:2"`` too)."""

    def cpus(part: str) -> set[int]:
        found: set[int] = set()
        for item in part.split(","):
            low, _, high = item.partition("-")
            found.update(range(int(low), int(high or low) + 1))
        return found

    client, emulator = text.split(":")
    return {"client": cpus(client), "emulator": cpus(emulator)}


def worker(client: str, workload: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one client's workload in a fresh process; its JSON result (or the error)."""
    args = [sys.executable, str(HERE / "worker.py"), client, workload, json.dumps(params)]
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=pinned_to(PIN["client"]),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0 or not done.stdout.strip():
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Emulators:
    """``count`` emulator processes; reports how much CPU they used during a run."""

    def __init__(self, count: int, *, fast: bool, server: str = "emulator") -> None:
        cpus = PIN["emulator"]
        self.processes: list[EmulatorProcess | SinkProcess]
        if server == "emulator":
            self.processes = [EmulatorProcess(fast=fast, cpus=cpus) for _ in range(count)]
        else:
            deflate, burst = server.endswith("-deflate"), server.startswith("sink-burst")
            self.processes = [
                SinkProcess(deflate=deflate, burst=burst, cpus=cpus) for _ in range(count)
            ]
        #: What "100% of every CPU the emulators may use" is, in % of one core.
        self.cpu_limit_percent = 100 * len(cpus or range(os.cpu_count() or 1))

    def infos(self) -> list[dict[str, str]]:
        return [process.info.__dict__ for process in self.processes]

    def cpu(self) -> float:
        return sum(process.cpu_seconds() for process in self.processes)

    def __enter__(self) -> Emulators:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.stop()


def measured(
    emulators: Emulators, client: str, workload: str, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """A worker run, plus the emulators' CPU over it (so a saturated emulator shows)."""
    load_before = os.getloadavg()[0]
    share_before = cpu_share(PIN["client"])
    cpu, wall = emulators.cpu(), time.monotonic()
    result = worker(client, workload, {"emulators": emulators.infos(), **params}, timeout)
    wall = time.monotonic() - wall
    used = round(100 * (emulators.cpu() - cpu) / wall, 1)
    result["emulator_cpu_percent_of_one_core"] = used
    # An emulator near its CPUs' limit falls behind: the client then waits on it.
    result["emulator_saturated"] = used >= 0.85 * emulators.cpu_limit_percent
    result["load_average_1min"] = [load_before, os.getloadavg()[0]]
    # What a busy loop on the client's CPUs got just before and after: other work on
    # this shared machine takes the rest, and the client competes with it the same way.
    result["client_cpu_share_percent"] = [share_before, cpu_share(PIN["client"])]
    return result


def cpu_share(cpus: set[int] | None, seconds: float = 0.3) -> float:
    """Percent of one CPU a process spinning on ``cpus`` gets for ``seconds``."""
    spin = (
        "import time\n"
        "w, c = time.monotonic(), time.process_time()\n"
        f"while time.monotonic() - w < {seconds}: pass\n"
        "print(100 * (time.process_time() - c) / (time.monotonic() - w))"
    )
    done = subprocess.run(
        [sys.executable, "-c", spin], capture_output=True, text=True, preexec_fn=pinned_to(cpus)
    )
    return round(float(done.stdout), 1)


def core_alone(seconds: float) -> dict[str, Any]:
    ours = worker("asyncio", "core", {"emulators": [], "seconds": seconds}, 120)
    frame_hex = ours.pop("frame_hex", "")
    params = {"emulators": [], "seconds": seconds, "frame_hex": frame_hex}
    return {
        "official": worker("official", "core", params, 120),
        "spatialreal": worker("spatialreal", "core", params, 120),
        "ours": ours,
    }


def ratio(ours: Any, official: Any) -> float | None:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ours, official))
    if not numbers or not official:
        return None
    return round(ours / official, 3)


def dig(result: dict[str, Any], path: str) -> Any:
    value: Any = result
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


#: (row label, workload key, path in a result, unit)
ROWS = [
    ("throughput: CPU per message", "throughput", "cpu_us_per_message", "us"),
    ("throughput: wall time", "throughput", "wall_s", "s"),
    ("latency: interrupt -> last frame p50", "latency", "interrupt_to_last_frame.p50_ms", "ms"),
    ("latency: interrupt -> last frame p99", "latency", "interrupt_to_last_frame.p99_ms", "ms"),
    ("latency: end=True -> final frame p50", "latency", "end_to_final_frame.p50_ms", "ms"),
    ("latency: end=True -> final frame p99", "latency", "end_to_final_frame.p99_ms", "ms"),
    ("interrupt, frames queued: -> last p50", "interrupt", "interrupt_to_last_frame.p50_ms", "ms"),
    ("interrupt, frames queued: -> last p99", "interrupt", "interrupt_to_last_frame.p99_ms", "ms"),
    ("interrupt, frames queued: frames after", "interrupt", "frames_after_interrupt_p50", ""),
]
SCALE_ROWS = [
    ("CPU % of one core", "cpu_percent", "%"),
    ("send lateness p50", "send_lateness.p50_ms", "ms"),
    ("send lateness p99", "send_lateness.p99_ms", "ms"),
    ("memory per session", "memory_per_session_bytes", "B"),
    ("frames received / expected", "frames_ratio", ""),
    ("failed sessions", "failed_sessions", ""),
    ("emulator CPU % (all)", "emulator_cpu_percent_of_one_core", "%"),
    ("emulator saturated", "emulator_saturated", ""),
]
CORE_ROWS = ["encode_ns", "send_path_ns", "decode_ns", "receive_path_ns"]


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    """The printed report: absolute figures per client, and asyncio / each official SDK."""
    shown = [c for c in ALL_CLIENTS if any(c in r for r in _per_client_results(results))]
    shown = shown or list(CLIENTS)
    officials = [c for c in shown if c in OFFICIAL]
    head = f"{'figure':42}" + "".join(f"{c[:12]:>13}" for c in shown)
    head += "".join(f"{'aio/' + c[:10]:>15}" for c in officials)
    lines = [head, "-" * len(head)]

    def row(label: str, values: dict[str, Any], unit: str) -> None:
        text = f"{label + (f' ({unit})' if unit else ''):42}"
        text += "".join(f"{fmt(values.get(c)):>13}" for c in shown)
        text += "".join(
            f"{fmt(ratio(values.get('asyncio'), values.get(c))):>15}" for c in officials
        )
        lines.append(text)

    for label, workload, path, unit in ROWS:
        per_client = results.get(workload, {})
        row(label, {c: dig(per_client.get(c, {}), path) for c in CLIENTS}, unit)
    for size, per_client in results.get("scale", {}).items():
        for label, path, unit in SCALE_ROWS:
            values = {}
            for client in shown:
                result = per_client.get(client, {})
                if path == "frames_ratio":
                    got, expected = result.get("frames"), result.get("frames_expected")
                    values[client] = round(got / expected, 3) if got and expected else None
                else:
                    values[client] = dig(result, path)
            row(f"scale N={size}: {label}", values, unit)
    core = results.get("core", {})
    for key in CORE_ROWS:
        values = {
            "official": dig(core, f"official.{key}"),
            "spatialreal": dig(core, f"spatialreal.{key}"),
            "asyncio": dig(core, f"ours.{key}"),
        }
        row(f"core alone: {key[:-3]}", values, "ns")
    return "\n".join(lines)


def _per_client_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    found = [results.get(w, {}) for w in ("throughput", "latency", "interrupt")]
    found += list(results.get("scale", {}).values())
    return [r for r in found if isinstance(r, dict)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, small N")
    parser.add_argument("--out", default="results.json", help="JSON file to write")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--workloads", default="throughput,scale,latency,interrupt,core")
    parser.add_argument(
        "--server",
        default="emulator",
        choices=SERVERS,
        help="emulator (the real protocol, paced), sink (never the bottleneck), "
        "sink-deflate (the sink accepting permessage-deflate)",
    )
    parser.add_argument(
        "--interrupt-audio-seconds",
        type=float,
        default=60.0,
        help="audio sent at once before each interrupt (its frames queue up)",
    )
    parser.add_argument("--throughput-seconds", type=float, default=None)
    parser.add_argument("--scale-sizes", default=None, help="comma-separated N")
    parser.add_argument("--scale-seconds", type=float, default=None)
    parser.add_argument(
        "--emulators",
        type=int,
        default=None,
        help="emulator processes for the scale test (default: 1 per 250 N)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="latency rounds")
    parser.add_argument(
        "--pin",
        default=None,
        help="CLIENT_CPUS:EMULATOR_CPUS, e.g. 0:1 (client on CPU 0, emulators on CPU 1)",
    )
    args = parser.parse_args()
    if args.pin:
        PIN.update(parse_pin(args.pin))
    quick = args.quick
    clients = [c for c in args.clients.split(",") if c]
    workloads = set(args.workloads.split(","))
    seconds = args.throughput_seconds or (10.0 if quick else 60.0)
    sizes = [
        int(n) for n in (args.scale_sizes or ("20,100" if quick else "100,500,1000")).split(",")
    ]
    scale_seconds = args.scale_seconds or (5.0 if quick else 20.0)
    rounds = args.rounds or (5 if quick else 20)

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
            "pinned": {role: sorted(cpus) if cpus else None for role, cpus in PIN.items()},
            # Modules built by mypyc_build.py, when its folder is on PYTHONPATH.
            "avatarwire_compiled": compiled_modules(),
        },
        "settings": {
            "throughput_seconds": seconds,
            "scale_sizes": sizes,
            "scale_seconds": scale_seconds,
            "latency_rounds": rounds,
            "server": args.server,
        },
    }
    if "core" in workloads:
        results["core"] = core_alone(1.0 if quick else 3.0)
    if "throughput" in workloads:
        with Emulators(1, fast=True, server=args.server) as emulators:
            results["throughput"] = {
                client: measured(emulators, client, "throughput", {"seconds": seconds}, 900)
                for client in clients
            }
    if "latency" in workloads:
        with Emulators(1, fast=False) as emulators:  # its real-time playout is the point
            results["latency"] = {
                client: measured(emulators, client, "latency", {"rounds": rounds}, 600)
                for client in clients
            }
    if "interrupt" in workloads:
        params = {"rounds": rounds, "audio_seconds": args.interrupt_audio_seconds}
        burst = "sink-burst-deflate" if args.server == "sink-deflate" else "sink-burst"
        with Emulators(1, fast=True, server=burst) as emulators:  # frames queue up
            results["interrupt"] = {
                client: measured(emulators, client, "interrupt_queued", params, 600)
                for client in clients
                if client not in ("trio", "blocking")  # the asyncio drivers only
            }
    if "scale" in workloads:
        results["scale"] = {}
        for size in sizes:
            count = args.emulators or (max(1, -(-size // 250)) if args.server == "emulator" else 1)
            per_client: dict[str, Any] = {}
            for client in clients:
                # A fresh emulator set per client: no leftovers from the previous run.
                with Emulators(count, fast=False, server=args.server) as emulators:
                    per_client[client] = measured(
                        emulators,
                        client,
                        "scale",
                        {"sessions": size, "seconds": scale_seconds},
                        timeout=scale_seconds + 400,
                    )
                    per_client[client]["emulator_processes"] = count
            results["scale"][str(size)] = per_client
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["table"] = table(results).splitlines()
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
