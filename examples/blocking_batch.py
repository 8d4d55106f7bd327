"""A batch job with no event loop: send each WAV file as one request, as fast as the
socket takes it, take its animation frames, print a line per file.

    python examples/blocking_batch.py [WAV ...]

WAVs: 16-bit mono, all at one rate the service accepts (default: avatarwire's speech
sample). Uses the service when AVATARKIT_API_KEY, AVATARKIT_APP_ID and
AVATARKIT_AVATAR_ID are set (plus AVATARKIT_CONSOLE_ENDPOINT /
AVATARKIT_INGRESS_ENDPOINT if needed); otherwise starts the built-in emulator.
"""

from __future__ import annotations

import contextlib
import os
import sys
import wave
from importlib import resources
from typing import IO

from avatarwire.bindings.blocking import connect
from avatarwire.core.config import SessionConfig
from avatarwire.core.events import AnimationFrame, RequestFinished, SessionClosed
from avatarwire.emulator import EmulatorThread


def read_wav(source: str | IO[bytes]) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate."""
    with wave.open(source) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise SystemExit(f"{source}: expected 16-bit mono audio")
        return wav.readframes(wav.getnframes()), wav.getframerate()


def load(paths: list[str]) -> list[tuple[str, bytes, int]]:
    """The files to send, or avatarwire's speech sample."""
    if paths:
        return [(path, *read_wav(path)) for path in paths]
    sample = resources.files("avatarwire.cli").joinpath("samples").joinpath("hello.wav")
    with sample.open("rb") as file:
        return [("hello.wav", *read_wav(file))]


def session_config(rate: int, emulator: EmulatorThread | None) -> SessionConfig:
    """The service from the environment, or the emulator."""
    if emulator is not None:
        return emulator.session_config(sample_rate=rate)
    env = os.environ
    return SessionConfig(
        api_key=env["AVATARKIT_API_KEY"],
        app_id=env["AVATARKIT_APP_ID"],
        avatar_id=env["AVATARKIT_AVATAR_ID"],
        console_url=env.get("AVATARKIT_CONSOLE_ENDPOINT"),
        ingress_url=env.get("AVATARKIT_INGRESS_ENDPOINT"),
        sample_rate=rate,
    )


def main(paths: list[str]) -> int:
    jobs = load(paths)
    rates = {rate for _, _, rate in jobs}
    if len(rates) != 1:
        raise SystemExit(f"one session has one sample rate; got {sorted(rates)} Hz")
    with contextlib.ExitStack() as stack:
        emulator = None
        if not os.environ.get("AVATARKIT_API_KEY"):
            emulator = stack.enter_context(EmulatorThread(realtime=False))
        with connect(session_config(rates.pop(), emulator)) as session:
            for name, pcm, rate in jobs:
                req_id = session.send_audio(pcm, end=True)
                frames = 0
                for event in session:  # events of this request, until it finishes
                    if isinstance(event, AnimationFrame):
                        frames += 1
                    elif isinstance(event, RequestFinished) and event.req_id == req_id:
                        break
                    elif isinstance(event, SessionClosed):
                        print(f"session closed: {event.error}", file=sys.stderr)
                        return 1
                print(f"{name}: {req_id} {len(pcm) / 2 / rate:.2f} s, {frames} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
