"""The pure parts of ``avatarwire speak``: the plan, the script that walks it, mixing down."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatarwire.cli.audio import AudioFileError, mix_down, read_raw_pcm
from avatarwire.cli.plan import AudioChunk, InterruptStep, plan_stream
from avatarwire.cli.script import Finish, StreamRequest, StreamScript, Wait
from avatarwire.cli.tally import RunTally
from avatarwire.core.events import RequestFinished

RATES = st.sampled_from([8000, 16000, 22050, 48000])


def _chunks(plan_steps: tuple[object, ...]) -> list[AudioChunk]:
    return [step for step in plan_steps if isinstance(step, AudioChunk)]


@settings(deadline=None)  # building 30000 samples is slow on a loaded machine, not wrong
@given(
    samples=st.integers(1, 30000),
    rate=RATES,
    chunk_ms=st.integers(1, 500),
    split_every=st.none() | st.floats(0.01, 3.0),
    interrupt_after=st.none() | st.floats(0.001, 5.0),
)
def test_the_plan_sends_each_request_s_audio_once_in_order_within_chunk_size(
    samples: int, rate: int, chunk_ms: int, split_every: float | None, interrupt_after: float | None
) -> None:
    pcm = b"".join(struct.pack("<h", i % 32768) for i in range(samples))

    plan = plan_stream(
        pcm, rate, chunk_ms=chunk_ms, split_every=split_every, interrupt_after=interrupt_after
    )

    chunk_bytes = max(1, rate * chunk_ms // 1000) * 2
    chunks = _chunks(plan.steps)
    assert all(0 < len(chunk.audio) <= chunk_bytes for chunk in chunks)
    for request in plan.requests:
        mine = [chunk for chunk in chunks if chunk.request == request.index]
        assert sum(len(chunk.audio) for chunk in mine) == request.audio_bytes
        ends = [chunk.end for chunk in mine]
        ending = [] if request.cut_by_interrupt else [True]
        assert ends == [False] * (len(mine) - len(ending)) + ending
    if interrupt_after is None:  # everything goes out in order, byte for byte
        assert b"".join(chunk.audio for chunk in chunks) == pcm
    times = [step.at for step in plan.steps]
    assert times == sorted(times)
    interrupts = [step for step in plan.steps if isinstance(step, InterruptStep)]
    assert len(interrupts) == (interrupt_after is not None)


@given(samples=st.integers(2, 20000), rate=RATES, interrupt_after=st.floats(0.001, 3.0))
def test_the_interrupt_follows_the_audio_before_it_and_targets_its_request(
    samples: int, rate: int, interrupt_after: float
) -> None:
    pcm = b"\x01\x00" * samples

    plan = plan_stream(pcm, rate, split_every=0.5, interrupt_after=interrupt_after)

    position = plan.steps.index(next(s for s in plan.steps if isinstance(s, InterruptStep)))
    interrupt = plan.steps[position]
    assert isinstance(interrupt, InterruptStep)
    before = _chunks(plan.steps[:position])
    after = _chunks(plan.steps[position + 1 :])
    cut = max(1, round(interrupt_after * rate))
    assert sum(len(chunk.audio) for chunk in before) == min(cut, samples) * 2
    assert interrupt.request == before[-1].request
    assert all(chunk.request > interrupt.request for chunk in after)


def test_a_fast_plan_is_due_at_once_and_a_paced_one_on_the_audio_s_timeline() -> None:
    pcm = b"\x00\x00" * 16000  # 1 s at 16 kHz

    paced = plan_stream(pcm, 16000, chunk_ms=250)
    fast = plan_stream(pcm, 16000, chunk_ms=250, realtime=False)

    assert [step.at for step in paced.steps] == [0.0, 0.25, 0.5, 0.75]
    assert [step.at for step in fast.steps] == [0.0] * 4
    assert [step.end for step in _chunks(fast.steps)] == [False, False, False, True]


def test_an_interrupt_past_the_end_targets_the_last_request_after_its_end() -> None:
    plan = plan_stream(b"\x00\x00" * 8000, 16000, interrupt_after=2.0)

    *chunks, interrupt = plan.steps
    assert interrupt == InterruptStep(0, 2.0)
    assert _chunks(tuple(chunks))[-1].end is True
    assert plan.requests[0].cut_by_interrupt is False


def test_the_script_streams_each_request_then_waits_for_the_requests_then_gives_up() -> None:
    plan = plan_stream(b"\x00\x00" * 800, 8000, chunk_ms=50)  # 0.1 s in two chunks
    tally = RunTally(plan)
    script = StreamScript(tally, drain_timeout=1.0, stop_requested=lambda: False)

    stream = script.next_action(0.0)  # at once: the pacer sends each chunk when due
    assert isinstance(stream, StreamRequest) and stream.end
    assert [chunk.at for chunk in stream.chunks] == [0.0, 0.05]
    for chunk in stream.chunks:
        tally.sent(chunk, None)
    tally.named(stream.request, "req-1")
    assert script.next_action(0.1) == Wait(0.1)  # draining, in slices
    assert script.next_action(1.1) == Finish()
    assert [error.code for error in tally.errors] == ["timeout"]


def test_the_script_interrupts_when_due_between_streams() -> None:
    plan = plan_stream(b"\x00\x00" * 1600, 8000, chunk_ms=50, split_every=0.1, interrupt_after=0.05)
    script = StreamScript(RunTally(plan), drain_timeout=1.0, stop_requested=lambda: False)

    cut = script.next_action(0.0)
    assert isinstance(cut, StreamRequest) and not cut.end and len(cut.chunks) == 1
    wait = script.next_action(0.01)
    assert isinstance(wait, Wait) and wait.seconds == pytest.approx(0.04)
    assert script.next_action(0.05) == InterruptStep(0, 0.05)
    rest = script.next_action(0.06)
    assert isinstance(rest, StreamRequest) and rest.request == 1 and rest.at == pytest.approx(0.1)


def test_the_script_finishes_when_requests_finish_or_the_user_stops() -> None:
    plan = plan_stream(b"\x00\x00" * 800, 8000, chunk_ms=100, realtime=False)
    tally = RunTally(plan)
    stop = False
    script = StreamScript(tally, drain_timeout=5.0, stop_requested=lambda: stop)

    stream = script.next_action(0.0)
    assert isinstance(stream, StreamRequest)
    tally.sent(stream.chunks[0], None)
    assert isinstance(script.next_action(0.0), Wait)
    tally.observe(RequestFinished("req-1", interrupted=False))  # names the streamed request
    assert script.next_action(0.1) == Finish()
    assert tally.requests[0].completed and tally.errors == []
    assert tally.requests[0].req_id == "req-1"

    stop = True
    assert StreamScript(RunTally(plan), 5.0, lambda: stop).next_action(0.0) == Finish()


def test_events_that_arrive_before_their_req_id_is_known_still_count() -> None:
    plan = plan_stream(b"\x00\x00" * 80, 8000, realtime=False)
    tally = RunTally(plan)
    chunk = _chunks(plan.steps)[0]

    tally.observe(RequestFinished("req-1", interrupted=True))
    tally.sent(chunk, "req-1")

    assert tally.requests[0].interrupted is True


def test_mixing_down_averages_the_channels() -> None:
    stereo = struct.pack("<6h", 100, 300, -100, -300, 32767, 32767)

    assert struct.unpack("<3h", mix_down(stereo, 2)) == (200, -200, 32767)


def test_raw_pcm_must_hold_whole_samples() -> None:
    with pytest.raises(AudioFileError, match="not a whole number of 16-bit samples"):
        read_raw_pcm(b"\x00\x00\x00", 16000, "odd.pcm")
