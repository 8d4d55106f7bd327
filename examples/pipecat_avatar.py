"""A pipecat pipeline whose TTS drives an avatar publishing into an Agora channel.

    pip install 'avatarwire[pipecat]'
    python examples/pipecat_avatar.py [CHANNEL]

A stand-in TTS speaks the bundled sample; ``AvatarService`` sends it to the avatar,
which publishes it into the channel, and reports when the avatar speaks. Uses the
service when AVATARKIT_API_KEY, AVATARKIT_APP_ID and AVATARKIT_AVATAR_ID are set
(plus AVATARKIT_CONSOLE_ENDPOINT / AVATARKIT_INGRESS_ENDPOINT if needed, and
AGORA_TOKEN); otherwise starts the built-in emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import wave
from importlib import resources

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.emulator import Emulator
from avatarwire.integrations.pipecat import AvatarService


def speech() -> tuple[bytes, int]:
    """The speech sample shipped with avatarwire: 16-bit mono PCM and its rate."""
    sample = resources.files("avatarwire.cli").joinpath("samples").joinpath("hello.wav")
    with sample.open("rb") as file, wave.open(file) as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


class Speaking(FrameProcessor):
    """Prints when the avatar starts and stops speaking."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            print("avatar started speaking")
        elif isinstance(frame, BotStoppedSpeakingFrame):
            print("avatar stopped speaking")
        await self.push_frame(frame, direction)


def session_config(agora: AgoraEgress, emulator: Emulator | None) -> SessionConfig:
    """The service from the environment, or the emulator."""
    if emulator is not None:
        return emulator.session_config(agora=agora)
    env = os.environ
    return SessionConfig(
        api_key=env["AVATARKIT_API_KEY"],
        app_id=env["AVATARKIT_APP_ID"],
        avatar_id=env["AVATARKIT_AVATAR_ID"],
        console_url=env.get("AVATARKIT_CONSOLE_ENDPOINT"),
        ingress_url=env.get("AVATARKIT_INGRESS_ENDPOINT"),
        agora=agora,
    )


async def main(channel: str) -> None:
    pcm, rate = speech()
    agora = AgoraEgress(channel_name=channel, token=os.environ.get("AGORA_TOKEN", ""), uid=1001)
    async with contextlib.AsyncExitStack() as stack:
        emulator = None
        if "AVATARKIT_API_KEY" not in os.environ:
            emulator = await stack.enter_async_context(Emulator(realtime=False))
            print("no AVATARKIT_* credentials: using the built-in emulator")
        avatar = AvatarService(session_config(agora, emulator))
        worker = PipelineWorker(Pipeline([avatar, Speaking()]), cancel_on_idle_timeout=False)
        step = rate // 50 * 2  # 20 ms, as a TTS service would stream it
        frames: list[Frame] = [TTSStartedFrame()]
        frames += [TTSAudioRawFrame(pcm[i : i + step], rate, 1) for i in range(0, len(pcm), step)]
        frames += [TTSStoppedFrame(), EndFrame()]  # the end waits for the avatar to finish

        @worker.event_handler("on_pipeline_started")
        async def speak(worker: PipelineWorker, frame: Frame) -> None:
            await worker.queue_frames(frames)  # once started: earlier frames are dropped

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
        for done in avatar.finished:
            print(
                f"segment {done.segment} {done.reason}: "
                f"played {done.played_seconds:.2f} s of {done.audio_seconds:.2f} s"
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "pipecat-demo"))
