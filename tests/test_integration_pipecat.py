"""The pipecat service against the emulator, run by pipecat's own pipeline test runner."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("pipecat", reason="the pipecat extra is not installed (avatarwire[pipecat])")
pytest.importorskip("soxr", reason="resampling needs the resample extra (avatarwire[resample])")

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    DataFrame,
    Frame,
    InterruptionFrame,
    MetricsFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from avatarwire.core.config import AgoraEgress
from avatarwire.emulator import Emulator, Fault, FaultKind
from avatarwire.integrations.audio import SoxrConverter
from avatarwire.integrations.pipecat import AvatarAnimationFrame, AvatarService

TTS_RATE = 24000


def tone(seconds: float, rate: int, seed: int) -> bytes:
    """Distinct 16-bit PCM per utterance, so a checksum tells them apart."""
    count = int(seconds * rate)
    return b"".join(
        ((seed * 7919 + i * 31) % 20000 - 10000).to_bytes(2, "little", signed=True)
        for i in range(count)
    )


def chunks(audio: bytes, size: int = 4800) -> list[bytes]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


def resampled(audio: bytes, src: int, dst: int) -> bytes:
    converter = SoxrConverter(src, dst)
    return b"".join(converter.convert(c) for c in chunks(audio)) + converter.flush()


class Say(DataFrame):
    """Ask the scripted TTS to speak ``audio``; ``barge_in`` interrupts it once it plays;
    ``after`` waits until that many segments are finished first."""

    def __init__(
        self,
        audio: bytes,
        rate: int = TTS_RATE,
        barge_in: bool = False,
        after: int = 0,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.audio, self.rate, self.barge_in, self.after = audio, rate, barge_in, after
        self.before = before


class ScriptedTTS(FrameProcessor):
    """Plays the TTS part of a pipeline: each :class:`Say` becomes TTS frames."""

    def __init__(self, avatar: AvatarService) -> None:
        super().__init__()
        self.avatar = avatar
        self.started = 0
        self.speaking = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame) and direction is FrameDirection.UPSTREAM:
            self.started += 1
            self.speaking.set()
        if not isinstance(frame, Say):
            await self.push_frame(frame, direction)
            return
        await self.avatar.wait_finished(frame.after)
        if frame.before is not None:
            await frame.before()
        await self.push_frame(TTSStartedFrame())
        for piece in chunks(frame.audio):
            await self.push_frame(TTSAudioRawFrame(piece, frame.rate, 1))
        if frame.barge_in:  # the user speaks up once the avatar has begun this one
            while self.started <= frame.after:  # this one is the (after + 1)-th to start
                self.speaking.clear()
                await self.speaking.wait()
            await self.push_frame(InterruptionFrame())
        else:
            await self.push_frame(TTSStoppedFrame())


def agora() -> AgoraEgress:
    return AgoraEgress(channel_name="room-1", token="agora-token", uid=7)


async def run_three_utterances(
    emu: Emulator, say: list[Say], **service: Any
) -> tuple[AvatarService, list[Frame], list[Frame]]:
    avatar = AvatarService(emu.session_config(agora=agora()), **service)
    tts = ScriptedTTS(avatar)
    down, up = await run_test(Pipeline([tts, avatar]), frames_to_send=say)
    return avatar, list(down), list(up)


def test_three_utterances_with_a_barge_in_reach_the_channel_whole() -> None:
    one, two, three = tone(0.4, TTS_RATE, 1), tone(1.5, TTS_RATE, 2), tone(0.3, 16000, 3)

    async def main() -> tuple[AvatarService, list[Frame], list[Frame], dict[str, Any], Any]:
        async with Emulator(realtime=True) as emu:
            say = [Say(one), Say(two, barge_in=True, after=1), Say(three, rate=16000, after=2)]
            avatar, down, up = await run_three_utterances(emu, say)
            return avatar, down, up, emu.egress(), emu.sink

    avatar, down, up, egress, sink = asyncio.run(main())
    (publisher,) = egress["agora"]["room-1"]
    records = publisher["requests"]
    assert [(r["completed"], r["interrupted"]) for r in records] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    # The audio goes out paced, as it would play: the barge-in (once the avatar began the
    # second) drops what was not sent yet, so the second request holds a part of it.
    sent_of_two = records[1]["audio_bytes"]
    assert 0 < sent_of_two < len(two)
    expected = [one, two[:sent_of_two], resampled(three, 16000, TTS_RATE)]  # at the TTS's rate
    assert [r["audio_sha256"] for r in records] == [
        hashlib.sha256(audio).hexdigest() for audio in expected
    ]
    seconds = [r["audio_seconds"] for r in records]
    assert [seconds[0], seconds[2]] == pytest.approx([0.4, 0.3], abs=1e-3)
    # The TTS pushed each utterance at once; by the emulator's own record the first
    # arrived over about its 0.4 s, paced (unpaced, it would come in one burst).
    arrivals = sink.arrivals(records[0]["req_id"])
    assert sum(size for _, size in arrivals) == len(one)
    assert arrivals[-1][0] - arrivals[0][0] >= 0.4 / 2
    assert publisher["uid"] == 7 and publisher["token_present"]
    kinds = [type(f) for f in down]
    assert kinds.count(BotStartedSpeakingFrame) == 3
    assert kinds.count(BotStoppedSpeakingFrame) == 3
    assert TTSAudioRawFrame not in kinds  # with egress the service publishes the audio
    assert [type(f) for f in up].count(BotStartedSpeakingFrame) == 3
    ttfb = [d for f in down if isinstance(f, MetricsFrame) for d in f.data]
    assert any(type(d).__name__ == "TTFBMetricsData" and d.value > 0 for d in ttfb)
    assert [f.reason for f in avatar.finished] == ["completed", "interrupted", "completed"]
    assert 0 <= avatar.finished[1].played_seconds < 1.5  # the service's own position


def test_without_egress_animation_frames_flow_and_tts_audio_passes_on() -> None:
    audio = tone(0.3, 16000, 4)

    async def main() -> tuple[list[Frame], AvatarService]:
        async with Emulator(realtime=False) as emu:
            avatar = AvatarService(emu.session_config())
            pipeline = Pipeline([ScriptedTTS(avatar), avatar])
            down, _ = await run_test(pipeline, frames_to_send=[Say(audio, 16000)])
            return list(down), avatar

    down, avatar = asyncio.run(main())
    frames = [f for f in down if isinstance(f, AvatarAnimationFrame)]
    assert frames and frames[-1].end and len({f.req_id for f in frames}) == 1
    assert b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame)) == audio
    assert [f.reason for f in avatar.finished] == ["completed"]


def test_a_drop_mid_utterance_reconnects_and_the_next_utterance_plays_whole() -> None:
    first, second = tone(0.45, 16000, 5), tone(0.15, 16000, 6)  # 3 chunks, then 1

    async def main() -> tuple[AvatarService, dict[str, Any]]:
        faults = {"emulator-avatar": (Fault(FaultKind.DROP, after=3),)}
        async with Emulator(realtime=False, faults=faults) as emu:
            say = [Say(first, 16000), Say(second, 16000, after=1)]
            avatar, _, _ = await run_three_utterances(emu, say)
            return avatar, emu.egress()

    avatar, egress = asyncio.run(main())
    sessions = egress["agora"]["room-1"]
    assert len(sessions) >= 2  # dropped, then reopened
    assert avatar.finished[0].reason == "lost"
    assert avatar.finished[-1].reason == "completed"
    last = sessions[-1]["requests"][-1]
    assert last["audio_sha256"] == hashlib.sha256(second).hexdigest()


def test_after_an_idle_timeout_between_turns_the_next_turn_reopens_the_session() -> None:
    first, second = tone(0.2, 16000, 7), tone(0.2, 16000, 8)

    async def main() -> tuple[AvatarService, dict[str, Any]]:
        async with Emulator(realtime=False, idle_timeout=0.3) as emu:

            async def idled() -> None:  # the service closes the quiet session on its own
                while not all(p["closed"] for p in emu.egress()["agora"].get("room-1", [{}])):
                    await asyncio.sleep(0.01)

            say = [Say(first, 16000), Say(second, 16000, after=1, before=idled)]
            avatar, _, _ = await run_three_utterances(emu, say)
            return avatar, emu.egress()

    avatar, egress = asyncio.run(main())
    sessions = egress["agora"]["room-1"]
    assert len(sessions) == 2
    assert [len(s["requests"]) for s in sessions] == [1, 1]
    assert sessions[1]["requests"][0]["audio_sha256"] == hashlib.sha256(second).hexdigest()
    assert [f.reason for f in avatar.finished] == ["completed", "completed"]
