"""What happened during a speak run, whatever the binding: per-request audio, frames
and outcome, and every error, fed by the steps sent and the session's events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from avatarwire.core.errors import AvatarError
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.requests import RequestStatus

from .plan import AudioChunk, InterruptStep, StreamPlan

__all__ = ["ErrorRecord", "Outcome", "ProgressListener", "RequestOutcome", "RunTally"]

#: The error code of a run whose requests did not finish in time (not a service code).
TIMEOUT_CODE = "timeout"


class Outcome(str, Enum):
    """How a request ended, in words that say who ended it."""

    COMPLETED = "completed"
    INTERRUPTED_BY_YOU = "interrupted by you"
    STOPPED_BY_YOU = "stopped by you (Ctrl-C)"
    CLOSED_BY_SERVER = "closed by the server"
    INTERRUPTED_BY_SERVER = "interrupted by the server"
    SESSION_FAILED = "session failed"
    TIMED_OUT = "timed out"
    SENDING = "sending"
    WAITING = "waiting"


@dataclass(slots=True)
class RequestOutcome:
    """One request of the run: audio sent, frames back, timings, how it ended.

    Times are seconds on the run's clock: the first audio sent, the ``end=True`` sent,
    the first and the last frame received (each frame timed as it arrived).
    """

    index: int
    planned_bytes: int
    bytes_per_second: float
    req_id: str | None = None
    audio_bytes: int = 0
    frames: int = 0
    completed: bool = False
    interrupted: bool = False
    outcome: Outcome = Outcome.SENDING
    close_code: int | None = None
    first_audio_at: float | None = None
    end_sent_at: float | None = None
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    timed_frames: int = 0

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio sent."""
        return self.audio_bytes / self.bytes_per_second

    @property
    def planned_seconds(self) -> float:
        """Seconds of audio the plan gives this request."""
        return self.planned_bytes / self.bytes_per_second

    @property
    def finished(self) -> bool:
        """Whether the request is over (completed or interrupted)."""
        return self.completed or self.interrupted

    @property
    def time_to_first_frame(self) -> float | None:
        """Seconds from the first audio sent to the first frame back."""
        if self.first_audio_at is None or self.first_frame_at is None:
            return None
        return self.first_frame_at - self.first_audio_at

    @property
    def frames_per_second(self) -> float | None:
        """Frames received per second, from the first frame to the last."""
        if self.first_frame_at is None or self.last_frame_at is None or self.timed_frames < 2:
            return None
        span = self.last_frame_at - self.first_frame_at
        return (self.timed_frames - 1) / span if span > 0 else None

    @property
    def end_to_last_frame(self) -> float | None:
        """Seconds from sending the end of the audio to the last frame back."""
        if self.end_sent_at is None or self.last_frame_at is None:
            return None
        return self.last_frame_at - self.end_sent_at

    @property
    def outcome_text(self) -> str:
        """The outcome in words, with the server's close code where it closed the session."""
        if self.outcome is Outcome.CLOSED_BY_SERVER and self.close_code is not None:
            return f"{self.outcome.value} ({self.close_code})"
        return str(self.outcome.value)

    def as_dict(self) -> dict[str, object]:
        """The request as the JSON summary shows it."""

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 6)

        return {
            "req_id": self.req_id,
            "audio_bytes": self.audio_bytes,
            "audio_seconds": round(self.audio_seconds, 6),
            "frames": self.frames,
            "completed": self.completed,
            "interrupted": self.interrupted,
            "outcome": self.outcome.name.lower(),
            "close_code": self.close_code,
            "time_to_first_frame": rounded(self.time_to_first_frame),
            "frames_per_second": rounded(self.frames_per_second),
            "end_to_last_frame": rounded(self.end_to_last_frame),
        }


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One error of the run, as the summary shows it (no secrets: the core masks them)."""

    code: str
    message: str
    phase: str | None

    @classmethod
    def from_error(cls, error: AvatarError) -> ErrorRecord:
        """The record of an :class:`AvatarError`."""
        phase = error.phase.value if error.phase is not None else None
        return cls(error.code.value, error.message, phase)

    def as_dict(self) -> dict[str, object]:
        """The error as the JSON summary shows it."""
        return {"code": self.code, "message": self.message, "phase": self.phase}


class ProgressListener(Protocol):
    """Something that shows a request's progress as it changes."""

    def update(self, outcome: RequestOutcome) -> None:
        """The request changed (audio sent, a frame, finished)."""


@dataclass(slots=True)
class RunTally:
    """The running account of one session; the bindings feed it, the report reads it.

    ``at`` arguments are seconds on the run's clock (the binding's own); without them
    the timings of that request stay unknown.
    """

    plan: StreamPlan
    listener: ProgressListener | None = None
    connection_id: str | None = None
    outcomes: list[RequestOutcome] = field(init=False)
    errors: list[ErrorRecord] = field(default_factory=list)
    closed: bool = False
    stopped_by_user: bool = False
    closing: bool = False  # the run is over and closes the session itself
    close_code: int | None = None  # the code of a close the run did not ask for
    close_failed: bool = False  # the session ended with an error
    drain_timed_out: bool = False
    _interrupted_by_user: set[int] = field(default_factory=set)
    _by_req_id: dict[str, RequestOutcome] = field(default_factory=dict)
    _early: dict[str, list[tuple[Event, float | None]]] = field(default_factory=dict)
    #: The request being streamed before its req_id is known (requests go one by one,
    #: so an event of a req_id never seen is its).
    _unnamed: RequestOutcome | None = None

    def __post_init__(self) -> None:
        self.outcomes = [
            RequestOutcome(request.index, request.audio_bytes, self.plan.bytes_per_second)
            for request in self.plan.requests
        ]

    @property
    def requests(self) -> list[RequestOutcome]:
        """The requests that were started (got a req_id), in order."""
        return [outcome for outcome in self.outcomes if outcome.req_id is not None]

    @property
    def settled(self) -> bool:
        """Nothing more to wait for: the session closed or every started request finished."""
        if self.closed:
            return True
        unnamed = self._unnamed is not None  # it is being streamed: not finished
        return not unnamed and all(outcome.finished for outcome in self.requests)

    def _judge(self, outcome: RequestOutcome) -> Outcome:
        """How the request ended (or where it stands), and who ended it."""
        if outcome.completed:
            return Outcome.COMPLETED
        if outcome.index in self._interrupted_by_user:
            return Outcome.INTERRUPTED_BY_YOU
        if self.stopped_by_user:
            return Outcome.STOPPED_BY_YOU
        if self.close_code is not None:
            return Outcome.CLOSED_BY_SERVER
        if self.close_failed:
            return Outcome.SESSION_FAILED
        if outcome.interrupted:
            return Outcome.INTERRUPTED_BY_SERVER
        if self.drain_timed_out:
            return Outcome.TIMED_OUT
        if outcome.audio_bytes < outcome.planned_bytes:
            return Outcome.SENDING
        return Outcome.WAITING

    def _changed(self, outcome: RequestOutcome) -> None:
        outcome.outcome = self._judge(outcome)
        outcome.close_code = (
            self.close_code if outcome.outcome is Outcome.CLOSED_BY_SERVER else None
        )
        if self.listener is not None:
            self.listener.update(outcome)

    # --- what the binding did -------------------------------------------------------

    def sent(self, chunk: AudioChunk, req_id: str | None, at: float | None = None) -> None:
        """A chunk went out under ``req_id`` (``None``: not known yet, the request is
        being streamed; :meth:`named` or its first event names it)."""
        outcome = self.outcomes[chunk.request]
        if outcome.first_audio_at is None and outcome.audio_bytes == 0:
            outcome.first_audio_at = at
        if req_id is not None:
            self.named(chunk.request, req_id)
        elif outcome.req_id is None:
            self._unnamed = outcome
        if chunk.end:
            outcome.end_sent_at = at
        outcome.audio_bytes += len(chunk.audio)
        self._changed(outcome)

    def named(self, request: int, req_id: str) -> None:
        """Request ``request`` of the plan went out under ``req_id``."""
        outcome = self.outcomes[request]
        if outcome.req_id is not None:
            return
        outcome.req_id = req_id
        self._by_req_id[req_id] = outcome
        if self._unnamed is outcome:
            self._unnamed = None
        for event, arrived in self._early.pop(req_id, ()):
            self.observe(event, arrived)

    def interrupt_sent(self, step: InterruptStep) -> None:
        """The run interrupted request ``step.request``."""
        self._interrupted_by_user.add(step.request)

    def fail(self, error: AvatarError) -> None:
        """An error raised by a call (connect, send); not repeated if the events had it."""
        record = ErrorRecord.from_error(error)
        if record not in self.errors:
            self.errors.append(record)

    def timed_out(self, seconds: float) -> None:
        """Requests did not finish within ``seconds`` after the last step."""
        self.drain_timed_out = True
        waiting = sum(not outcome.finished for outcome in self.requests)
        self.errors.append(
            ErrorRecord(
                TIMEOUT_CODE,
                f"{waiting} request(s) did not finish within {seconds:g} s after the last audio",
                "websocket_runtime",
            )
        )

    # --- what the session said --------------------------------------------------------

    def observe(self, event: Event, at: float | None = None) -> None:
        """Take one event of the session, which arrived at ``at``."""
        if isinstance(event, SessionReady):
            self.connection_id = event.connection_id
        elif isinstance(event, (AnimationFrame, RequestFinished)):
            outcome = self._by_req_id.get(event.req_id)
            if outcome is None and self._unnamed is not None:
                outcome = self._unnamed
                self.named(outcome.index, event.req_id)
            if outcome is None:
                self._early.setdefault(event.req_id, []).append((event, at))
                return
            if isinstance(event, AnimationFrame):
                outcome.frames += 1
                if at is not None:
                    if outcome.first_frame_at is None:
                        outcome.first_frame_at = at
                    outcome.last_frame_at = at
                    outcome.timed_frames += 1
            elif event.interrupted:
                outcome.interrupted = True
            else:
                outcome.completed = True
            self._changed(outcome)
        elif isinstance(event, ServerError):
            self.errors.append(ErrorRecord.from_error(event.error))
        elif isinstance(event, SessionClosed):
            self._session_closed(event)

    def _session_closed(self, event: SessionClosed) -> None:
        self.closed = True
        error = event.error
        if error is not None:
            self.errors.append(ErrorRecord.from_error(error))
            self.close_failed = True
        code = event.code if event.code not in (None, 1000, 1001) else None
        if code is None and error is not None:
            code = error.close_code
        if code is None and not self.closing and event.code is not None and error is None:
            code = event.code  # a normal close, but not one the run asked for
        self.close_code = code
        for outcome in self.requests:
            self._changed(outcome)

    def settle(self, lookup: Callable[[str], RequestStatus | None]) -> None:
        """Take the final counts from the session's own bookkeeping."""
        for outcome in self.requests:
            assert outcome.req_id is not None
            status = lookup(outcome.req_id)
            if status is not None:
                outcome.audio_bytes = status.audio_bytes
                outcome.frames = status.frames
                outcome.completed = status.finished and not status.interrupted
                outcome.interrupted = status.interrupted
            self._changed(outcome)
