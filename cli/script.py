"""The speak run as a script of actions, driven by a clock the binding reads.

:meth:`StreamScript.next_action` says what to do now — stream a request's chunks
(the library's pacer sends each when it is due), interrupt, wait (for an event, at
most so long), or finish — from the plan, the tally and the time elapsed. It does
no I/O and reads no clock, so every binding runs the same script and only performs
the actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .plan import AudioChunk, InterruptStep, Step
from .tally import RunTally

__all__ = ["Action", "Finish", "StreamRequest", "StreamScript", "Wait"]

#: The longest single wait, so a Ctrl-C is noticed promptly whatever the binding.
WAIT_SLICE = 0.1


@dataclass(frozen=True, slots=True)
class Wait:
    """Take the next event of the session if one comes within ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Finish:
    """Nothing more to do: close the session."""


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """Send the consecutive chunks of one request as one ``session.stream()``: each
    goes out at its ``at`` (seconds after the run began) unless the run is fast."""

    request: int
    chunks: tuple[AudioChunk, ...]

    @property
    def at(self) -> float:
        """When the first chunk is due."""
        return self.chunks[0].at

    @property
    def end(self) -> bool:
        """Whether the last chunk ends the request."""
        return self.chunks[-1].end


Action = StreamRequest | InterruptStep | Wait | Finish


def _stream_steps(steps: tuple[Step, ...]) -> list[StreamRequest | InterruptStep]:
    """The plan's steps with each run of one request's chunks made one stream."""
    grouped: list[StreamRequest | InterruptStep] = []
    run: list[AudioChunk] = []
    for step in steps:
        if isinstance(step, AudioChunk) and (not run or run[-1].request == step.request):
            run.append(step)
            continue
        if run:
            grouped.append(StreamRequest(run[0].request, tuple(run)))
            run = []
        if isinstance(step, AudioChunk):
            run.append(step)
        else:
            grouped.append(step)
    if run:
        grouped.append(StreamRequest(run[0].request, tuple(run)))
    return grouped


class StreamScript:
    """Walks a plan: each request's chunks as one stream (the pacer times them), each
    interrupt when due, then waits until every request finished."""

    def __init__(
        self, tally: RunTally, drain_timeout: float, stop_requested: Callable[[], bool]
    ) -> None:
        self._tally = tally
        self._stop_requested = stop_requested
        self._steps = _stream_steps(tally.plan.steps)
        self._next = 0
        self._drain_timeout = drain_timeout
        self._drain_deadline: float | None = None

    @property
    def sent_everything(self) -> bool:
        """Whether every step of the plan went out."""
        return self._next >= len(self._steps)

    def next_action(self, elapsed: float) -> Action:
        """What to do ``elapsed`` seconds after the session became ready."""
        if self._stop_requested():
            self._tally.stopped_by_user = True
            return Finish()
        if self._tally.closed:
            return Finish()
        if not self.sent_everything:
            step = self._steps[self._next]
            if isinstance(step, InterruptStep) and step.at > elapsed:
                return Wait(min(step.at - elapsed, WAIT_SLICE))
            self._next += 1
            return step
        if self._tally.settled:
            return Finish()
        if self._drain_deadline is None:
            self._drain_deadline = elapsed + self._drain_timeout
        if elapsed >= self._drain_deadline:
            self._tally.timed_out(self._drain_timeout)
            return Finish()
        return Wait(min(self._drain_deadline - elapsed, WAIT_SLICE))
