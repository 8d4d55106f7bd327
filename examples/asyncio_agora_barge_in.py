"""Barge-in on asyncio with Agora egress: the avatar starts speaking into an Agora
channel, the user talks over it, the agent interrupts and answers briefly.

    python examples/asyncio_agora_barge_in.py [CHANNEL]

Uses the service when AVATARKIT_API_KEY, AVATARKIT_APP_ID and AVATARKIT_AVATAR_ID
are set (plus AVATARKIT_CONSOLE_ENDPOINT / AVATARKIT_INGRESS_ENDPOINT if needed, and
AGORA_TOKEN for the channel); otherwise starts the built-in emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import wave
from importlib import resources

from avatarwire.bindings.asyncio import AsyncSession, connect
from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.core.events import RequestFinished
from avatarwire.emulator import Emulator

CHUNK_SECONDS = 0.02


def speech() -> tuple[bytes, int]:
    """The speech sample shipped with avatarwire: 16-bit mono PCM and its rate."""
    sample = resources.files("avatarwire.cli").joinpath("samples").joinpath("hello.wav")
    with sample.open("rb") as file, wave.open(file) as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


async def say(session: AsyncSession, pcm: bytes, rate: int, *, end: bool = True) -> str:
    """Stream ``pcm`` in real time, 20 ms per message, as one request; returns its id."""
    step = int(rate * CHUNK_SECONDS) * 2
    req_id = ""
    for offset in range(0, len(pcm), step):
        last = end and offset + step >= len(pcm)
        req_id = await session.send_audio(pcm[offset : offset + step], end=last)
        await asyncio.sleep(CHUNK_SECONDS)
    return req_id


def session_config(rate: int, agora: AgoraEgress, emulator: Emulator | None) -> SessionConfig:
    """The service from the environment, or the emulator."""
    if emulator is not None:
        return emulator.session_config(sample_rate=rate, agora=agora)
    env = os.environ
    return SessionConfig(
        api_key=env["AVATARKIT_API_KEY"],
        app_id=env["AVATARKIT_APP_ID"],
        avatar_id=env["AVATARKIT_AVATAR_ID"],
        console_url=env.get("AVATARKIT_CONSOLE_ENDPOINT"),
        ingress_url=env.get("AVATARKIT_INGRESS_ENDPOINT"),
        sample_rate=rate,
        agora=agora,
    )


async def main(channel: str) -> None:
    pcm, rate = speech()
    one_second = rate * 2  # bytes of 16-bit mono audio
    agora = AgoraEgress(channel_name=channel, token=os.environ.get("AGORA_TOKEN", ""), uid=1001)
    async with contextlib.AsyncExitStack() as stack:
        emulator = None
        if not os.environ.get("AVATARKIT_API_KEY"):
            emulator = await stack.enter_async_context(Emulator())
        config = session_config(rate, agora, emulator)

        async with connect(config) as session:
            print(f"session {session.connection_id} publishing into Agora channel {channel!r}")
            # The avatar starts its answer, but the user speaks after one second...
            answer = await say(session, pcm[:one_second], rate, end=False)
            # ...so the agent barges in: playout stops, the next audio is a new request.
            await session.interrupt()
            reply = await say(session, pcm[: one_second // 2], rate)
            async for event in session:
                if isinstance(event, RequestFinished):
                    outcome = "interrupted" if event.interrupted else "played out"
                    which = "answer" if event.req_id == answer else "reply"
                    print(f"{which} {event.req_id}: {outcome}")
                    if event.req_id == reply:
                        break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "avatarwire-demo"))
