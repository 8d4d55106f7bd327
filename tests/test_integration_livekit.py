"""The LiveKit Agents plugin against the emulator in LiveKit egress mode.

There is no LiveKit server here: the agent's session, the room object and the audio
output are LiveKit's own classes, driven directly as the agent would drive them.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

pytest.importorskip("livekit.agents", reason="the livekit extra is not installed")
pytest.importorskip("livekit.api", reason="the livekit extra is not installed")

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice.io import PlaybackFinishedEvent

from avatarwire.core.errors import ConfigError
from avatarwire.emulator import Emulator
from avatarwire.integrations.livekit import TOKEN_TTL, AvatarSession

RATE = 24000
LIVEKIT = {
    "livekit_url": "wss://livekit.example",
    "livekit_api_key": "APIexample",
    "livekit_api_secret": "s" * 32,
    "agent_identity": "agent-1",
}


class OfflineRoom(rtc.Room):
    """A room the agent has not connected (no server here); it knows its name."""

    @property
    def name(self) -> str:
        return "room-1"


def tone(seconds: float, seed: int) -> bytes:
    count = int(seconds * RATE)
    return b"".join(
        ((seed * 7919 + i * 31) % 20000 - 10000).to_bytes(2, "little", signed=True)
        for i in range(count)
    )


async def speak(output: Any, audio: bytes) -> None:
    for start in range(0, len(audio), 4800):
        piece = audio[start : start + 4800]
        await output.capture_frame(rtc.AudioFrame(piece, RATE, 1, len(piece) // 2))


def test_three_turns_with_a_barge_in_and_a_pause_reach_the_room() -> None:
    one, two, three = tone(0.4, 1), tone(1.5, 2), tone(0.3, 3)

    async def main() -> tuple[list[PlaybackFinishedEvent], dict[str, Any], AvatarSession]:
        async with Emulator(realtime=True) as emu:
            agent = AgentSession()
            avatar = AvatarSession(emu.session_config(), sample_rate=RATE)
            await avatar.start(agent, OfflineRoom(), **LIVEKIT)
            output = agent.output.audio
            started = asyncio.Event()
            output.on("playback_started", lambda _: started.set())
            finished = []
            await speak(output, one)
            output.flush()
            finished.append(await output.wait_for_playout())
            started.clear()
            await speak(output, two)
            await started.wait()
            output.clear_buffer()  # the user speaks over the avatar
            output.flush()
            finished.append(await output.wait_for_playout())
            await speak(output, three)
            output.pause()  # a possible false interruption: held, not dropped
            output.resume()
            output.flush()
            finished.append(await output.wait_for_playout())
            assert output.can_pause
            await avatar.aclose()
            return finished, emu.egress(), avatar

    finished, egress, avatar = asyncio.run(main())
    assert [f.interrupted for f in finished] == [False, True, False]
    assert finished[0].playback_position == pytest.approx(0.4, abs=0.01)
    assert 0 <= finished[1].playback_position < 1.5  # the service's own position
    (publisher,) = egress["livekit"]["room-1"]
    records = publisher["requests"]
    assert [(r["completed"], r["interrupted"]) for r in records] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    # The audio goes out paced, as it would play: the barge-in drops what of the second
    # turn was not sent yet, so its request holds a part of it.
    sent_of_two = records[1]["audio_bytes"]
    assert 0 < sent_of_two < len(two)
    assert [r["audio_sha256"] for r in records] == [
        hashlib.sha256(a).hexdigest() for a in (one, two[:sent_of_two], three)
    ]
    seconds = [r["audio_seconds"] for r in records]
    assert [seconds[0], seconds[2]] == pytest.approx([0.4, 0.3], abs=1e-3)
    assert publisher["publisher_id"] == avatar.avatar_identity
    claims = publisher["token_claims"]
    assert claims["sub"] == avatar.avatar_identity
    assert claims["exp"] - claims["nbf"] == TOKEN_TTL.total_seconds()
    assert claims["video"] == {
        "roomJoin": True,
        "room": "room-1",
        "canPublish": True,
        "canPublishSources": ["camera", "microphone"],
        "canPublishData": True,
        "canSubscribe": False,
    }
    assert claims["attributes"] == {"lk.publish_on_behalf": "agent-1"}
    assert "iss" not in claims  # the LiveKit API key stays out of the record


def test_start_names_the_missing_livekit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)

    async def main() -> None:
        async with Emulator() as emu:
            avatar = AvatarSession(emu.session_config())
            with pytest.raises(ConfigError, match="livekit_api_secret"):
                await avatar.start(
                    AgentSession(),
                    OfflineRoom(),
                    livekit_url="wss://x.example",
                    livekit_api_key="APIx",
                    agent_identity="a",
                )

    asyncio.run(main())
