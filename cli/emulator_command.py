"""``avatarwire emulator``: the emulator package's own command line, plus fault injection
given as ``--fault KIND[:KEY=VALUE,...]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from dataclasses import fields

from avatarwire.emulator import Fault, FaultKind
from avatarwire.emulator.__main__ import build_parser, options_from, serve
from avatarwire.emulator.faults import SERVICE_CLOSE_REASONS

__all__ = ["main", "parse_fault"]

#: Each kind's fault with its defaults, which ``KEY=VALUE`` pairs then override.
_DEFAULTS: dict[FaultKind, Fault] = {
    FaultKind.CLOSE: Fault.close(),
    FaultKind.DROP: Fault.drop(),
    FaultKind.STALL_CONNECT: Fault.stall_connect(),
    FaultKind.STALL_UPGRADE: Fault.stall_upgrade(),
    FaultKind.STALL_CONFIGURE: Fault.stall_configure(),
    FaultKind.SERVER_ERROR: Fault.server_error(),
    FaultKind.REFUSE_SESSION: Fault.refuse_session(),
    FaultKind.END_SESSION: Fault.end_session(),
    FaultKind.SLOW_READS: Fault.slow_reads(),
    FaultKind.TOKEN_STATUS: Fault.token_status(),
    FaultKind.TOKEN_GARBAGE: Fault.token_garbage(),
    FaultKind.TOKEN_HANG: Fault.token_hang(),
}
_KEYS = {item.name: item.type for item in fields(Fault) if item.name != "kind"}

FAULT_HELP = (
    "inject a fault (repeatable): KIND[:KEY=VALUE,...] with KIND one of "
    f"{', '.join(kind.value for kind in FaultKind)} and KEY one of {', '.join(_KEYS)}; "
    "e.g. close:code=4001,after=3 or server_error:after=2,text=boom"
)


def _fault_options(text: str, rest: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or key.strip() not in _KEYS:
            raise argparse.ArgumentTypeError(
                f"fault {text!r}: expected KEY=VALUE with KEY one of {', '.join(_KEYS)}, "
                f"got {pair!r}"
            )
        options[key.strip()] = value
    return options


def parse_fault(text: str) -> Fault:
    """A fault from ``KIND[:KEY=VALUE,...]`` (argparse type); unset keys keep the
    kind's defaults."""
    name, _, rest = text.partition(":")
    try:
        kind = FaultKind(name.strip())
    except ValueError:
        kinds = ", ".join(kind.value for kind in FaultKind)
        raise argparse.ArgumentTypeError(f"unknown fault kind {name!r}; kinds: {kinds}") from None
    options = _fault_options(text, rest)
    base = _DEFAULTS[kind]
    try:
        code = int(options.get("code", base.code))
        default_text = base.text
        closing = (FaultKind.CLOSE, FaultKind.REFUSE_SESSION, FaultKind.END_SESSION)
        if kind in closing and "code" in options:
            default_text = SERVICE_CLOSE_REASONS.get(code, "closed by fault injection")
        return Fault(
            kind,
            after=int(options.get("after", base.after)),
            code=code,
            text=options.get("text", default_text),
            bytes_per_second=int(options.get("bytes_per_second", base.bytes_per_second)),
            read_delay=float(options.get("read_delay", base.read_delay)),
        )
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"fault {text!r}: {exc}") from None


def build_emulator_parser() -> argparse.ArgumentParser:
    """The emulator's parser under the ``avatarwire emulator`` name, with ``--fault``."""
    parser = build_parser()
    parser.prog = "avatarwire emulator"
    with contextlib.suppress(argparse.ArgumentError):  # unless it has --fault already
        parser.add_argument(
            "--fault", action="append", type=parse_fault, metavar="SPEC", help=FAULT_HELP
        )
    return parser


def main(argv: Sequence[str]) -> int:
    """Serve the emulator until Ctrl-C; prints one JSON line with its URLs and credentials."""
    parser = build_emulator_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    options = options_from(args)
    faults = getattr(args, "fault", None)
    if faults and all(isinstance(fault, Fault) for fault in faults):
        options["fault"] = tuple(faults)
    try:
        asyncio.run(serve(options))
    except (OSError, ValueError) as exc:
        print(f"avatarwire emulator: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
