"""``python -m avatarwire.emulator``: serve the emulator until SIGINT / SIGTERM.

Prints one JSON line with ``console_url``, ``ingress_url``, ``api_key``, ``app_id``
and ``avatar_id`` once listening, so scripts can read where to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .service import Emulator
from .settings import DEFAULT_API_KEY, DEFAULT_APP_ID, DEFAULT_AVATAR_ID


def build_parser() -> argparse.ArgumentParser:
    """The command line of the emulator."""
    parser = argparse.ArgumentParser(
        prog="python -m avatarwire.emulator", description="Serve a local AvatarKit service."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 = any free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--app-id", default=DEFAULT_APP_ID)
    parser.add_argument(
        "--avatar-id", action="append", help="accepted avatar id (repeatable; first is default)"
    )
    parser.add_argument("--fps", type=int, default=25, help="keyframes per second of audio")
    parser.add_argument("--keyframes-per-message", type=int, default=1)
    parser.add_argument(
        "--fast", action="store_true", help="send frames as fast as possible, not in real time"
    )
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="seconds without audio")
    parser.add_argument(
        "--capability",
        action="append",
        help="capability to announce (repeatable; default playback_control, playback_state)",
    )
    parser.add_argument("--no-repeat-drain-end", action="store_true")
    parser.add_argument(
        "--drain-end-without-req-id",
        action="store_true",
        help="the last egress drain end of a request carries an empty req_id",
    )
    parser.add_argument(
        "--preempt", action="store_true", help="a new request interrupts older unfinished ones"
    )
    parser.add_argument(
        "--pause-timeout", type=float, default=30.0, help="seconds a pause may hold a request"
    )
    parser.add_argument("--tls-cert", help="PEM certificate: serve https / wss")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    return parser


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """Emulator keyword arguments from parsed command-line arguments."""
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "api_key": args.api_key,
        "app_id": args.app_id,
        "avatar_ids": tuple(args.avatar_id or (DEFAULT_AVATAR_ID,)),
        "keyframes_per_second": args.fps,
        "keyframes_per_message": args.keyframes_per_message,
        "realtime": not args.fast,
        "idle_timeout": args.idle_timeout,
        "repeat_drain_end": not args.no_repeat_drain_end,
        "drain_end_without_req_id": args.drain_end_without_req_id,
        "preempt": args.preempt,
        "pause_timeout": args.pause_timeout,
    }
    if args.capability is not None:
        options["capabilities"] = tuple(args.capability)
    if args.tls_cert:
        options["certfile"] = args.tls_cert
        options["keyfile"] = args.tls_key
    return options


async def serve(options: dict[str, Any]) -> None:
    """Start, print the JSON line, serve until SIGINT / SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with Emulator(**options) as emulator:
        print(json.dumps(emulator.info()), flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    try:
        asyncio.run(serve(options_from(args)))
    except (OSError, ValueError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
