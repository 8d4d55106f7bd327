"""Random framework and session histories against the conversation layer.

Invariants checked after every step (and at teardown, after a cancel):

- every segment is reported finished exactly once, oldest first, and at the end
  every segment that was started is finished;
- the audio of a segment goes to one req_id, never reused, in order: every chunk
  sent is the next unsent piece of what the framework gave (no byte duplicated,
  none reordered), and nothing goes to a request after its end;
- no audio, interrupt, pause or resume is asked for while no session is ready;
- pause and resume are asked for only when the session declared ``playback_control``;
- a reconnect comes only after a retryable error, its delay is within the policy's
  bounds, and at most ``max_attempts - 1`` reconnects follow one another;
- speaking starts at most once per segment and stops only after it started;
- the played duration of a segment is never more than its audio;
- ``Stop`` comes at most once, and no action follows it.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from avatarwire.core.conversation import (
    DEFAULT_RECONNECT,
    Action,
    CloseSession,
    Conversation,
    FirstFrame,
    Interrupt,
    Link,
    OpenSession,
    Pause,
    ReconnectAfter,
    Resume,
    SegmentFinished,
    SendAudio,
    SpeakingStarted,
    SpeakingStopped,
    Stop,
)
from avatarwire.core.errors import AvatarError, ErrorCode, Retry
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

RATE = 16000
ERROR_CODES = [
    ErrorCode.CONNECTION_CLOSED,
    ErrorCode.UPSTREAM_ERROR,
    ErrorCode.CONCURRENCY_LIMIT,
    ErrorCode.CREDITS_EXHAUSTED,
    ErrorCode.SESSION_DURATION_EXCEEDED,
    ErrorCode.IDLE_TIMEOUT,
    ErrorCode.APP_ID_MISMATCH,
]
MAX_DELAY = max(DEFAULT_RECONNECT.max_delay, DEFAULT_RECONNECT.later_delay)


class ConversationMachine(RuleBasedStateMachine):
    """A framework and a session that do anything, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.egress = True
        self.layer = Conversation(request_ids=sequential_request_ids(), egress=self.egress)
        self.now = 0.0
        self.given = bytearray()  # every audio byte the framework handed over
        self.position = 0  # how far into ``given`` the sends have reached
        self.counter = 0
        self.ready = False
        self.opening = False
        self.capabilities: frozenset[str] = frozenset()
        self.req_of_segment: dict[int, str] = {}
        self.ended_reqs: set[str] = set()
        self.used_reqs: list[str] = []
        self.live_reqs: list[str] = []  # requests of the current session
        self.finished: list[int] = []
        self.started: set[int] = set()
        self.stopped_speaking: set[int] = set()
        self.segments_seen: set[int] = set()
        self.stops = 0
        self.reconnects_in_a_row = 0
        self.last_error: AvatarError | None = None

    @initialize(egress=st.booleans())
    def choose_mode(self, egress: bool) -> None:
        self.egress = egress
        self.layer = Conversation(request_ids=sequential_request_ids(), egress=egress)

    # --- the framework -------------------------------------------------------------

    @rule(samples=st.integers(1, 400))
    def audio(self, samples: int) -> None:
        chunk = b"".join(((self.counter + i) % 65536).to_bytes(2, "little") for i in range(samples))
        self.counter += samples
        if self.layer.link is not Link.STOPPED:
            self.given += chunk
        self.layer.audio(self.now, chunk, RATE)
        self.drain()

    @rule()
    def utterance_done(self) -> None:
        self.layer.utterance_done(self.now)
        self.drain()

    @rule()
    def barge_in(self) -> None:
        self.layer.barge_in(self.now)
        self.drain()

    @rule()
    def pause(self) -> None:
        self.layer.pause(self.now)
        self.drain()

    @rule()
    def resume(self) -> None:
        self.layer.resume(self.now)
        self.drain()

    @rule(seconds=st.sampled_from([0.01, 0.2, 1.0, 1.6, 5.0, 20.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.layer.tick(self.now)
        self.drain()

    @rule()
    def finish(self) -> None:
        self.layer.finish(self.now)
        self.drain()

    # --- the session ----------------------------------------------------------------

    @precondition(lambda self: self.opening)
    @rule(caps=st.sampled_from([(), ("playback_state",), ("playback_control", "playback_state")]))
    def session_ready(self, caps: tuple[str, ...]) -> None:
        self.opening, self.ready = False, True
        self.capabilities = frozenset(caps)
        self.live_reqs = []
        self.layer.event(self.now, SessionReady("conn", self.capabilities))
        self.drain()

    @precondition(lambda self: self.opening)
    @rule(code=st.sampled_from(ERROR_CODES))
    def open_fails(self, code: ErrorCode) -> None:
        self.opening = False
        self.last_error = AvatarError("refused", code=code)
        self.layer.open_failed(self.now, self.last_error)
        self.drain()

    @precondition(lambda self: self.ready and self.live_reqs)
    @rule(data=st.data(), end=st.booleans(), repeat=st.booleans())
    def frame(self, data: st.DataObject, end: bool, repeat: bool) -> None:
        req_id = data.draw(st.sampled_from(self.live_reqs))
        for _ in range(2 if repeat else 1):
            self.layer.event(self.now, AnimationFrame(req_id, b"f", end))
        self.drain()

    @precondition(lambda self: self.ready and self.live_reqs)
    @rule(
        data=st.data(),
        state=st.sampled_from(list(PlaybackStateKind)),
        reason=st.sampled_from(["", "explicit", "preempted", "pause_timeout"]),
        played_ms=st.integers(0, 60_000),
    )
    def playback(
        self, data: st.DataObject, state: PlaybackStateKind, reason: str, played_ms: int
    ) -> None:
        req_id = data.draw(st.sampled_from(self.live_reqs))
        self.layer.event(self.now, PlaybackState(req_id, state, played_ms, reason))
        self.drain()

    @precondition(lambda self: self.ready and self.live_reqs)
    @rule(data=st.data(), interrupted=st.booleans(), repeat=st.booleans())
    def request_finished(self, data: st.DataObject, interrupted: bool, repeat: bool) -> None:
        req_id = data.draw(st.sampled_from(self.live_reqs))
        for _ in range(2 if repeat else 1):
            self.layer.event(self.now, RequestFinished(req_id, interrupted))
        self.drain()

    @precondition(lambda self: self.ready)
    @rule()
    def idle_timeout(self) -> None:
        error = AvatarError("no audio input for 60 seconds", code=ErrorCode.IDLE_TIMEOUT)
        self.layer.event(self.now, ServerError(error))
        self.close_session(None)

    @precondition(lambda self: self.ready)
    @rule(code=st.sampled_from([*ERROR_CODES, None]))
    def session_lost(self, code: ErrorCode | None) -> None:
        self.last_error = None if code is None else AvatarError("lost", code=code)
        self.close_session(self.last_error)

    def close_session(self, error: AvatarError | None) -> None:
        self.ready = False
        for req_id in self.live_reqs:
            self.layer.event(self.now, RequestFinished(req_id, True))
        self.live_reqs = []
        self.layer.event(self.now, SessionClosed(1000 if error is None else None, "", error))
        self.drain()

    # --- checking what comes out --------------------------------------------------

    def drain(self) -> None:
        for out in self.layer.outputs():
            if isinstance(out, Action):
                assert self.stops == 0, f"{out} after Stop"
            if isinstance(out, (SendAudio, Interrupt, Pause, Resume)):
                assert self.ready, f"{out} while no session is ready"
            if isinstance(out, (Pause, Resume)):
                assert "playback_control" in self.capabilities
            if isinstance(out, OpenSession):
                assert not self.ready and not self.opening
                assert out.sample_rate == RATE
                self.opening = True
            elif isinstance(out, SendAudio):
                self.check_send(out)
            elif isinstance(out, ReconnectAfter):
                assert out.error is not None and out.error.retry is not Retry.NO
                assert 0 <= out.delay <= MAX_DELAY
                self.reconnects_in_a_row += 1
                assert self.reconnects_in_a_row < DEFAULT_RECONNECT.max_attempts
            elif isinstance(out, CloseSession):
                # Asked for while the session's own close is on its way: nothing to do.
                if self.ready:
                    self.close_session(None)
                elif self.opening:
                    self.opening = False
                    self.layer.event(self.now, SessionClosed(None, "", None))
                    self.drain()
            elif isinstance(out, Stop):
                self.stops += 1
            elif isinstance(out, SpeakingStarted):
                assert out.segment not in self.started
                self.started.add(out.segment)
            elif isinstance(out, FirstFrame):
                assert out.segment in self.started and out.seconds >= 0
            elif isinstance(out, SpeakingStopped):
                assert out.segment in self.started and out.segment not in self.stopped_speaking
                self.stopped_speaking.add(out.segment)
            elif isinstance(out, SegmentFinished):
                assert out.segment not in self.finished, "a segment finished twice"
                assert not self.finished or out.segment > self.finished[-1]
                assert 0 <= out.played_seconds <= out.audio_seconds + 1e-9
                self.finished.append(out.segment)
        if self.ready and self.layer.link is Link.READY:
            self.reconnects_in_a_row = 0

    def check_send(self, out: SendAudio) -> None:
        assert out.req_id not in self.ended_reqs, "audio after the request's end"
        if out.req_id not in self.used_reqs:
            self.used_reqs.append(out.req_id)
            self.live_reqs.append(out.req_id)
        assert out.req_id in self.live_reqs, "a request of an earlier session reused"
        if out.end:
            self.ended_reqs.add(out.req_id)
        if out.audio:
            found = self.given.find(out.audio, self.position)
            assert found >= 0, "audio sent that was not given, or out of order"
            assert found % 2 == 0
            self.position = found + len(out.audio)

    @invariant()
    def stops_at_most_once(self) -> None:
        assert self.stops <= 1

    def teardown(self) -> None:
        self.layer.cancel(self.now)
        self.drain()
        if self.opening:
            self.layer.open_failed(self.now, AvatarError("gone", code=ErrorCode.CREDITS_EXHAUSTED))
            self.drain()
        assert self.layer.link is Link.STOPPED
        assert not self.layer.busy
        assert self.stops == 1
        assert self.finished == list(range(1, len(self.finished) + 1))


ConversationMachine.TestCase.settings = settings(
    max_examples=400, stateful_step_count=40, deadline=None
)
TestConversationProperties = ConversationMachine.TestCase
