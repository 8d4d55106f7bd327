"""Entry point of the ``avatarwire`` command: parse, run, map outcomes to exit codes.

Exit codes: 0 success; 1 a service or protocol error (``error: [code] ...`` on
stderr); 2 a usage error (bad flag, unreadable or unsupported audio, missing
credential, a value the service would refuse); 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from rich.console import Console

from avatarwire.core.config import OPUS_DEFAULT_BITRATE, AudioFormat, SessionConfig
from avatarwire.core.errors import AvatarError, ConfigError

from .audio import AudioFileError, SpeechAudio, load_audio
from .credentials import CREDENTIAL_FIELDS, MissingCredentials, resolve_credentials
from .egress import EgressFlagError, EgressFlags, build_egress
from .parser import build_parser
from .plan import StreamPlan, plan_passthrough, plan_stream

if TYPE_CHECKING:
    from .speak import SpeakSettings

# The bindings, the emulator and the rich widgets are imported by the commands that use
# them, so ``--help``, usage errors and an early Ctrl-C stay quick.

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SERVICE_ERROR", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_SERVICE_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Output that goes to a file or a pipe is not cut to a terminal's 80 columns.
PIPED_WIDTH = 160


class UsageError(Exception):
    """A command line that cannot run; reported like argparse reports its own errors."""


def _is_ctrl_c(exc: BaseException) -> bool:
    """A ``KeyboardInterrupt``, also inside an exception group (trio's nurseries)."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and any(_is_ctrl_c(item) for item in inner)


def _credential_flags(args: argparse.Namespace) -> dict[str, str | None]:
    return {name: getattr(args, name, None) for name in CREDENTIAL_FIELDS}


def _egress_flags(args: argparse.Namespace) -> EgressFlags:
    return EgressFlags(
        agora_channel=args.agora_channel,
        agora_token=args.agora_token,
        agora_uid=args.agora_uid,
        agora_publisher_id=args.agora_publisher_id,
        livekit_url=args.livekit_url,
        livekit_room=args.livekit_room,
        livekit_token=args.livekit_token,
        livekit_api_key=args.livekit_api_key,
        livekit_api_secret=args.livekit_api_secret,
        livekit_publisher_id=args.livekit_publisher_id,
        livekit_attribute=tuple(args.livekit_attribute),
        livekit_idle_timeout=args.livekit_idle_timeout,
    )


def speak_settings(args: argparse.Namespace) -> SpeakSettings:
    """Check the speak command line and turn it into settings (``UsageError`` if it cannot)."""
    from .speak import SpeakSettings

    try:
        credentials = (
            None if args.emulator else resolve_credentials(_credential_flags(args), os.environ)
        )
        egress = build_egress(_egress_flags(args))
        audio = load_audio(
            args.audio, args.sample_rate, session_rate=args.session_rate, bitrate=args.bitrate
        )
    except ConfigError as exc:
        raise UsageError(exc.message) from None
    except (AudioFileError, EgressFlagError, MissingCredentials) as exc:
        raise UsageError(str(exc)) from None
    return SpeakSettings(
        audio=audio,
        plan=_plan(audio, args),
        binding=args.binding,
        credentials=credentials,
        egress=egress,
        realtime=not args.fast,
        drain_timeout=args.timeout,
        emulator_forced=args.emulator,
        query_auth=args.query_auth,
        save_frames=args.save_frames,
        opus_bitrate=_opus_bitrate(audio, args),
    )


def _opus_bitrate(audio: SpeechAudio, args: argparse.Namespace) -> int | None:
    """The bitrate to encode the PCM to Ogg Opus at, with ``--opus``; ``None`` without."""
    if not args.opus:
        return None
    if audio.audio_format is AudioFormat.OGG_OPUS:
        raise UsageError("--opus encodes PCM; this file is Ogg Opus already and goes as it is")
    from importlib.util import find_spec

    if find_spec("av") is None:
        raise UsageError("--opus needs PyAV: pip install 'avatarwire[opus]'")
    return args.bitrate if args.bitrate is not None else OPUS_DEFAULT_BITRATE


def _plan(audio: SpeechAudio, args: argparse.Namespace) -> StreamPlan:
    """PCM is cut into chunks and requests; an Ogg Opus stream is one request, cut at pages."""
    if audio.audio_format is AudioFormat.OGG_OPUS:
        if args.split_every is not None:
            raise UsageError(
                "--split-every is for PCM: an Ogg Opus file is one stream, so one request"
            )
        return plan_passthrough(
            audio.data,
            audio.pages,
            audio.sample_rate,
            audio.bytes_per_second,
            interrupt_after=args.interrupt_after,
            realtime=not args.fast,
        )
    if args.bitrate is not None and not args.opus:
        raise UsageError("--bitrate is for Ogg Opus (an .opus file, or PCM with --opus)")
    return plan_stream(
        audio.pcm,
        audio.sample_rate,
        chunk_ms=args.chunk_ms,
        split_every=args.split_every,
        interrupt_after=args.interrupt_after,
        realtime=not args.fast,
    )


def run_speak(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``avatarwire speak``: stream, then print the table or the JSON summary."""
    from .report import LiveProgress, egress_line, print_errors, render_table, summary_json
    from .speak import speak

    settings = speak_settings(args)
    show_progress = not args.json and err.is_terminal

    def notice(text: str) -> None:
        err.print(text, markup=False, highlight=False, soft_wrap=True)

    try:
        if show_progress:
            with LiveProgress(err) as progress:
                result = speak(settings, listener=progress, notice=notice)
        else:
            result = speak(settings, notice=notice)
    except ConfigError as exc:
        raise UsageError(exc.message) from None
    if args.json:
        out.file.write(summary_json(result) + "\n")
        out.file.flush()
    elif result.tally.requests:
        out.print(render_table(result))
        if result.egress_record is not None:
            out.print(
                egress_line(result.egress_record), markup=False, highlight=False, soft_wrap=True
            )
    print_errors(result, err)
    if result.tally.stopped_by_user:
        notice("stopped (Ctrl-C): the session was closed")
        return EXIT_INTERRUPTED
    return EXIT_SERVICE_ERROR if result.tally.errors else EXIT_OK


def run_token(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``avatarwire token``: fetch a session token and print it on stdout."""
    from avatarwire.bindings import ConnectOptions, blocking

    flags = _credential_flags(args)
    try:
        credentials = resolve_credentials(flags, os.environ, required=("api_key",))
        if credentials is None:
            raise MissingCredentials(
                "missing credential: --api-key or AVATARKIT_API_KEY / SPATIALREAL_API_KEY"
            )
        # The console leg needs only the API key; the session fields are placeholders.
        config = SessionConfig(
            api_key=credentials.api_key,
            app_id=credentials.app_id or "token-only",
            avatar_id=credentials.avatar_id or "token-only",
            region=credentials.region or "us-west",
            console_url=credentials.console_url,
            ingress_url=credentials.ingress_url,
        )
    except ConfigError as exc:
        raise UsageError(exc.message) from None
    except MissingCredentials as exc:
        raise UsageError(str(exc)) from None
    expire_at = datetime.now(timezone.utc) + timedelta(seconds=args.expire_in)
    try:
        token = blocking.fetch_token(config, ConnectOptions(expire_at=expire_at))
    except ConfigError as exc:
        raise UsageError(exc.message) from None
    except AvatarError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_SERVICE_ERROR
    if args.json:
        document = {"session_token": token, "expire_at": int(expire_at.timestamp())}
        out.file.write(json.dumps(document) + "\n")
    else:
        out.file.write(token + "\n")
    out.file.flush()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``avatarwire`` command; returns the exit status."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except BaseException as exc:
        if _is_ctrl_c(exc):
            print("stopped (Ctrl-C)", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise


def _run(arguments: list[str]) -> int:
    if arguments[:1] == ["emulator"]:
        from .emulator_command import main as emulator_main

        return _exit_code(lambda: emulator_main(arguments[1:]))
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    command = run_speak if args.command == "speak" else run_token
    try:
        out = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
        return command(args, out, Console(stderr=True))
    except UsageError as exc:
        print(f"avatarwire {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _exit_code(run: Callable[[], int]) -> int:
    """``run()``'s status, also when it exits through argparse's ``SystemExit``."""
    try:
        code = run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
