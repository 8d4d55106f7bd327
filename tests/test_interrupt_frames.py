"""After ``interrupt()`` returns, no frame of the interrupted request reaches the caller.

The emulator (not paced) bursts a request's frames as its audio arrives, so when the
caller interrupts, frames of it wait in the binding's queue and in the socket; every
binding must drop them all and count them in the request's ``frames_dropped``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from binding_adapters import BINDINGS, UVLOOP, Api, Session, api_for

from avatarwire.bindings._base import SessionBase
from avatarwire.core import codec
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    PlaybackState,
    RequestFinished,
    SessionClosed,
)
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.emulator import EmulatorThread

#: Seconds of silence-free audio in the interrupted request: far more frames than
#: arrive before the interrupt.
SECONDS = 8
PCM = b"\x10\x27\xf0\xd8" * (16000 * SECONDS // 2)


@pytest.fixture(params=(*BINDINGS, UVLOOP))
def api(request: pytest.FixtureRequest) -> Api:
    """Each binding; asyncio once more on uvloop, where it is installed."""
    return api_for(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as running:
        yield running


async def events_until_finished(session: Session, req_id: str) -> list[Event]:
    events: list[Event] = []
    while not (events and isinstance(events[-1], RequestFinished) and events[-1].req_id == req_id):
        events.append(await session.next_event())
        assert not isinstance(events[-1], SessionClosed), events[-1]
    return events


def test_frames_queued_for_iteration_are_purged_and_later_ones_dropped(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(emu.session_config()) as session:
            first = await session.send_audio(PCM, end=True)
            status = session.request(first)
            assert status is not None
            await session.wait_until(lambda: status.frames >= 20)  # queued, nobody reads
            assert await session.interrupt() == first
            after = await events_until_finished(session, first)
            # The next request's frames come after every frame of the first on the socket.
            second = await session.send_audio(PCM[:32000], end=True)
            after += await events_until_finished(session, second)
            assert not [e for e in after if isinstance(e, AnimationFrame) and e.req_id == first]
            assert [e for e in after if isinstance(e, AnimationFrame) and e.req_id == second]
            assert status.frames >= 20 and status.frames_dropped == status.frames
            assert session.raw.interrupted_frames_dropped == status.frames
            await session.close()

    api.run(scenario)


def test_callbacks_get_no_frame_of_the_request_once_interrupt_returns(
    api: Api, emu: EmulatorThread
) -> None:
    seen: list[tuple[str, bool]] = []  # (req_id, whether interrupt() had returned)
    returned = False

    def on_frame(data: bytes, end: bool) -> None:
        req_id = codec.decode_message(data).server_response_animation.req_id
        seen.append((req_id, returned))

    async def scenario(api: Api) -> tuple[str, str, int, int]:
        nonlocal returned
        async with api.connect(
            emu.session_config(), transport_frames=on_frame, queue_events=False
        ) as session:
            first = await session.send_audio(PCM, end=True)
            await session.wait_until(lambda: bool(seen))
            assert await session.interrupt() == first
            returned = True
            second = await session.send_audio(PCM[:32000], end=True)
            done = session.request(second)
            assert done is not None
            await session.wait_until(lambda: done.finished)
            status = session.request(first)
            assert status is not None
            delivered = sum(1 for req_id, _ in seen if req_id == first)
            await session.close()
            return first, second, delivered, status.frames - status.frames_dropped

    first, second, delivered, kept = api.run(scenario)
    assert (first, True) not in seen
    assert (second, True) in seen
    assert delivered == kept  # every frame of it is either handed on or counted dropped


@pytest.mark.parametrize("frame_lane", [True, False])
def test_the_frame_lane_hands_on_what_the_general_delivery_does(
    api: Api, emu: EmulatorThread, frame_lane: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames reach callbacks and the queue the same way with the binding's frame lane
    on or off: the same calls, the same iterated events, the same counts."""
    monkeypatch.setattr(SessionBase, "_frame_lane", frame_lane)
    calls: list[tuple[bytes, bool]] = []

    async def scenario(api: Api) -> tuple[list[object], int, list[int]]:
        async with api.connect(
            emu.session_config(),
            transport_frames=lambda data, end: calls.append((data, end)),
            request_ids=sequential_request_ids(),
        ) as session:
            first = await session.send_audio(PCM[:64000], end=True)
            second = await session.send_audio(PCM[:32000], end=True)
            statuses = [session.request(first), session.request(second)]
            await session.wait_until(lambda: all(s is not None and s.finished for s in statuses))
            assert await session.interrupt() == second  # its queued frames go
            await session.close()
            events = await session.events_until_closed()
            dropped = [s.frames_dropped for s in statuses if s is not None]
            named = session.connection_id or ""
            seen = [describe(e, named) for e in events]
            return seen, session.raw.interrupted_frames_dropped, dropped

    events, total, dropped = api.run(scenario)
    assert sum(isinstance(e, tuple) and e[0] == "frame" for e in events) == 50
    assert total == 25 and dropped == [0, 25]
    assert len(calls) == 75 and [end for _, end in calls].count(True) == 2
    # Playback states interleave with frames as the emulator's timing has it: left out.
    events = [e for e in events if not isinstance(e, PlaybackState)]
    assert (events, len(calls)) == EXPECTED.setdefault(api.name, (events, len(calls)))


#: What the first run of the lane test saw per binding, for the other run to match.
EXPECTED: dict[str, tuple[list[object], int]] = {}


def describe(event: Event, connection_id: str) -> object:
    """An event without this run's connection id."""
    if isinstance(event, AnimationFrame):
        data = event.data.replace(connection_id.encode(), b"<connection>")
        return ("frame", event.req_id, event.end, event.has_animation, data)
    if isinstance(event, SessionClosed):
        return ("closed", event.code, event.error)
    if hasattr(event, "connection_id"):
        return dataclasses.replace(event, connection_id="")
    return event
