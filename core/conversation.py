"""What a voice-agent framework needs above a session, decided in one pure object.

A framework hands over TTS audio, says when an utterance is done, when the user
barged in, when output is paused or resumed; the session reports frames, playback
and its end. :class:`Conversation` turns all of that, with the time passed in, into
*actions* for an adapter to run on a binding (open, send audio, interrupt, pause,
resume, close, reconnect after a delay, stop) and *reports* for the framework
(speaking started/stopped, time to first frame, segment finished with the played
duration). It owns no socket, no task and no clock: every input carries ``now``
(seconds, any monotonic origin) and :meth:`Conversation.next_deadline` says when
to call :meth:`Conversation.tick` again.

A *segment* is one utterance as sent: its audio goes, in order, to one request
whose ID the layer picks (the adapter hands it to the session's request-ID
factory). A segment ends once: when the framework says done, after
``silence_timeout`` seconds without audio, on a barge-in, or when the session is
lost; it finishes (is reported) once, when the session says the request is over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from .config import PCM_SAMPLE_RATES
from .errors import AvatarError, ConfigError, ErrorCode, LocalProtocolError, Retry
from .events import (
    AnimationFrame,
    Event,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from .request_ids import RequestIdFactory
from .retry import RetryPolicy, next_delay
from .wire_constants import CAPABILITY_PLAYBACK_CONTROL, CAPABILITY_PLAYBACK_STATE

__all__ = [
    "CAPABILITY_PLAYBACK_CONTROL",
    "CAPABILITY_PLAYBACK_STATE",
    "Action",
    "AudioConverter",
    "CloseSession",
    "Conversation",
    "ConverterFactory",
    "FirstFrame",
    "FrameReceived",
    "Interrupt",
    "OpenSession",
    "Output",
    "Pause",
    "ReconnectAfter",
    "Report",
    "Resume",
    "SegmentFinished",
    "SendAudio",
    "SpeakingStarted",
    "SpeakingStopped",
    "Stop",
    "WholeSamples",
    "session_rate_for",
]

#: Reconnects of a conversation: quick first tries, then patient, and never forever.
DEFAULT_RECONNECT = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=15.0, later_delay=5.0)


# --- outputs ------------------------------------------------------------------------------


class Output:
    """Anything the layer hands back: an :class:`Action` or a :class:`Report`."""

    __slots__ = ()


class Action(Output):
    """Something the adapter must do on the session."""

    __slots__ = ()


class Report(Output):
    """Something the adapter tells the framework."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class OpenSession(Action):
    """Open a session at ``sample_rate``; then feed its events to :meth:`Conversation.event`."""

    sample_rate: int


@dataclass(frozen=True, slots=True)
class SendAudio(Action):
    """Send PCM (at the session rate) for ``req_id``; ``end`` closes the request.

    The first send of a request is the one that opens it: the session's request-ID
    factory must return ``req_id`` then.
    """

    req_id: str
    audio: bytes = field(repr=False)
    end: bool = False


@dataclass(frozen=True, slots=True)
class Interrupt(Action):
    """Interrupt ``req_id`` (the session's most recent request)."""

    req_id: str


@dataclass(frozen=True, slots=True)
class Pause(Action):
    """Hold playout of ``req_id`` (``playback_control`` sessions only)."""

    req_id: str


@dataclass(frozen=True, slots=True)
class Resume(Action):
    """Resume playout of ``req_id``."""

    req_id: str


@dataclass(frozen=True, slots=True)
class CloseSession(Action):
    """Close the session (its ``SessionClosed`` still goes to :meth:`Conversation.event`)."""


@dataclass(frozen=True, slots=True)
class ReconnectAfter(Action):
    """The session was lost; an :class:`OpenSession` follows after ``delay`` seconds."""

    delay: float
    error: AvatarError | None


@dataclass(frozen=True, slots=True)
class Stop(Action):
    """Nothing more will be sent: ``error`` is why (``None`` after a requested close)."""

    error: AvatarError | None


@dataclass(frozen=True, slots=True)
class SpeakingStarted(Report):
    """The avatar started speaking a segment (first frame, or playout started with egress)."""

    segment: int
    req_id: str


@dataclass(frozen=True, slots=True)
class SpeakingStopped(Report):
    """The avatar stopped speaking a segment (finished, interrupted or lost)."""

    segment: int
    req_id: str


@dataclass(frozen=True, slots=True)
class FirstFrame(Report):
    """Seconds from a segment's first audio to its first frame (or playout start)."""

    segment: int
    req_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class FrameReceived(Report):
    """An animation frame to hand on (sessions without egress only)."""

    segment: int
    frame: AnimationFrame


@dataclass(frozen=True, slots=True)
class SegmentFinished(Report):
    """A segment is over, exactly once: ``played_seconds`` of ``audio_seconds`` played.

    ``reason`` is ``completed``, ``interrupted`` (barge-in), ``preempted``,
    ``pause_timeout``, ``lost`` (the session ended under it) or ``empty`` (no audio).
    ``played_seconds`` is the service's own count when it reports playback state,
    else the time since speaking started (minus pauses), at most the audio sent.
    """

    segment: int
    req_id: str | None
    reason: str
    audio_seconds: float
    played_seconds: float

    @property
    def interrupted(self) -> bool:
        """Whether the segment stopped before all its audio played."""
        return self.reason not in ("completed", "empty")


# --- audio conversion (injected: the core does no DSP) ------------------------------------


class AudioConverter(Protocol):
    """Turns one segment's framework audio into mono 16-bit PCM at the session rate."""

    def convert(self, audio: bytes) -> bytes:
        """Convert a chunk; may hold back a partial sample or the resampler's delay."""

    def flush(self) -> bytes:
        """Whatever is held back, at the end of the segment."""


#: ``factory(from_rate, to_rate, channels)`` -> a converter for one segment.
ConverterFactory = Callable[[int, int, int], AudioConverter]


class WholeSamples:
    """Mono PCM at the session rate already: passes it on in whole 16-bit samples."""

    def __init__(self) -> None:
        self._carry = b""

    def convert(self, audio: bytes) -> bytes:
        """Everything but a trailing odd byte, which waits for the next chunk."""
        data = self._carry + audio
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        return data[:whole]

    def flush(self) -> bytes:
        """A dangling half sample is dropped: it cannot be played."""
        self._carry = b""
        return b""


def session_rate_for(rate: int) -> int:
    """The rate to open a session at for audio of ``rate`` Hz: that rate if the service
    takes it, else the lowest it takes above it (no detail lost), else its highest."""
    if rate in PCM_SAMPLE_RATES:
        return rate
    higher = [r for r in PCM_SAMPLE_RATES if r > rate]
    return min(higher) if higher else max(PCM_SAMPLE_RATES)


# --- state --------------------------------------------------------------------------------


class Link(Enum):
    """Where the conversation's session stands."""

    NONE = "none"  # never opened, or closed after idling: open on the next audio
    OPENING = "opening"
    READY = "ready"
    CLOSING = "closing"
    WAITING = "waiting"  # lost; an OpenSession is due at ``_reconnect_at``
    STOPPED = "stopped"


@dataclass(slots=True)
class _Segment:
    number: int
    first_audio_at: float
    last_audio_at: float
    rate: int
    channels: int
    converter: AudioConverter
    req_id: str | None = None
    unsent: list[bytes] = field(default_factory=list)
    ended: bool = False  # no more audio will come (end queued or sent)
    end_sent: bool = False
    bytes_sent: int = 0
    speaking_since: float | None = None
    paused_since: float | None = None
    paused_total: float = 0.0
    played_ms: int | None = None
    final_state: str | None = None  # reason from the service's last playback state
    finished_reason: str | None = None  # set once the request is over, until reported
    finished_at: float = 0.0
    report_by: float | None = None


class Conversation:
    """Segments, playback reports and recovery for one avatar in a conversation."""

    def __init__(
        self,
        *,
        request_ids: RequestIdFactory,
        egress: bool,
        sample_rate: int | None = None,
        converters: ConverterFactory | None = None,
        silence_timeout: float = 1.5,
        reconnect: RetryPolicy = DEFAULT_RECONNECT,
        jitter: Callable[[], float] = lambda: 0.5,
        state_grace: float = 2.0,
        max_unsent_seconds: float = 30.0,
    ) -> None:
        if sample_rate is not None and sample_rate not in PCM_SAMPLE_RATES:
            allowed = ", ".join(map(str, PCM_SAMPLE_RATES))
            raise ConfigError("sample_rate", repr(sample_rate), f"allowed: {allowed}")
        if not silence_timeout > 0:
            raise ConfigError("silence_timeout", repr(silence_timeout), "expected seconds > 0")
        self._new_id = request_ids
        self._egress = egress
        self._rate = sample_rate
        self._converters = converters
        self._silence_timeout = float(silence_timeout)
        self._policy = reconnect
        self._jitter = jitter
        self._state_grace = state_grace
        self._max_unsent_seconds = max_unsent_seconds
        self._outputs: list[Output] = []
        self._link = Link.NONE
        self._capabilities: frozenset[str] = frozenset()
        self._attempt = 0
        self._reconnect_at: float | None = None
        self._idle_error = False
        self._finishing = False  # the framework ended: close once every segment is over
        self._paused = False
        self._now = 0.0
        self._segments: list[_Segment] = []  # oldest first; the open one (if any) last
        self._by_req: dict[str, _Segment] = {}
        self._count = 0

    # --- what the adapter reads -----------------------------------------------------------

    def outputs(self) -> list[Output]:
        """Actions and reports produced so far, in order; taking them clears them."""
        taken, self._outputs = self._outputs, []
        return taken

    @property
    def link(self) -> Link:
        """Where the session stands."""
        return self._link

    @property
    def sample_rate(self) -> int | None:
        """The session's rate, once known."""
        return self._rate

    @property
    def capabilities(self) -> frozenset[str]:
        """What the current (or last) session announced."""
        return self._capabilities

    @property
    def can_pause(self) -> bool:
        """Whether :meth:`pause` holds playout natively (else it interrupts)."""
        return CAPABILITY_PLAYBACK_CONTROL in self._capabilities

    @property
    def speaking(self) -> bool:
        """Whether some segment is being spoken now."""
        return any(s.speaking_since is not None for s in self._segments)

    @property
    def busy(self) -> bool:
        """Whether some segment is not finished yet."""
        return bool(self._segments)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do (``None``: only on new input)."""
        times: list[float] = []
        if self._link is Link.WAITING and self._reconnect_at is not None:
            times.append(self._reconnect_at)
        current = self._open_segment()
        if current is not None and not self._paused:
            times.append(current.last_audio_at + self._silence_timeout)
        times.extend(s.report_by for s in self._segments if s.report_by is not None)
        return min(times) if times else None

    # --- what the framework says ----------------------------------------------------------

    def start(self, now: float) -> None:
        """Open the session ahead of the first audio (needs the rate given up front)."""
        self._now = now
        if self._rate is None:
            raise LocalProtocolError("start() needs sample_rate; or let the first audio open")
        if self._link is Link.NONE:
            self._open()

    def audio(self, now: float, audio: bytes, sample_rate: int, channels: int = 1) -> None:
        """Framework audio (16-bit PCM, interleaved if ``channels`` > 1) for the utterance."""
        self._now = now
        if self._link is Link.STOPPED or self._finishing:
            return
        if self._rate is None:
            self._rate = session_rate_for(sample_rate)
        segment = self._open_segment()
        if segment is not None and (segment.rate, segment.channels) != (sample_rate, channels):
            self._end_segment(segment)  # a new format is a new utterance
            segment = None
        if segment is None:
            segment = self._new_segment(now, sample_rate, channels)
        segment.last_audio_at = now
        self._queue_audio(segment, segment.converter.convert(audio))
        if self._link is Link.NONE:
            self._open()

    def utterance_done(self, now: float) -> None:
        """The framework's utterance is complete (TTS stopped)."""
        self._now = now
        segment = self._open_segment()
        if segment is not None:
            self._end_segment(segment)
            self._settle(now)

    def barge_in(self, now: float) -> None:
        """The user interrupted: stop every segment now and drop what was not sent."""
        self._now = now
        if self._link is Link.STOPPED:
            return
        spoken = [s for s in self._segments if s.req_id is not None and s.finished_reason is None]
        for segment in self._segments:
            segment.unsent.clear()
            segment.ended = True
            if segment.finished_reason is None:
                self._mark(segment, "empty" if segment.req_id is None else "interrupted")
        if spoken and self._link is Link.READY:
            self._outputs.append(Interrupt(spoken[-1].req_id or ""))
            for segment in spoken:
                self._await_final_state(segment)
        if self._paused:
            self._paused = False
        self._settle(now)

    def pause(self, now: float) -> None:
        """Hold the avatar's speech: natively when the session can, else interrupt."""
        self._now = now
        if self._paused or self._link is Link.STOPPED:
            return
        if not self.can_pause:
            self.barge_in(now)
            return
        self._paused = True
        target = self._latest_sent()
        for segment in self._segments:
            if segment.speaking_since is not None and segment.paused_since is None:
                segment.paused_since = now
        if target is not None and self._link is Link.READY:
            self._outputs.append(Pause(target.req_id or ""))

    def resume(self, now: float) -> None:
        """Continue after :meth:`pause` (nothing to do if the pause interrupted)."""
        self._now = now
        if not self._paused:
            return
        self._paused = False
        for segment in self._segments:
            if segment.paused_since is not None:
                segment.paused_total += now - segment.paused_since
                segment.paused_since = None
        current = self._open_segment()
        if current is not None:
            current.last_audio_at = max(current.last_audio_at, now)
        target = self._latest_sent()
        if target is not None and self._link is Link.READY and self.can_pause:
            self._outputs.append(Resume(target.req_id or ""))

    def finish(self, now: float) -> None:
        """The framework is ending: finish the utterance, then close once all is played."""
        self._now = now
        if self._link is Link.STOPPED:
            return
        segment = self._open_segment()
        if segment is not None:
            self._end_segment(segment)
        self._finishing = True
        self._settle(now)

    def cancel(self, now: float) -> None:
        """The framework is cancelled: close now; every segment ends as lost."""
        self._now = now
        if self._link is Link.STOPPED:
            return
        self._finishing = True
        for segment in self._segments:
            segment.unsent.clear()
            segment.ended = True
            if segment.finished_reason is None:
                self._mark(segment, "lost" if segment.req_id else "empty")
        self._settle(now)
        self._close_or_stop()

    def tick(self, now: float) -> None:
        """Let time pass: silence ends a segment, a reconnect falls due, reports are due."""
        self._now = now
        segment = self._open_segment()
        if (
            segment is not None
            and not self._paused
            and now >= segment.last_audio_at + self._silence_timeout
        ):
            self._end_segment(segment)
        due = self._reconnect_at
        if self._link is Link.WAITING and due is not None and now >= due:
            self._reconnect_at = None
            self._open()
        for waiting in self._segments:
            if waiting.report_by is not None and now >= waiting.report_by:
                waiting.report_by = None
                waiting.final_state = waiting.final_state or "timed_out"
        self._settle(now)

    # --- what the session says -------------------------------------------------------------

    def open_failed(self, now: float, error: AvatarError) -> None:
        """Opening the session failed (token, connect or handshake)."""
        self._now = now
        if self._link is Link.OPENING:
            self._lost(now, error)

    def event(self, now: float, event: Event) -> None:
        """An event of the current session."""
        self._now = now
        if self._link not in (Link.OPENING, Link.READY, Link.CLOSING):
            return
        if isinstance(event, SessionReady):
            self._ready(event)
        elif isinstance(event, AnimationFrame):
            self._frame(now, event)
        elif isinstance(event, PlaybackState):
            self._playback(now, event)
        elif isinstance(event, RequestFinished):
            segment = self._by_req.get(event.req_id)
            if segment is not None and segment.finished_reason is None:
                # Interrupted without a barge-in of ours: the session ended under it.
                self._mark(segment, "lost" if event.interrupted else "completed")
                segment.ended = True
                segment.unsent.clear()
                self._await_final_state(segment)
        elif isinstance(event, ServerError):
            self._idle_error = self._idle_error or event.error.code is ErrorCode.IDLE_TIMEOUT
        elif isinstance(event, SessionClosed):
            self._closed(now, event)
        self._settle(now)

    # --- internals ---------------------------------------------------------------------------

    def _await_final_state(self, segment: _Segment) -> None:
        """With egress and playback states, hold the report for the service's true position."""
        if (
            self._egress
            and CAPABILITY_PLAYBACK_STATE in self._capabilities
            and segment.final_state is None
        ):
            segment.report_by = self._now + self._state_grace

    def _open_segment(self) -> _Segment | None:
        if self._segments and not self._segments[-1].ended:
            return self._segments[-1]
        return None

    def _latest_sent(self) -> _Segment | None:
        for segment in reversed(self._segments):
            if segment.req_id is not None and segment.finished_reason is None:
                return segment
        return None

    def _new_segment(self, now: float, rate: int, channels: int) -> _Segment:
        assert self._rate is not None
        if (rate, channels) == (self._rate, 1):
            converter: AudioConverter = WholeSamples()
        elif self._converters is None:
            raise ConfigError(
                "audio",
                f"{rate} Hz x {channels} channel(s)",
                f"the session runs at {self._rate} Hz mono; give a converter factory "
                "(avatarwire[resample]) to resample and mix down",
            )
        else:
            converter = self._converters(rate, self._rate, channels)
        self._count += 1
        segment = _Segment(self._count, now, now, rate, channels, converter)
        self._segments.append(segment)
        return segment

    def _queue_audio(self, segment: _Segment, data: bytes) -> None:
        if not data:
            return
        assert self._rate is not None
        if self._link is Link.READY:
            self._send(segment, data, end=False)
            return
        limit = int(self._max_unsent_seconds * self._rate * 2)
        if sum(len(s) for s in segment.unsent) + len(data) <= limit:
            segment.unsent.append(data)

    def _end_segment(self, segment: _Segment) -> None:
        segment.ended = True
        tail = segment.converter.flush()
        if tail:
            self._queue_audio(segment, tail)
        if self._link is Link.READY:
            self._send_end(segment)

    def _send(self, segment: _Segment, data: bytes, *, end: bool) -> None:
        if segment.req_id is None:
            segment.req_id = self._new_id()
            self._by_req[segment.req_id] = segment
        segment.bytes_sent += len(data)
        segment.end_sent = segment.end_sent or end
        self._outputs.append(SendAudio(segment.req_id, data, end))

    def _send_end(self, segment: _Segment) -> None:
        if segment.end_sent or segment.finished_reason is not None:
            return
        if segment.req_id is None:
            self._mark(segment, "empty")  # nothing was ever sent
            return
        self._send(segment, b"", end=True)

    def _flush_unsent(self) -> None:
        for segment in self._segments:
            if segment.finished_reason is not None:
                continue
            chunks, segment.unsent = segment.unsent, []
            for chunk in chunks:
                self._send(segment, chunk, end=False)
            if segment.ended:
                self._send_end(segment)

    def _open(self) -> None:
        assert self._rate is not None
        self._link = Link.OPENING
        self._idle_error = False
        self._outputs.append(OpenSession(self._rate))

    def _ready(self, event: SessionReady) -> None:
        if self._link is not Link.OPENING:
            return
        self._link = Link.READY
        self._attempt = 0
        self._capabilities = event.capabilities
        self._flush_unsent()
        if self._paused and self.can_pause:
            target = self._latest_sent()
            if target is not None:
                self._outputs.append(Pause(target.req_id or ""))

    def _frame(self, now: float, frame: AnimationFrame) -> None:
        segment = self._by_req.get(frame.req_id)
        if segment is None or segment.finished_reason is not None:
            return
        if not self._egress:
            self._outputs.append(FrameReceived(segment.number, frame))
            self._start_speaking(now, segment)
        elif not frame.end:
            self._start_speaking(now, segment)

    def _playback(self, now: float, state: PlaybackState) -> None:
        segment = self._by_req.get(state.req_id)
        if segment is None:
            return
        segment.played_ms = max(segment.played_ms or 0, state.played_ms)
        kind = state.state
        if kind is PlaybackStateKind.PLAYING and segment.finished_reason is None:
            self._start_speaking(now, segment)
        elif kind is PlaybackStateKind.ENDED:
            segment.final_state = "completed"
        elif kind is PlaybackStateKind.INTERRUPTED:
            reason = state.reason if state.reason in ("preempted", "pause_timeout") else ""
            segment.final_state = reason or "interrupted"
            self._finish_segment(segment, segment.final_state)
        if segment.final_state is not None:
            segment.report_by = None

    def _mark(self, segment: _Segment, reason: str) -> None:
        """Record why and when a segment's request is over."""
        segment.finished_reason = reason
        segment.finished_at = self._now

    def _finish_segment(self, segment: _Segment, reason: str) -> None:
        """The service ended a request on its own: nothing more goes to it."""
        if segment.finished_reason is None:
            self._mark(segment, reason)
        if not segment.ended:
            segment.ended = True
            segment.unsent.clear()
            if self._link is Link.READY and segment.req_id is not None and not segment.end_sent:
                self._send(segment, b"", end=True)  # closes the request in the session

    def _start_speaking(self, now: float, segment: _Segment) -> None:
        if segment.speaking_since is not None or segment.req_id is None:
            return
        segment.speaking_since = now
        if self._paused:
            segment.paused_since = now
        self._outputs.append(SpeakingStarted(segment.number, segment.req_id))
        self._outputs.append(
            FirstFrame(segment.number, segment.req_id, max(0.0, now - segment.first_audio_at))
        )

    def _closed(self, now: float, event: SessionClosed) -> None:
        requested = self._link is Link.CLOSING
        error = event.error
        for segment in self._segments:
            if segment.req_id is not None and segment.finished_reason is None:
                self._mark(segment, "lost")
            if segment.req_id is not None:
                segment.ended = True  # the rest of the utterance opens a new segment
                segment.unsent.clear()
                segment.report_by = None
        if requested or self._finishing:
            self._stop(None if requested else error)
        elif error is None or self._idle_error or error.code is ErrorCode.IDLE_TIMEOUT:
            self._link = Link.NONE  # idle or a clean close: reopen when audio comes
            if any(s.unsent and s.finished_reason is None for s in self._segments):
                self._open()
        else:
            self._lost(now, error)

    def _lost(self, now: float, error: AvatarError) -> None:
        self._attempt += 1
        delay = None
        if error.retry is not Retry.NO:
            delay = next_delay(self._policy, self._attempt, error, self._jitter())
        if delay is None:
            self._stop(error)
            return
        self._link = Link.WAITING
        self._reconnect_at = now + delay
        self._outputs.append(ReconnectAfter(delay, error))

    def _stop(self, error: AvatarError | None) -> None:
        for segment in self._segments:
            segment.unsent.clear()
            segment.ended = True
            if segment.finished_reason is None:
                self._mark(segment, "lost" if segment.req_id else "empty")
            segment.report_by = None
        self._report_finished(self._now)
        self._link = Link.STOPPED
        self._outputs.append(Stop(error))

    def _close_or_stop(self) -> None:
        if self._link is Link.STOPPED:
            return
        if self._link in (Link.READY, Link.OPENING):
            self._link = Link.CLOSING
            self._outputs.append(CloseSession())
        elif self._link is not Link.CLOSING:
            self._stop(None)

    def _settle(self, now: float) -> None:
        """Report finished segments (oldest first) and close when the framework ended."""
        self._report_finished(now)
        if self._finishing and not self._segments and self._link is not Link.STOPPED:
            self._close_or_stop()

    def _report_finished(self, now: float) -> None:
        while self._segments:
            segment = self._segments[0]
            if segment.finished_reason is None or segment.report_by is not None:
                return
            self._segments.pop(0)
            if segment.req_id is not None:
                del self._by_req[segment.req_id]
            self._report(now, segment)

    def _report(self, now: float, segment: _Segment) -> None:
        assert self._rate is not None
        audio = segment.bytes_sent / (2 * self._rate)
        reason = segment.finished_reason or "lost"
        if segment.final_state in ("preempted", "pause_timeout"):
            reason = segment.final_state
        if segment.played_ms is not None and segment.final_state not in (None, "timed_out"):
            played = segment.played_ms / 1000
        elif segment.speaking_since is None:
            played = 0.0
        elif reason == "completed":
            played = audio
        else:
            paused = segment.paused_total
            if segment.paused_since is not None:
                paused += segment.finished_at - segment.paused_since
            played = segment.finished_at - segment.speaking_since - paused
        played = min(audio, max(0.0, played))
        if segment.speaking_since is not None and segment.req_id is not None:
            self._outputs.append(SpeakingStopped(segment.number, segment.req_id))
        self._outputs.append(SegmentFinished(segment.number, segment.req_id, reason, audio, played))
