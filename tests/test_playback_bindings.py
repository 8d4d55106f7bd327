"""Pause, resume and playback states through each binding, against the emulator
(Agora egress, today's playback capabilities, a short pause limit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binding_adapters import BINDINGS, Api, Session, api_for

from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
)
from avatarwire.emulator import EmulatorThread

TENTH = bytes(3200)  # 0.1 s of 16 kHz PCM
K = PlaybackStateKind


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(pause_timeout=0.3) as running:
        yield running


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


def config_for(emu: EmulatorThread, channel: str) -> SessionConfig:
    return SessionConfig(
        api_key=emu.api_key,
        app_id=emu.app_id,
        avatar_id=emu.avatar_id,
        console_url=emu.console_url,
        ingress_url=emu.ingress_url,
        agora=AgoraEgress(channel),
    )


async def next_state(session: Session, seen: list[Event]) -> PlaybackState:
    while True:
        event = await session.next_event()
        seen.append(event)
        if isinstance(event, PlaybackState):
            return event


def test_a_pause_held_too_long_finishes_the_request_once_as_interrupted(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> tuple[str, list[Event], bool]:
        seen: list[Event] = []
        async with api.connect(config_for(emu, f"pause-{api.name}")) as session:
            assert {"playback_control", "playback_state"} <= session.capabilities
            req_id = await session.send_audio(TENTH * 10)
            playing = await next_state(session, seen)
            assert (playing.req_id, playing.state) == (req_id, K.PLAYING)
            assert await api.call(session.raw.pause) == req_id
            paused = await next_state(session, seen)
            assert (paused.req_id, paused.state) == (req_id, K.PAUSED)
            # Audio goes on while paused, end included, under the same request.
            assert await session.send_audio(TENTH * 2, end=True) == req_id
            timed_out = await next_state(session, seen)
            assert (timed_out.state, timed_out.reason) == (K.INTERRUPTED, "pause_timeout")
            await session.wait_until(lambda: session.request(req_id).finished)  # type: ignore[union-attr]
            status = session.request(req_id)
            assert status is not None
            await session.close()
            seen += await session.events_until_closed()
            return req_id, seen, status.interrupted

    req_id, seen, interrupted = api.run(scenario)
    assert interrupted
    assert [e for e in seen if isinstance(e, RequestFinished)] == [
        RequestFinished(req_id, interrupted=True)
    ]
    frames = [e for e in seen if isinstance(e, AnimationFrame)]
    assert all(not frame.has_animation for frame in frames)  # egress: control signals only
