"""The conversation layer, scenario by scenario: what a framework sees and what is sent."""

from __future__ import annotations

import pytest

from avatarwire.core.conversation import (
    CloseSession,
    Conversation,
    FirstFrame,
    FrameReceived,
    Interrupt,
    Link,
    OpenSession,
    Output,
    Pause,
    ReconnectAfter,
    Resume,
    SegmentFinished,
    SendAudio,
    SpeakingStarted,
    SpeakingStopped,
    Stop,
    WholeSamples,
    session_rate_for,
)
from avatarwire.core.errors import AvatarError, ConfigError, ErrorCode, LocalProtocolError
from avatarwire.core.events import (
    AnimationFrame,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.request_ids import sequential_request_ids

PCM = b"\x01\x00" * 1600  # 0.1 s at 16 kHz
BOTH = frozenset({"playback_control", "playback_state"})


def layer(**options: object) -> Conversation:
    return Conversation(request_ids=sequential_request_ids(), **options)  # type: ignore[arg-type]


def ready(conv: Conversation, caps: frozenset[str] = BOTH, now: float = 0.0) -> list[Output]:
    conv.event(now, SessionReady("c", caps))
    return conv.outputs()


def of(kind: type, outputs: list[Output]) -> list:  # type: ignore[type-arg]
    return [o for o in outputs if isinstance(o, kind)]


def test_first_audio_opens_the_session_at_its_rate_and_is_sent_once_ready() -> None:
    conv = layer(egress=True)
    conv.audio(0.0, PCM[:3], 24000)  # an odd byte waits for the next chunk
    conv.audio(0.1, PCM[3:], 24000)
    assert conv.outputs() == [OpenSession(24000)]
    sent = ready(conv)
    assert [s.audio for s in of(SendAudio, sent)] == [PCM[:2], PCM[2:]]
    assert {s.req_id for s in of(SendAudio, sent)} == {"req-1"}


def test_silence_ends_the_segment_and_a_late_done_does_not_end_it_twice() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, PCM, 16000)
    conv.outputs()
    assert conv.next_deadline() == 1.5
    conv.tick(1.4)
    assert conv.outputs() == []
    conv.tick(1.5)
    assert conv.outputs() == [SendAudio("req-1", b"", end=True)]
    conv.utterance_done(1.6)
    assert conv.outputs() == []
    conv.audio(2.0, PCM, 16000)
    assert of(SendAudio, conv.outputs())[0].req_id == "req-2"


def test_barge_in_interrupts_the_latest_request_and_reports_the_true_position() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    for i in range(10):
        conv.audio(i * 0.1, PCM, 16000)
    conv.outputs()
    conv.event(0.2, PlaybackState("req-1", PlaybackStateKind.PLAYING, 0, ""))
    assert of(SpeakingStarted, conv.outputs()) == [SpeakingStarted(1, "req-1")]
    conv.barge_in(0.5)
    assert conv.outputs() == [Interrupt("req-1")]  # held for the service's position
    conv.event(0.5, RequestFinished("req-1", True))
    conv.event(0.52, PlaybackState("req-1", PlaybackStateKind.INTERRUPTED, 300, "explicit"))
    out = conv.outputs()
    assert out == [
        SpeakingStopped(1, "req-1"),
        SegmentFinished(1, "req-1", "interrupted", 1.0, 0.3),
    ]
    conv.audio(1.0, PCM, 16000)
    assert of(SendAudio, conv.outputs())[0].req_id == "req-2"


def test_without_a_playback_state_the_played_time_is_estimated_when_it_does_not_come() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, PCM * 10, 16000)
    conv.event(0.1, AnimationFrame("req-1", b"", False))
    conv.outputs()
    conv.barge_in(0.6)
    conv.outputs()
    assert conv.next_deadline() == pytest.approx(2.6)
    conv.tick(2.6)
    finished = of(SegmentFinished, conv.outputs())
    assert finished == [SegmentFinished(1, "req-1", "interrupted", 1.0, pytest.approx(0.5))]


def test_pause_is_native_when_declared_and_an_interrupt_otherwise() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, PCM, 16000)
    conv.outputs()
    assert conv.can_pause
    conv.pause(0.1)
    conv.pause(0.15)  # already paused
    conv.tick(5.0)  # no silence end while paused
    conv.resume(5.0)
    assert [o for o in conv.outputs() if not isinstance(o, SendAudio)] == [
        Pause("req-1"),
        Resume("req-1"),
    ]
    plain = layer(egress=True, sample_rate=16000)
    plain.start(0.0)
    ready(plain, frozenset())
    plain.audio(0.0, PCM, 16000)
    plain.outputs()
    plain.pause(0.1)
    out = plain.outputs()
    assert Interrupt("req-1") in out
    assert of(SegmentFinished, out)[0].reason == "interrupted"
    plain.resume(0.2)
    assert plain.outputs() == []


def test_a_pause_timeout_ends_the_request_and_new_audio_starts_another() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, PCM, 16000)
    conv.outputs()
    conv.event(1.0, PlaybackState("req-1", PlaybackStateKind.INTERRUPTED, 100, "pause_timeout"))
    out = conv.outputs()
    assert out[0] == SendAudio("req-1", b"", end=True)
    assert of(SegmentFinished, out) == [SegmentFinished(1, "req-1", "pause_timeout", 0.1, 0.1)]


def test_frames_are_handed_on_without_egress_with_the_time_to_the_first() -> None:
    conv = layer(egress=False, sample_rate=16000)
    conv.start(0.0)
    ready(conv, frozenset())
    conv.audio(1.0, PCM, 16000)
    conv.utterance_done(1.1)
    conv.outputs()
    frame = AnimationFrame("req-1", b"motion", False)
    conv.event(1.25, frame)
    conv.event(1.3, AnimationFrame("other", b"x", False))  # not ours: ignored
    out = conv.outputs()
    assert out[0] == FrameReceived(1, frame)
    assert out[2] == FirstFrame(1, "req-1", pytest.approx(0.25))
    conv.event(1.3, RequestFinished("req-1", False))
    conv.event(1.3, RequestFinished("req-1", False))  # repeated: once only
    assert of(SegmentFinished, conv.outputs()) == [
        SegmentFinished(1, "req-1", "completed", 0.1, 0.1)
    ]


def test_a_lost_session_reconnects_with_growing_delays_then_gives_up() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, PCM, 16000)
    conv.outputs()
    lost = AvatarError("reset", code=ErrorCode.CONNECTION_CLOSED)
    conv.event(0.1, SessionClosed(None, "", lost))
    out = conv.outputs()
    assert of(SegmentFinished, out)[0].reason == "lost"
    assert of(ReconnectAfter, out) == [ReconnectAfter(0.5, lost)]
    conv.audio(0.2, PCM, 16000)  # the rest of the utterance waits for the new session
    conv.tick(0.6)
    assert conv.outputs() == [OpenSession(16000)]
    delays = []
    for _ in range(4):
        conv.open_failed(1.0, lost)
        delays.extend(o.delay for o in of(ReconnectAfter, conv.outputs()))
        conv.tick(100.0)
        conv.outputs()
    assert delays == [1.0, 2.0, 4.0, 8.0]
    conv.open_failed(200.0, lost)
    assert of(Stop, conv.outputs()) == [Stop(lost)]
    assert conv.link is Link.STOPPED


def test_an_error_that_retrying_cannot_fix_stops_at_once() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    fatal = AvatarError("out of credits", code=ErrorCode.CREDITS_EXHAUSTED)
    conv.open_failed(0.1, fatal)
    assert conv.outputs()[-1] == Stop(fatal)
    conv.audio(0.2, PCM, 16000)
    assert conv.outputs() == []


def test_after_an_idle_timeout_the_session_reopens_only_when_audio_comes() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    idle = AvatarError("no audio input for 60 seconds", code=ErrorCode.IDLE_TIMEOUT)
    conv.event(60.0, ServerError(idle))
    conv.event(60.0, SessionClosed(1000, "idle timeout", None))
    assert conv.outputs() == [] and conv.link is Link.NONE
    conv.tick(500.0)
    assert conv.outputs() == []
    conv.audio(600.0, PCM, 16000)
    assert conv.outputs() == [OpenSession(16000)]
    assert of(SendAudio, ready(conv, now=600.1))[0].req_id == "req-1"


def test_finish_closes_once_everything_played_and_cancel_closes_now() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, PCM, 16000)
    conv.finish(0.1)
    assert of(CloseSession, conv.outputs()) == []
    conv.event(0.3, RequestFinished("req-1", False))
    conv.event(0.3, PlaybackState("req-1", PlaybackStateKind.ENDED, 100, ""))
    out = conv.outputs()
    assert isinstance(out[-1], CloseSession)
    conv.event(0.4, SessionClosed(1000, "", None))
    assert conv.outputs() == [Stop(None)]
    other = layer(egress=True, sample_rate=16000)
    other.start(0.0)
    ready(other)
    other.audio(0.0, PCM, 16000)
    other.cancel(0.1)
    out = other.outputs()
    assert of(SegmentFinished, out)[0].reason == "lost"
    assert isinstance(out[-1], CloseSession)


def test_audio_the_session_rate_cannot_take_needs_a_converter() -> None:
    conv = layer(egress=True, sample_rate=16000)
    with pytest.raises(ConfigError, match="resample"):
        conv.audio(0.0, PCM, 24000)
    with pytest.raises(ConfigError, match="sample_rate"):
        layer(egress=True, sample_rate=11025)
    with pytest.raises(LocalProtocolError, match="sample_rate"):
        layer(egress=True).start(0.0)
    made: list[tuple[int, int, int]] = []

    def factory(src: int, dst: int, channels: int) -> WholeSamples:
        made.append((src, dst, channels))
        return WholeSamples()

    conv = layer(egress=True, sample_rate=16000, converters=factory)
    conv.audio(0.0, PCM, 24000, channels=2)
    conv.audio(0.1, PCM, 16000)  # a new format is a new segment
    assert made == [(24000, 16000, 2)]
    assert [session_rate_for(r) for r in (11025, 16000, 96000)] == [16000, 16000, 48000]


class HoldsATail:
    """A converter with a delay line: its last chunk comes out only on flush."""

    def __init__(self) -> None:
        self.held = b""

    def convert(self, audio: bytes) -> bytes:
        out, self.held = self.held, audio
        return out

    def flush(self) -> bytes:
        out, self.held = self.held, b""
        return out


def test_the_converters_tail_goes_out_with_the_end_of_its_segment() -> None:
    conv = layer(egress=True, sample_rate=16000, converters=lambda a, b, c: HoldsATail())
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, b"\x01\x00" * 4, 8000)
    conv.audio(0.1, b"\x02\x00" * 4, 8000)
    conv.utterance_done(0.2)
    assert conv.outputs() == [
        SendAudio("req-1", b"\x01\x00" * 4),
        SendAudio("req-1", b"\x02\x00" * 4),
        SendAudio("req-1", b"", end=True),
    ]


def test_a_segment_with_no_whole_sample_finishes_empty_and_sends_nothing() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv)
    conv.audio(0.0, b"\x01", 16000)
    conv.utterance_done(0.1)
    out = conv.outputs()
    assert out == [SegmentFinished(1, None, "empty", 0.0, 0.0)]
    assert not out[0].interrupted  # type: ignore[attr-defined]


def test_time_paused_does_not_count_as_played() -> None:
    conv = layer(egress=True, sample_rate=16000)
    conv.start(0.0)
    ready(conv, frozenset({"playback_control"}))
    conv.audio(0.0, PCM * 10, 16000)
    conv.event(0.1, AnimationFrame("req-1", b"", False))
    assert conv.speaking and conv.capabilities == {"playback_control"}
    conv.pause(0.3)
    conv.resume(0.8)
    conv.pause(0.9)
    conv.barge_in(1.0)
    finished = of(SegmentFinished, conv.outputs())
    assert finished == [SegmentFinished(1, "req-1", "interrupted", 1.0, pytest.approx(0.3))]
    assert finished[0].interrupted and conv.sample_rate == 16000


def test_a_reconnect_is_due_at_its_delay_and_audio_meanwhile_waits() -> None:
    conv = layer(egress=True, sample_rate=16000, silence_timeout=10.0)
    conv.start(0.0)
    ready(conv)
    lost = AvatarError("reset", code=ErrorCode.CONNECTION_CLOSED)
    conv.event(1.0, SessionClosed(None, "", lost))
    conv.outputs()
    conv.audio(1.1, PCM, 16000)
    conv.pause(1.2)  # no session: the pause waits for one that can hold playout
    assert conv.next_deadline() == 1.5
    conv.tick(1.5)
    assert conv.outputs() == [OpenSession(16000)]
    assert ready(conv, now=1.6) == [SendAudio("req-1", PCM), Pause("req-1")]
    with pytest.raises(ConfigError, match="silence_timeout"):
        layer(egress=True, silence_timeout=0)
