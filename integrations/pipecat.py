"""A pipecat processor that drives an AvatarKit avatar with the pipeline's TTS audio.

Put it after the TTS service. Without egress, TTS audio passes on to the output
transport and the avatar's motion comes out as :class:`AvatarAnimationFrame`; with
Agora / LiveKit egress the service publishes audio and motion itself, so TTS audio
stops here and :class:`BotStartedSpeakingFrame` / :class:`BotStoppedSpeakingFrame`
follow the avatar's playout. Every decision (segments, silence, barge-in, pause,
reconnects) is the conversation layer's; this maps frames to it and back. TTS
frames reach it as fast as the TTS makes them (pipecat paces audio only in the output
transport, after it), so the runner sends them through the library's pacer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

try:
    from pipecat.frames.frames import (
        BotStartedSpeakingFrame,
        BotStoppedSpeakingFrame,
        CancelFrame,
        DataFrame,
        EndFrame,
        Frame,
        InterruptionFrame,
        MetricsFrame,
        StartFrame,
        TTSAudioRawFrame,
        TTSStoppedFrame,
    )
    from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError(
        "the pipecat service needs pipecat: pip install 'avatarwire[pipecat]'"
    ) from exc

from avatarwire.core.config import SessionConfig
from avatarwire.core.conversation import (
    FirstFrame,
    FrameReceived,
    Report,
    SegmentFinished,
    SpeakingStarted,
    SpeakingStopped,
)

from .runner import ConversationRunner

__all__ = ["AvatarAnimationFrame", "AvatarService"]


@dataclass
class AvatarAnimationFrame(DataFrame):
    """One animation message of the avatar (raw bytes as the service sent them)."""

    req_id: str = ""
    data: bytes = field(default=b"", repr=False)
    end: bool = False


class AvatarService(FrameProcessor):
    """Streams TTS audio to an avatar session; pushes its motion or speaking state."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        silence_timeout: float = 1.5,
        finish_timeout: float = 30.0,
        **connect: Any,
    ) -> None:
        super().__init__()
        self._config = config
        self._egress = config.agora is not None or config.livekit is not None
        self._silence_timeout = silence_timeout
        self._finish_timeout = finish_timeout
        self._connect = connect
        self._runner: ConversationRunner | None = None
        self._task: Any = None
        self.finished: list[SegmentFinished] = []
        self._finished_more = asyncio.Event()

    def can_generate_metrics(self) -> bool:
        return True

    async def wait_finished(self, count: int) -> None:
        """Until ``count`` segments are over (for scripts that pace themselves on the avatar)."""
        while len(self.finished) < count:
            self._finished_more.clear()
            await self._finished_more.wait()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        runner = self._runner
        if isinstance(frame, StartFrame):
            self._runner = ConversationRunner(
                self._config,
                self._report,
                silence_timeout=self._silence_timeout,
                **self._connect,
            )
            self._task = self.create_task(self._runner.run(), "avatar")
        elif runner is None:
            pass
        elif isinstance(frame, TTSAudioRawFrame):
            runner.audio(frame.audio, frame.sample_rate, frame.num_channels)
            if self._egress:
                return  # the service publishes this audio itself
        elif isinstance(frame, TTSStoppedFrame):
            runner.utterance_done()
        elif isinstance(frame, InterruptionFrame):
            runner.barge_in()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            runner.finish() if isinstance(frame, EndFrame) else runner.cancel()
            await self._stop(runner)
        await self.push_frame(frame, direction)

    async def _stop(self, runner: ConversationRunner) -> None:
        """Wait (bounded) for the last segments to play out, then end the runner's task."""
        try:
            await asyncio.wait_for(runner.wait_stopped(), self._finish_timeout)
        except asyncio.TimeoutError:
            runner.cancel()
        finally:
            if self._task is not None:
                await self.cancel_task(self._task)
                self._task = None
        if runner.error is not None:
            await self.push_error(f"avatar: {runner.error}")

    async def _report(self, report: Report) -> None:
        if isinstance(report, FrameReceived):
            frame = report.frame
            await self.push_frame(AvatarAnimationFrame(frame.req_id, frame.data, frame.end))
        elif isinstance(report, SpeakingStarted) and self._egress:
            await self._both_ways(BotStartedSpeakingFrame)
        elif isinstance(report, SpeakingStopped) and self._egress:
            await self._both_ways(BotStoppedSpeakingFrame)
        elif isinstance(report, FirstFrame):
            ttfb = TTFBMetricsData(processor=self.name, value=report.seconds)
            await self.push_frame(MetricsFrame(data=[ttfb]))
        elif isinstance(report, SegmentFinished):
            self.finished.append(report)
            self._finished_more.set()
            if report.played_seconds:  # how long the avatar spoke the segment
                done = ProcessingMetricsData(processor=self.name, value=report.played_seconds)
                await self.push_frame(MetricsFrame(data=[done]))

    async def _both_ways(self, kind: type[Frame]) -> None:
        await self.push_frame(kind(), FrameDirection.DOWNSTREAM)
        await self.push_frame(kind(), FrameDirection.UPSTREAM)
