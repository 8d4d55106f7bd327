"""What the emulator sends for requests: animation frames, egress control frames and
the egress record, interrupts, pause / resume with playback states, idle timeout."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import struct
import time

from emulator_client import config_for, events_until, http, run_async

from avatarwire.bindings.asyncio import connect
from avatarwire.core.config import AgoraEgress, LiveKitEgress
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
)
from avatarwire.core.motion import decode_keyframes
from avatarwire.core.wire import Message
from avatarwire.emulator import Emulator


def tone(seconds: float, amplitude: int = 8000, rate: int = 16000) -> bytes:
    """A sine tone as 16-bit little-endian PCM."""
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *(int(amplitude * math.sin(i / 7)) for i in range(count)))


def finished(event: Event) -> bool:
    return isinstance(event, RequestFinished)


def frames_of(events: list[Event]) -> list[AnimationFrame]:
    return [event for event in events if isinstance(event, AnimationFrame)]


@run_async
async def test_frames_come_at_25_per_second_of_audio_and_the_last_one_ends() -> None:
    async with Emulator(realtime=False) as emu, connect(config_for(emu)) as session:
        req_id = await session.send_audio(tone(1.0))
        await session.send_audio(tone(0.5), end=True)
        frames = frames_of(await events_until(session, finished))
        assert len(frames) == 38  # 1.5 s of audio: 37.5 keyframes, the last one partial
        assert [frame.end for frame in frames] == [False] * 37 + [True]
        for frame in frames:
            animation = Message.FromString(frame.data).server_response_animation
            assert (animation.req_id, animation.avatar_id) == (req_id, emu.avatar_id)
            assert animation.connection_id == session.connection_id
            assert 400 <= len(animation.animation.SerializeToString()) <= 800
            assert len(decode_keyframes(frame.data)) == 1


@run_async
async def test_keyframes_per_message_groups_keyframes() -> None:
    async with (
        Emulator(realtime=False, keyframes_per_message=10, keyframes_per_second=30) as emu,
        connect(config_for(emu)) as session,
    ):
        await session.send_audio(tone(1.0), end=True)
        frames = frames_of(await events_until(session, finished))
        assert [len(decode_keyframes(frame.data)) for frame in frames] == [10, 10, 10]
        assert frames[-1].end


@run_async
async def test_jaw_opens_with_loudness() -> None:
    async with Emulator(realtime=False) as emu, connect(config_for(emu)) as session:
        await session.send_audio(bytes(3200) + tone(0.2, amplitude=20000), end=True)
        frames = frames_of(await events_until(session, finished))
        jaws = [decode_keyframes(frame.data)[0].jaw_pose[0] for frame in frames]
        assert jaws[0] < 0.05 < jaws[-1]
        assert len(decode_keyframes(frames[0].data)[0].expression) == 100


@run_async
async def test_a_request_of_only_an_end_marker_gets_one_end_frame() -> None:
    async with Emulator(realtime=False) as emu, connect(config_for(emu)) as session:
        await session.send_audio(b"", end=True)
        frames = frames_of(await events_until(session, finished))
        assert [frame.end for frame in frames] == [True]
        assert decode_keyframes(frames[0].data) == ()


@run_async
async def test_real_time_pacing_spreads_frames_over_the_audio_duration() -> None:
    async with Emulator() as emu, connect(config_for(emu)) as session:
        started = time.monotonic()
        await session.send_audio(tone(0.4), end=True)
        frames = frames_of(await events_until(session, finished))
        assert len(frames) == 10
        assert time.monotonic() - started >= 0.35


@run_async
async def test_agora_egress_sends_control_frames_and_records_the_audio() -> None:
    audio = tone(0.6)
    agora = AgoraEgress(channel_name="room-1", token="agora-SECRET", uid=42, publisher_id="bot")
    async with Emulator(realtime=False) as emu, connect(config_for(emu, agora=agora)) as session:
        req_id = await session.send_audio(audio[:6400])
        await session.send_audio(audio[6400:], end=True)
        events = await events_until(session, finished)
        frames = frames_of(events)
        assert [frame.end for frame in frames] == [False, True]
        assert all(decode_keyframes(frame.data) == () for frame in frames)
        # The repeated drain end arrives too (the client dedupes it).
        more = await events_until(session, lambda e: isinstance(e, PlaybackState) and e.state == 3)
        assert [frame.end for frame in frames_of(more)] == [True]
        record = emu.egress()
        (publisher,) = record["agora"]["room-1"]
        assert publisher["publisher_id"] == "bot" and publisher["uid"] == 42
        assert publisher["token_present"] is True
        assert "agora-SECRET" not in json.dumps(record)
        (request,) = publisher["requests"]
        assert request["req_id"] == req_id
        assert request["audio_sha256"] == hashlib.sha256(audio).hexdigest()
        assert request["audio_seconds"] == 0.6 and request["audio_bytes"] == len(audio)
        assert request["keyframes"] == 15 and request["completed"] is True
        status, payload = await http(emu, "GET", "/emulator/egress")
        assert status == 200 and json.loads(payload) == emu.egress()


@run_async
async def test_livekit_egress_without_repeat_sends_one_drain_end() -> None:
    livekit = LiveKitEgress(url="wss://lk.example", room_name="studio", api_token="lk-token")
    async with (
        Emulator(realtime=False, repeat_drain_end=False, capabilities=()) as emu,
        connect(config_for(emu, livekit=livekit)) as session,
    ):
        await session.send_audio(tone(0.2), end=True)
        await session.send_audio(tone(0.2), end=True)
        events = await events_until(session, finished, 5)
        events += await events_until(session, finished)
        assert [frame.end for frame in frames_of(events)] == [False, True, False, True]
        (publisher,) = emu.egress()["livekit"]["studio"]
        assert publisher["uid"] is None and len(publisher["requests"]) == 2


@run_async
async def test_egress_drain_end_waits_for_the_audio_to_play_out() -> None:
    agora = AgoraEgress(channel_name="paced")
    async with Emulator() as emu, connect(config_for(emu, agora=agora)) as session:
        started = time.monotonic()
        await session.send_audio(tone(0.3), end=True)
        await events_until(session, finished)
        assert time.monotonic() - started >= 0.28


@run_async
async def test_interrupt_stops_the_request_frames_within_one_frame() -> None:
    async with Emulator() as emu, connect(config_for(emu)) as session:
        req_id = await session.send_audio(tone(2.0), end=True)
        await events_until(session, lambda e: isinstance(e, AnimationFrame), 5)
        assert await session.interrupt() == req_id
        interrupted_at = time.monotonic()
        events = await events_until(
            session,
            lambda e: isinstance(e, PlaybackState) and e.state is PlaybackStateKind.INTERRUPTED,
        )
        assert len(frames_of(events)) <= 1
        assert time.monotonic() - interrupted_at < 0.2
        # Nothing more for that request; the next request plays.
        next_id = await session.send_audio(tone(0.2), end=True)
        events = await events_until(session, finished)
        assert {frame.req_id for frame in frames_of(events)} == {next_id}


@run_async
async def test_interrupt_is_recorded_in_the_egress_sink() -> None:
    agora = AgoraEgress(channel_name="barge-in")
    async with Emulator() as emu, connect(config_for(emu, agora=agora)) as session:
        await session.send_audio(tone(1.0), end=True)
        await events_until(session, lambda e: isinstance(e, AnimationFrame))
        await session.interrupt()
        await events_until(session, lambda e: isinstance(e, PlaybackState) and e.state == 4)
        (publisher,) = emu.egress()["agora"]["barge-in"]
        assert publisher["interrupts"] == 1
        (request,) = publisher["requests"]
        assert request["interrupted"] is True and request["completed"] is False
        assert request["keyframes"] < 25


@run_async
async def test_pause_holds_frames_and_resume_continues_with_playback_states() -> None:
    async with Emulator() as emu, connect(config_for(emu)) as session:
        req_id = await session.send_audio(tone(0.6), end=True)
        await events_until(session, lambda e: isinstance(e, AnimationFrame))
        await session.pause()
        events = await events_until(
            session, lambda e: isinstance(e, PlaybackState) and e.state == 2
        )
        paused = events[-1]
        assert isinstance(paused, PlaybackState) and paused.req_id == req_id
        sent_before = len(frames_of(events))
        held = await asyncio.wait_for(_frames_during(session, 0.25), 1)
        assert held == 0
        await session.resume()
        events = await events_until(
            session, lambda e: isinstance(e, PlaybackState) and e.state is PlaybackStateKind.ENDED
        )
        states = [e.state for e in events if isinstance(e, PlaybackState)]
        assert states == [PlaybackStateKind.PLAYING, PlaybackStateKind.ENDED]
        assert 1 + sent_before + len(frames_of(events)) == 15
        assert any(finished(e) for e in events)


async def _frames_during(session: object, seconds: float) -> int:
    from avatarwire.bindings.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    count = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await asyncio.wait_for(session.next_event(), left)
        except asyncio.TimeoutError:
            break
        count += isinstance(event, AnimationFrame)
    return count


@run_async
async def test_a_pause_longer_than_the_pause_timeout_interrupts_the_request() -> None:
    async with Emulator(pause_timeout=0.1) as emu, connect(config_for(emu)) as session:
        await session.send_audio(tone(1.0), end=True)
        await events_until(session, lambda e: isinstance(e, AnimationFrame))
        await session.pause()
        events = await events_until(
            session, lambda e: isinstance(e, PlaybackState) and e.state == 4
        )
        last = events[-1]
        assert isinstance(last, PlaybackState) and last.reason == "pause_timeout"


@run_async
async def test_idle_session_gets_the_idle_timeout_error_then_closes() -> None:
    async with Emulator(idle_timeout=0.2) as emu, connect(config_for(emu)) as session:
        events = await events_until(session, lambda e: isinstance(e, SessionClosed), 3)
        errors = [e.error for e in events if isinstance(e, ServerError)]
        assert [e.code for e in errors] == ["idleTimeout"]
        assert "no audio input for 0.2 seconds" in str(errors[0])
        closed = events[-1]
        assert isinstance(closed, SessionClosed) and closed.code == 1000


@run_async
async def test_playing_audio_keeps_the_idle_timeout_away() -> None:
    async with Emulator(idle_timeout=0.2) as emu, connect(config_for(emu)) as session:
        await session.send_audio(tone(0.5), end=True)
        events = await events_until(session, finished)
        assert not any(isinstance(e, (ServerError, SessionClosed)) for e in events)
