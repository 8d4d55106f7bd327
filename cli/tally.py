"""What happened during a speak run, whatever the binding: per-request audio, frames
and outcome, and every error, fed by the steps sent and the session's events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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

from .plan import AudioChunk, StreamPlan

__all__ = ["ErrorRecord", "ProgressListener", "RequestOutcome", "RunTally"]

#: The error code of a run whose requests did not finish in time (not a service code).
TIMEOUT_CODE = "timeout"


@dataclass(slots=True)
class RequestOutcome:
    """One request of the run: audio sent, frames back, how it ended."""

    index: int
    planned_bytes: int
    sample_rate: int
    req_id: str | None = None
    audio_bytes: int = 0
    frames: int = 0
    completed: bool = False
    interrupted: bool = False

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio sent."""
        return self.audio_bytes / (2 * self.sample_rate)

    @property
    def planned_seconds(self) -> float:
        """Seconds of audio the plan gives this request."""
        return self.planned_bytes / (2 * self.sample_rate)

    @property
    def finished(self) -> bool:
        """Whether the request is over (completed or interrupted)."""
        return self.completed or self.interrupted

    def as_dict(self) -> dict[str, object]:
        """The request as the JSON summary shows it."""
        return {
            "req_id": self.req_id,
            "audio_bytes": self.audio_bytes,
            "audio_seconds": round(self.audio_seconds, 6),
            "frames": self.frames,
            "completed": self.completed,
            "interrupted": self.interrupted,
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
    """The running account of one session; the bindings feed it, the report reads it."""

    plan: StreamPlan
    listener: ProgressListener | None = None
    connection_id: str | None = None
    outcomes: list[RequestOutcome] = field(init=False)
    errors: list[ErrorRecord] = field(default_factory=list)
    closed: bool = False
    stopped_by_user: bool = False
    _by_req_id: dict[str, RequestOutcome] = field(default_factory=dict)
    _early: dict[str, list[Event]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outcomes = [
            RequestOutcome(request.index, request.audio_bytes, self.plan.sample_rate)
            for request in self.plan.requests
        ]

    @property
    def requests(self) -> list[RequestOutcome]:
        """The requests that were started (got a req_id), in order."""
        return [outcome for outcome in self.outcomes if outcome.req_id is not None]

    @property
    def settled(self) -> bool:
        """Nothing more to wait for: the session closed or every started request finished."""
        return self.closed or all(outcome.finished for outcome in self.requests)

    def _changed(self, outcome: RequestOutcome) -> None:
        if self.listener is not None:
            self.listener.update(outcome)

    # --- what the binding did -------------------------------------------------------

    def sent(self, chunk: AudioChunk, req_id: str) -> None:
        """A chunk went out under ``req_id``."""
        outcome = self.outcomes[chunk.request]
        if outcome.req_id is None:
            outcome.req_id = req_id
            self._by_req_id[req_id] = outcome
            for event in self._early.pop(req_id, ()):
                self.observe(event)
        outcome.audio_bytes += len(chunk.audio)
        self._changed(outcome)

    def fail(self, error: AvatarError) -> None:
        """An error raised by a call (connect, send); not repeated if the events had it."""
        record = ErrorRecord.from_error(error)
        if record not in self.errors:
            self.errors.append(record)

    def timed_out(self, seconds: float) -> None:
        """Requests did not finish within ``seconds`` after the last step."""
        waiting = sum(not outcome.finished for outcome in self.requests)
        self.errors.append(
            ErrorRecord(
                TIMEOUT_CODE,
                f"{waiting} request(s) did not finish within {seconds:g} s after the last audio",
                "websocket_runtime",
            )
        )

    # --- what the session said --------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Take one event of the session."""
        if isinstance(event, SessionReady):
            self.connection_id = event.connection_id
        elif isinstance(event, (AnimationFrame, RequestFinished)):
            outcome = self._by_req_id.get(event.req_id)
            if outcome is None:
                self._early.setdefault(event.req_id, []).append(event)
                return
            if isinstance(event, AnimationFrame):
                outcome.frames += 1
            elif event.interrupted:
                outcome.interrupted = True
            else:
                outcome.completed = True
            self._changed(outcome)
        elif isinstance(event, ServerError):
            self.errors.append(ErrorRecord.from_error(event.error))
        elif isinstance(event, SessionClosed):
            self.closed = True
            if event.error is not None:
                self.errors.append(ErrorRecord.from_error(event.error))

    def settle(self, lookup: Callable[[str], RequestStatus | None]) -> None:
        """Take the final counts from the session's own bookkeeping."""
        for outcome in self.requests:
            assert outcome.req_id is not None
            status = lookup(outcome.req_id)
            if status is None:
                continue
            outcome.audio_bytes = status.audio_bytes
            outcome.frames = status.frames
            outcome.completed = status.finished and not status.interrupted
            outcome.interrupted = status.interrupted
            self._changed(outcome)
