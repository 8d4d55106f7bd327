"""A LiveKit Agents avatar plugin: the agent's TTS audio drives an AvatarKit avatar
that the service publishes into the room as its own participant.

``AvatarSession(config).start(agent_session, room)`` mints the avatar's room token,
opens the AvatarKit session at the TTS's real sample rate and replaces the agent's
audio output with one that feeds the conversation layer. ``flush()``,
``clear_buffer()``, ``pause()`` and ``resume()`` are sync calls into the layer;
playback started / finished (with the position actually played) come back from it.
``capture_frame`` gets the TTS frames as fast as they are synthesized (LiveKit paces
only its own room output), so the runner sends them through the library's pacer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from datetime import timedelta
from typing import Any

try:
    from livekit import api, rtc
    from livekit.agents import AgentSession
    from livekit.agents.voice.avatar import AvatarSession as AvatarSessionBase
    from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities
    from livekit.agents.voice.room_io import ATTRIBUTE_PUBLISH_ON_BEHALF
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError("the LiveKit plugin needs: pip install 'avatarwire[livekit]'") from exc

from avatarwire.core.config import LiveKitEgress, SessionConfig
from avatarwire.core.conversation import (
    Report,
    SegmentFinished,
    SpeakingStarted,
    session_rate_for,
)
from avatarwire.core.errors import ConfigError

from .runner import ConversationRunner

__all__ = ["AvatarAudioOutput", "AvatarSession", "avatar_token"]

#: How long the avatar's room token lasts: a day, longer than any conversation.
TOKEN_TTL = timedelta(hours=24)


def avatar_token(
    api_key: str, api_secret: str, *, room: str, identity: str, on_behalf_of: str
) -> str:
    """A room token for the avatar: join and publish camera, microphone and data only."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_publish_sources=["camera", "microphone"],
        can_publish_data=True,
        can_subscribe=False,
    )
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(identity)
        .with_kind("agent")
        .with_ttl(TOKEN_TTL)
        .with_attributes({ATTRIBUTE_PUBLISH_ON_BEHALF: on_behalf_of})
        .with_grants(grants)
        .to_jwt()
    )


class AvatarAudioOutput(AudioOutput):
    """The agent's audio output while the avatar speaks for it."""

    def __init__(self, runner: ConversationRunner) -> None:
        super().__init__(
            label="avatarwire", capabilities=AudioOutputCapabilities(pause=True), sample_rate=None
        )
        self._runner = runner

    @property
    def can_pause(self) -> bool:
        """Native pause when the service declared it; else a pause would interrupt."""
        return self._runner.layer.can_pause

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self._runner.audio(bytes(frame.data), frame.sample_rate, frame.num_channels)

    def flush(self) -> None:
        super().flush()
        self._runner.utterance_done()

    def clear_buffer(self) -> None:
        self._runner.barge_in()

    def pause(self) -> None:
        self._runner.pause()

    def resume(self) -> None:
        self._runner.resume()

    def report(self, report: Report) -> None:
        """Tell the agent what the avatar played."""
        if isinstance(report, SpeakingStarted):
            self.on_playback_started(created_at=time.time())
        elif isinstance(report, SegmentFinished):
            self.on_playback_finished(
                playback_position=report.played_seconds, interrupted=report.interrupted
            )


class AvatarSession(AvatarSessionBase):
    """An AvatarKit avatar joining the agent's room (LiveKit egress)."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        avatar_identity: str = "avatarwire-avatar",
        sample_rate: int | None = None,
        silence_timeout: float = 1.5,
        **connect: Any,
    ) -> None:
        super().__init__()
        self._config = config
        self._identity = avatar_identity
        self._sample_rate = sample_rate
        self._silence_timeout = silence_timeout
        self._connect = connect
        self._runner: ConversationRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._output: AvatarAudioOutput | None = None

    @property
    def avatar_identity(self) -> str:
        return self._identity

    @property
    def provider(self) -> str:
        return "avatarwire"

    @property
    def runner(self) -> ConversationRunner | None:
        """The running conversation, once started."""
        return self._runner

    async def start(
        self,
        agent_session: AgentSession,
        room: rtc.Room,
        *,
        livekit_url: str | None = None,
        livekit_api_key: str | None = None,
        livekit_api_secret: str | None = None,
        agent_identity: str | None = None,
    ) -> None:
        """Mint the avatar's token, open the session, take over the agent's audio output."""
        url = livekit_url or os.environ.get("LIVEKIT_URL", "")
        key = livekit_api_key or os.environ.get("LIVEKIT_API_KEY", "")
        secret = livekit_api_secret or os.environ.get("LIVEKIT_API_SECRET", "")
        for name, value in (("livekit_url", url), ("livekit_api_key", key)):
            if not value:
                raise ConfigError(name, "nothing", f"pass {name}= or set {name.upper()}")
        if not secret:
            raise ConfigError("livekit_api_secret", "nothing", "pass it or set LIVEKIT_API_SECRET")
        if agent_identity is None:
            agent_identity = room.local_participant.identity
        await super().start(agent_session, room)
        token = avatar_token(
            key, secret, room=room.name, identity=self._identity, on_behalf_of=agent_identity
        )
        egress = LiveKitEgress(
            url=url,
            room_name=room.name,
            api_token=token,
            publisher_id=self._identity,
            extra_attributes={ATTRIBUTE_PUBLISH_ON_BEHALF: agent_identity},
        )
        rate = self._sample_rate
        if rate is None and agent_session.tts is not None:
            rate = agent_session.tts.sample_rate  # the rate the agent will really send
        runner = ConversationRunner(
            dataclasses.replace(self._config, livekit=egress, agora=None),
            self._report,
            sample_rate=None if rate is None else session_rate_for(rate),
            silence_timeout=self._silence_timeout,
            **self._connect,
        )
        self._runner = runner
        self._output = AvatarAudioOutput(runner)
        agent_session.output.audio = self._output
        self._task = asyncio.create_task(runner.run())
        if rate is not None:
            runner.start()  # the avatar joins the room now, not at the first word

    async def _report(self, report: Report) -> None:
        if self._output is not None:
            self._output.report(report)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Finish what is playing (at most ``timeout`` seconds), then close the session."""
        runner, task = self._runner, self._task
        if runner is not None and task is not None:
            runner.finish()
            try:
                await asyncio.wait_for(runner.wait_stopped(), timeout)
            except asyncio.TimeoutError:
                runner.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().aclose()
