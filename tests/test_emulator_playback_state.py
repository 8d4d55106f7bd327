"""ServerPlaybackState as today's service sends it (protocol.md section 3), seen by a raw
client: one reply per pause / resume holding the state after it, spontaneous PLAYING
and ENDED, INTERRUPTED with its reason, capabilities per avatar, repeated drain ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from emulator_client import RawIngress, configure_bytes, run_async

from avatarwire.core.wire import (
    AgoraEgressConfig,
    ClientAudioInput,
    ClientInterrupt,
    ClientPause,
    ClientResume,
    Message,
)
from avatarwire.core.wire import avatarkit_pb2 as pb
from avatarwire.emulator import Emulator

PLAYING, PAUSED, ENDED, INTERRUPTED = 1, 2, 3, 4
TENTH = bytes(3200)  # 0.1 s of 16 kHz PCM
AGORA = {"egress_type": pb.EGRESS_TYPE_AGORA, "agora_egress": AgoraEgressConfig(channel_name="c")}


@dataclass(frozen=True)
class State:
    req_id: str
    state: int
    played_ms: int
    reason: str = ""


class Client:
    """A raw ingress client that sends audio / pause / resume / interrupt and sorts
    what comes back into playback states and animation frames."""

    def __init__(self, raw: RawIngress) -> None:
        self.raw = raw
        self.states: list[State] = []
        self.frames: list[tuple[str, bool]] = []  # (req_id, end) of each animation message
        self.capabilities: tuple[str, ...] = ()

    @classmethod
    async def open(cls, emu: Emulator, *, avatar_id: str | None = None, **configure: Any) -> Client:
        raw = await RawIngress.open(emu, avatar_id=avatar_id)
        raw.send(configure_bytes(sample_rate=16000, **configure))
        confirm = (await raw.receive_message()).server_confirm_session
        assert confirm.connection_id
        client = cls(raw)
        client.capabilities = tuple(confirm.capabilities)
        return client

    def audio(self, req_id: str, audio: bytes, *, end: bool = False) -> None:
        data = ClientAudioInput(req_id=req_id, audio=audio, end=end)
        self._send(Message(type=pb.MESSAGE_CLIENT_AUDIO_INPUT, client_audio_input=data))

    def pause(self, req_id: str) -> None:
        pause = ClientPause(req_id=req_id)
        self._send(Message(type=pb.MESSAGE_CLIENT_PAUSE, client_pause=pause))

    def resume(self, req_id: str) -> None:
        resume = ClientResume(req_id=req_id)
        self._send(Message(type=pb.MESSAGE_CLIENT_RESUME, client_resume=resume))

    def interrupt(self, req_id: str) -> None:
        interrupt = ClientInterrupt(req_id=req_id)
        self._send(Message(type=pb.MESSAGE_CLIENT_INTERRUPT, client_interrupt=interrupt))

    def _send(self, message: Message) -> None:
        self.raw.send(message.SerializeToString())

    async def _one(self, timeout: float) -> None:
        data = await self.raw.receive(timeout)
        assert isinstance(data, bytes), data
        message = Message.FromString(data)
        if message.type == pb.MESSAGE_SERVER_PLAYBACK_STATE:
            s = message.server_playback_state
            self.states.append(State(s.req_id, int(s.state), int(s.played_ms), s.reason))
        elif message.type == pb.MESSAGE_SERVER_RESPONSE_ANIMATION:
            animation = message.server_response_animation
            self.frames.append((animation.req_id, animation.end))
        else:
            raise AssertionError(f"unexpected message {message}")

    async def next_state(self, timeout: float = 5.0) -> State:
        """The next playback state (frames before it are recorded)."""
        seen = len(self.states)
        while len(self.states) == seen:
            await self._one(timeout)
        return self.states[seen]

    async def quiet_for(self, seconds: float) -> list[State]:
        """Read for ``seconds``; the states that came (frames are recorded)."""
        seen = len(self.states)
        with pytest.raises(asyncio.TimeoutError):
            while True:
                await self._one(seconds)
        return self.states[seen:]


@run_async
async def test_playing_when_playout_starts_and_ended_with_the_total_when_it_ends() -> None:
    async with Emulator(realtime=False) as emu:
        client = await Client.open(emu, **AGORA)
        assert client.capabilities == ("playback_control", "playback_state")
        client.audio("a", TENTH * 3, end=True)
        assert await client.next_state() == State("a", PLAYING, 0)
        assert await client.next_state() == State("a", ENDED, 300)
        assert client.frames == [("a", False), ("a", True), ("a", True)]


@run_async
async def test_pause_holds_playout_frozen_and_resume_continues_from_there() -> None:
    async with Emulator() as emu:
        client = await Client.open(emu)
        client.audio("a", TENTH * 5, end=True)
        assert await client.next_state() == State("a", PLAYING, 0)
        while not client.frames:
            await client._one(5)
        client.pause("a")
        paused = await client.next_state()
        assert (paused.req_id, paused.state, paused.reason) == ("a", PAUSED, "")
        assert 0 <= paused.played_ms < 500
        frames_at_pause = len(client.frames)
        assert await client.quiet_for(0.2) == []
        assert len(client.frames) - frames_at_pause <= 1  # at most one already in flight
        held = len(client.frames)
        client.pause("a")  # paused already: the state after it, the position unmoved
        assert await client.next_state() == paused
        client.resume("a")
        assert await client.next_state() == State("a", PLAYING, paused.played_ms)
        assert await client.next_state() == State("a", ENDED, 500)
        assert held < len(client.frames) == 13  # 12.5 keyframes, then the end came with them


@run_async
async def test_a_pause_after_playout_ended_replies_ended_with_the_total() -> None:
    async with Emulator(realtime=False) as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH * 2, end=True)
        assert [await client.next_state() for _ in range(2)] == [
            State("a", PLAYING, 0),
            State("a", ENDED, 200),
        ]
        client.pause("a")
        assert await client.next_state() == State("a", ENDED, 200)
        client.resume("a")
        assert await client.next_state() == State("a", ENDED, 200)


@run_async
async def test_a_foreign_req_id_gets_the_true_current_state_echoing_it() -> None:
    async with Emulator() as emu:
        client = await Client.open(emu, **AGORA)
        client.pause("never-sent")  # nothing played yet
        assert await client.next_state() == State("never-sent", ENDED, 0)
        client.audio("a", TENTH * 4)  # no end yet: "a" plays until it comes, however slow
        assert await client.next_state() == State("a", PLAYING, 0)
        client.pause("old")
        reply = await client.next_state()
        assert (reply.req_id, reply.state) == ("old", PLAYING)  # "a" was not paused
        client.audio("a", b"", end=True)
        ended = await client.next_state()
        assert ended == State("a", ENDED, 400)


@run_async
async def test_resume_when_not_paused_replies_playing_with_the_position() -> None:
    async with Emulator() as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH * 3)
        assert await client.next_state() == State("a", PLAYING, 0)
        client.resume("a")
        reply = await client.next_state()
        assert (reply.req_id, reply.state) == ("a", PLAYING) and 0 <= reply.played_ms <= 300
        client.audio("a", b"", end=True)
        assert await client.next_state() == State("a", ENDED, 300)


@run_async
async def test_interrupt_ends_the_request_with_reason_explicit() -> None:
    async with Emulator() as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH * 20, end=True)
        assert await client.next_state() == State("a", PLAYING, 0)
        client.interrupt("a")
        interrupted = await client.next_state()
        assert (interrupted.req_id, interrupted.state, interrupted.reason) == (
            "a",
            INTERRUPTED,
            "explicit",
        )
        assert interrupted.played_ms < 2000
        client.resume("a")  # the state after it: still interrupted
        assert await client.next_state() == interrupted
        assert await client.quiet_for(0.1) == []
        assert ("a", True) not in client.frames


@run_async
async def test_a_request_interrupted_while_queued_never_plays() -> None:
    async with Emulator() as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH * 2)  # "a" holds the playout until its end comes
        client.audio("b", TENTH * 2, end=True)
        assert await client.next_state() == State("a", PLAYING, 0)
        client.interrupt("b")
        assert await client.next_state() == State("b", INTERRUPTED, 0, "explicit")
        client.audio("a", b"", end=True)
        assert await client.next_state() == State("a", ENDED, 200)
        assert await client.quiet_for(0.3) == []
        assert {req_id for req_id, _ in client.frames} == {"a"}


@run_async
async def test_with_preempt_a_newer_request_supersedes_the_playing_one() -> None:
    async with Emulator(preempt=True) as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH * 20, end=True)
        assert await client.next_state() == State("a", PLAYING, 0)
        client.audio("b", TENTH * 2, end=True)
        preempted = await client.next_state()
        assert (preempted.req_id, preempted.state, preempted.reason) == (
            "a",
            INTERRUPTED,
            "preempted",
        )
        assert await client.next_state() == State("b", PLAYING, 0)
        assert await client.next_state() == State("b", ENDED, 200)


@run_async
async def test_a_pause_held_past_the_limit_drops_the_request_for_good() -> None:
    async with Emulator(pause_timeout=0.2) as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH * 10)
        assert await client.next_state() == State("a", PLAYING, 0)
        client.pause("a")
        paused = await client.next_state()
        assert paused.state == PAUSED
        client.audio("a", TENTH * 2, end=True)  # the client keeps sending while paused
        timed_out = await client.next_state()
        assert timed_out == State("a", INTERRUPTED, paused.played_ms, "pause_timeout")
        client.resume("a")  # never resumed
        assert await client.next_state() == timed_out
        assert await client.quiet_for(0.2) == []
        assert ("a", True) not in client.frames
        (publisher,) = emu.egress()["agora"]["c"]
        (request,) = publisher["requests"]
        assert request["interrupted"] and request["audio_bytes"] == 12 * 3200
        assert publisher["interrupts"] == 0  # no interrupt came from the client


@run_async
async def test_audio_sent_while_paused_plays_after_resume() -> None:
    async with Emulator() as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH)
        assert await client.next_state() == State("a", PLAYING, 0)
        client.pause("a")
        paused = await client.next_state()
        assert paused.state == PAUSED
        client.audio("a", TENTH * 2, end=True)
        assert await client.quiet_for(0.15) == []
        client.resume("a")
        assert (await client.next_state()).state == PLAYING
        assert await client.next_state() == State("a", ENDED, 300)


@pytest.mark.parametrize(
    ("avatar", "replies", "held"),
    [("old-server", False, False), ("state-only", True, False), ("control-only", False, True)],
)
@run_async
async def test_capabilities_decide_whether_pause_acts_and_whether_it_is_answered(
    avatar: str, replies: bool, held: bool
) -> None:
    capabilities = {
        "old-server": (),
        "state-only": ("playback_state",),
        "control-only": ("playback_control",),
    }
    async with Emulator(realtime=False, avatar_capabilities=capabilities) as emu:
        client = await Client.open(emu, avatar_id=avatar, **AGORA)
        assert client.capabilities == capabilities[avatar]
        client.audio("a", TENTH * 2)
        while not client.frames:  # playout started
            await client._one(5)
        client.pause("a")
        client.audio("a", b"", end=True)
        await client.quiet_for(0.3)
        drained = ("a", True) in client.frames
        assert drained is not held
        states = [(state.req_id, state.state) for state in client.states]
        assert states == ([("a", PLAYING), ("a", PLAYING), ("a", ENDED)] if replies else [])


@pytest.mark.parametrize(
    ("options", "ends"),
    [
        ({}, ["a", "a"]),
        ({"repeat_drain_end": False}, ["a"]),
        ({"drain_end_without_req_id": True}, ["a", ""]),
        ({"drain_end_without_req_id": True, "repeat_drain_end": False}, [""]),
    ],
)
@run_async
async def test_drain_ends_repeat_and_may_come_without_a_req_id(
    options: dict[str, bool], ends: list[str]
) -> None:
    async with Emulator(realtime=False, **options) as emu:
        client = await Client.open(emu, **AGORA)
        client.audio("a", TENTH, end=True)
        assert (await client.next_state()).state == PLAYING
        assert (await client.next_state()).state == ENDED
        assert client.frames == [("a", False)] + [(req_id, True) for req_id in ends]
