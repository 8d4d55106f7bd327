"""Counts and timestamps animation frames as a client's frame callback sees them."""

from __future__ import annotations

from collections.abc import Callable

from common import now


class FrameRecorder:
    """The ``transport_frames(frame, is_last)`` callback of one session, with counters."""

    __slots__ = ("ended_at", "ends", "frames", "frames_at_mark", "last_at", "on_end", "on_frame")

    def __init__(self, on_end: Callable[[], object] | None = None) -> None:
        self.frames = 0
        self.ends = 0
        self.last_at = 0.0
        self.ended_at = 0.0
        self.frames_at_mark = 0
        self.on_end = on_end
        self.on_frame: Callable[[], object] | None = None

    def __call__(self, frame: bytes, is_last: bool) -> None:
        self.frames += 1
        self.last_at = now()
        if self.on_frame is not None:
            self.on_frame()
        if is_last:
            self.ends += 1
            self.ended_at = self.last_at
            if self.on_end is not None:
                self.on_end()

    def mark(self) -> None:
        """Start counting frames of a new round."""
        self.frames_at_mark = self.frames

    @property
    def frames_since_mark(self) -> int:
        return self.frames - self.frames_at_mark
