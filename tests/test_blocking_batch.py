"""The README's blocking batch pattern with long audio: send everything without
reading a single event, then wait for the request. It must neither fail nor lose
the request's progress (the emulator answers as fast as it can, not in real time)."""

from __future__ import annotations

from avatarwire.bindings.blocking import connect
from avatarwire.core.events import AnimationFrame, RequestFinished, SessionClosed
from avatarwire.emulator import EmulatorThread

SECONDS = 240
SAMPLE_RATE = 16000
CHUNK = b"\x01\x02" * (SAMPLE_RATE // 10)  # 100 ms
FRAMES_PER_SECOND = 25


def test_a_240_second_batch_that_reads_no_events_finishes_its_request() -> None:
    with EmulatorThread(realtime=False) as emu, connect(emu.session_config()) as session:
        for _ in range(SECONDS * 10):
            session.send_audio(CHUNK)  # never deadlocks, even if you read no events
        req_id = session.send_audio(b"", end=True)
        status = session.wait_for_request(req_id)

        assert status.finished and not status.interrupted
        assert status.audio_bytes == SECONDS * SAMPLE_RATE * 2
        assert status.frames == SECONDS * FRAMES_PER_SECOND
        events = [session.next_event(timeout=5)]
        while not isinstance(events[-1], RequestFinished):
            events.append(session.next_event(timeout=5))
        frames = [e for e in events if isinstance(e, AnimationFrame)]
        # The queue kept the first frames, in order; the rest were counted.
        assert len(frames) + session.dropped_frames == status.frames
        assert all(f.req_id == req_id for f in frames) and not frames[-1].end
        assert events[-1] == RequestFinished(req_id, interrupted=False)
    closed = list(session)[-1]
    assert isinstance(closed, SessionClosed) and closed.error is None


def test_a_batch_that_takes_frames_through_a_callback_gets_every_one() -> None:
    seen: list[bool] = []
    with (
        EmulatorThread(realtime=False) as emu,
        connect(emu.session_config(), transport_frames=lambda data, end: seen.append(end)) as s,
    ):
        for _ in range(SECONDS * 10):
            s.send_audio(CHUNK)
        status = s.wait_for_request(s.send_audio(b"", end=True))
    assert status.frames == len(seen) == SECONDS * FRAMES_PER_SECOND
    assert seen[-1] and not any(seen[:-1])
