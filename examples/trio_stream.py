"""Stream speech on trio: one task sends audio in real time, another reads the
animation frames as they come back, both in the session's nursery.

    python examples/trio_stream.py [WAV]

WAV: 16-bit mono at a rate the service accepts (default: avatarwire's speech sample).
Uses the service when AVATARKIT_API_KEY, AVATARKIT_APP_ID and AVATARKIT_AVATAR_ID are
set (plus AVATARKIT_CONSOLE_ENDPOINT / AVATARKIT_INGRESS_ENDPOINT if needed);
otherwise starts the built-in emulator on a thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
import wave
from importlib import resources

import trio

from avatarwire.bindings.trio import TrioSession, connect
from avatarwire.core.config import SessionConfig
from avatarwire.core.events import AnimationFrame, RequestFinished
from avatarwire.emulator import EmulatorThread

CHUNK_SECONDS = 0.02


def read_wav(path: str | None) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate, from ``path`` or avatarwire's speech sample."""
    if path is None:
        sample = resources.files("avatarwire.cli").joinpath("samples").joinpath("hello.wav")
        with sample.open("rb") as file, wave.open(file) as wav:
            return wav.readframes(wav.getnframes()), wav.getframerate()
    with wave.open(path) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise SystemExit(f"{path}: expected 16-bit mono audio")
        return wav.readframes(wav.getnframes()), wav.getframerate()


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


async def send_speech(session: TrioSession, pcm: bytes, rate: int) -> None:
    """Send ``pcm`` as one request, 20 ms per message, at real-time pace."""
    step = int(rate * CHUNK_SECONDS) * 2
    for offset in range(0, len(pcm), step):
        await session.send_audio(pcm[offset : offset + step], end=offset + step >= len(pcm))
        await trio.sleep(CHUNK_SECONDS)


async def count_frames(session: TrioSession) -> None:
    """Print the frames of the request as they arrive, until it finishes."""
    frames = 0
    async for event in session:
        if isinstance(event, AnimationFrame):
            frames += 1
            if frames % 25 == 0:
                print(f"{frames} frames so far (the latest {len(event.data)} bytes)")
        elif isinstance(event, RequestFinished):
            print(f"request {event.req_id} finished with {frames} frames")
            return


async def main(path: str | None) -> None:
    pcm, rate = read_wav(path)
    with contextlib.ExitStack() as stack:
        emulator = None
        if not os.environ.get("AVATARKIT_API_KEY"):
            emulator = stack.enter_context(EmulatorThread())
        async with connect(session_config(rate, emulator)) as session:
            print(f"session {session.connection_id}: {len(pcm) / 2 / rate:.2f} s of audio")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_speech, session, pcm, rate)
                nursery.start_soon(count_frames, session)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else None)
