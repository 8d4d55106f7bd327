"""The ``avatarwire`` command line: subcommands, flags and their checks."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from avatarwire import __version__
from avatarwire.core.config import PCM_SAMPLE_RATES

from .credentials import CREDENTIAL_FIELDS, env_names

__all__ = ["BINDINGS", "build_parser"]

#: The I/O bindings ``speak`` can run on (see ``streaming.RUNNERS``).
BINDINGS = ("asyncio", "trio", "blocking")

EPILOG_EXIT_CODES = (
    "exit codes: 0 success, 1 service or protocol error (its code on stderr), "
    "2 usage error, 130 stopped with Ctrl-C"
)


def _number(
    kind: Callable[[str], float], what: str, *, allow_zero: bool = False
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    """A positive number of seconds."""
    return _number(float, "a positive number of seconds")(text)


def positive_int(text: str) -> int:
    """A positive whole number."""
    return int(_number(int, "a positive whole number")(text))


def uint(text: str) -> int:
    """A whole number >= 0."""
    return int(_number(int, "a whole number >= 0", allow_zero=True)(text))


#: Raw PCM rates ``--sample-rate`` takes (resampled to the session's rate as needed).
RAW_RATE_RANGE = (1000, 768000)


def sample_rate(text: str) -> int:
    """The rate of raw PCM input, in Hz."""
    low, high = RAW_RATE_RANGE
    try:
        rate = int(text)
    except ValueError:
        rate = -1
    if not low <= rate <= high:
        raise argparse.ArgumentTypeError(f"expected a rate from {low} to {high} Hz, got {text!r}")
    return rate


def session_rate(text: str) -> int:
    """One of the PCM rates the service accepts."""
    try:
        rate = int(text)
    except ValueError:
        rate = -1
    if rate not in PCM_SAMPLE_RATES:
        allowed = ", ".join(map(str, PCM_SAMPLE_RATES))
        raise argparse.ArgumentTypeError(f"accepted sample rates: {allowed} (got {text!r})")
    return rate


def add_credential_flags(parser: argparse.ArgumentParser) -> None:
    """Credentials and endpoints, each also read from the environment."""
    group = parser.add_argument_group(
        "credentials and endpoints",
        "each falls back to AVATARKIT_<NAME>, then SPATIALREAL_<NAME>",
    )
    helps = {
        "api_key": "API key (prefer the environment: flags show in process lists)",
        "app_id": "app id",
        "avatar_id": "avatar id",
        "console_url": "console endpoint URL (default: from the region)",
        "ingress_url": "ingress endpoint URL (default: from the region)",
        "region": "service region (default us-west)",
    }
    for name, (flag, suffix) in CREDENTIAL_FIELDS.items():
        group.add_argument(
            flag, dest=name, metavar=suffix, help=f"{helps[name]}; env {env_names(suffix)[0]}"
        )


def add_egress_flags(parser: argparse.ArgumentParser) -> None:
    """Agora and LiveKit egress: the service publishes instead of returning frames."""
    agora = parser.add_argument_group(
        "Agora egress", "publish audio and motion to an Agora channel"
    )
    agora.add_argument("--agora-channel", metavar="NAME", help="channel to publish into")
    agora.add_argument("--agora-token", metavar="TOKEN", help="Agora RTC token (never printed)")
    agora.add_argument(
        "--agora-uid", type=uint, metavar="UID", help="publisher UID (0: Agora assigns)"
    )
    agora.add_argument("--agora-publisher-id", metavar="ID", help="publisher id (free text)")
    livekit = parser.add_argument_group(
        "LiveKit egress", "publish audio and motion to a LiveKit room"
    )
    livekit.add_argument("--livekit-url", metavar="URL", help="LiveKit server URL (wss://...)")
    livekit.add_argument("--livekit-room", metavar="NAME", help="room to publish into")
    livekit.add_argument(
        "--livekit-token", metavar="TOKEN", help="LiveKit access token (preferred)"
    )
    livekit.add_argument("--livekit-api-key", metavar="KEY", help="LiveKit API key (deprecated)")
    livekit.add_argument(
        "--livekit-api-secret", metavar="SECRET", help="LiveKit API secret (deprecated)"
    )
    livekit.add_argument("--livekit-publisher-id", metavar="ID", help="publisher id")
    livekit.add_argument(
        "--livekit-attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="participant attribute (repeatable)",
    )
    livekit.add_argument(
        "--livekit-idle-timeout", type=uint, metavar="SECONDS", help="0: the service's default"
    )


def add_speak(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``avatarwire speak``."""
    speak = subparsers.add_parser(
        "speak",
        help="stream speech to an avatar and report what came back",
        description=(
            "Stream a WAV file (any bit depth, integer or float, any rate and channels), an "
            "Ogg Opus file or raw PCM to the avatar service as one or more requests, and "
            "report the animation frames that come back. "
            "Without credentials the built-in emulator serves the run."
        ),
        epilog=EPILOG_EXIT_CODES,
    )
    speak.add_argument(
        "audio",
        nargs="?",
        metavar="AUDIO",
        help="WAV, Ogg Opus or raw PCM file, '-' for stdin (default: the built-in speech sample)",
    )
    sound = speak.add_argument_group("audio and pacing")
    sound.add_argument(
        "--sample-rate",
        type=sample_rate,
        metavar="HZ",
        help="rate of raw PCM input, for raw PCM only (WAV and Ogg Opus carry their own)",
    )
    sound.add_argument(
        "--session-rate",
        type=session_rate,
        metavar="HZ",
        help="the session's PCM rate; the audio is resampled to it (default: the audio's own "
        "rate if the service takes it, else 16000)",
    )
    sound.add_argument(
        "--bitrate",
        type=positive_int,
        metavar="BPS",
        help="the session's bitrate for Ogg Opus (an .opus file, or --opus; default 32000)",
    )
    sound.add_argument(
        "--opus",
        action="store_true",
        help="encode the PCM to Ogg Opus on this side, one stream per request (about 1/8 "
        "of the bytes; needs the opus extra: pip install 'avatarwire[opus]')",
    )
    sound.add_argument(
        "--chunk-ms", type=positive_int, default=20, metavar="MS", help="audio per message (20)"
    )
    sound.add_argument("--fast", action="store_true", help="send at once, not in real time")
    sound.add_argument(
        "--split-every",
        type=positive_seconds,
        metavar="SECONDS",
        help="start a new request every SECONDS of audio",
    )
    sound.add_argument(
        "--interrupt-after",
        type=positive_seconds,
        metavar="SECONDS",
        help="interrupt the request under way after SECONDS of audio (the rest of it is not sent)",
    )
    session = speak.add_argument_group("session")
    session.add_argument(
        "--binding", choices=BINDINGS, default="asyncio", help="I/O binding (asyncio)"
    )
    session.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the requests to finish after the last audio (30)",
    )
    session.add_argument(
        "--emulator",
        action="store_true",
        help="use the built-in emulator even if credentials are set",
    )
    session.add_argument(
        "--query-auth",
        action="store_true",
        help="send the app id and session token as URL query parameters (browser-style; "
        "servers may log URLs) instead of headers",
    )
    session.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    session.add_argument(
        "--save-frames",
        metavar="FILE",
        help="write every animation frame to FILE: 'AWFRAME1', then per frame a 4-byte "
        "little-endian length and the raw message (see README)",
    )
    add_credential_flags(speak)
    add_egress_flags(speak)


def add_token(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``avatarwire token``."""
    token = subparsers.add_parser(
        "token",
        help="fetch a session token and print it (for debugging)",
        description="Trade the API key for a session token at the console and print it on stdout.",
        epilog=EPILOG_EXIT_CODES,
    )
    token.add_argument(
        "--expire-in",
        type=positive_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="token lifetime, at most 24 h (3600)",
    )
    token.add_argument("--json", action="store_true", help="print {session_token, expire_at}")
    add_credential_flags(token)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``emulator`` is handed to the emulator's own parser)."""
    parser = argparse.ArgumentParser(
        prog="avatarwire",
        description="Talk to the AvatarKit real-time avatar service, or serve a local emulator.",
        epilog="quick start: avatarwire speak",
    )
    parser.add_argument("--version", action="version", version=f"avatarwire {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_speak(subparsers)
    subparsers.add_parser(
        "emulator",
        help="serve the local emulator (see: avatarwire emulator --help)",
        add_help=False,
    )
    add_token(subparsers)
    return parser
