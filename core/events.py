"""What a session reports to its application: small, frozen, slotted records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from .errors import AvatarError


class Event:
    """Base of every event a session core emits."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SessionReady(Event):
    """The service confirmed the session; audio may flow."""

    connection_id: str
    capabilities: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class AnimationFrame(Event):
    """One animation message, ``data`` being the whole raw message as received.

    Without egress, frames carry motion (``has_animation``) and ``end`` means the
    request's generation is complete. With Agora/LiveKit egress they are empty
    control signals: a non-end frame marks playout start/progress, ``end`` means
    playout drained (possibly repeated; :class:`RequestFinished` comes once).
    ``req_id`` is as sent: an end with an empty one finishes the oldest request.
    """

    req_id: str
    data: bytes = field(repr=False)
    end: bool
    has_animation: bool = True
    avatar_id: str = ""


FrameBuilder = Callable[[str, bytes, bool, bool, str], AnimationFrame]


def _frame_builder() -> FrameBuilder:
    """``AnimationFrame(req_id, data, end, has_animation, avatar_id)`` as the receive lane
    makes one per frame: in pure Python the same frozen object set through its slots,
    without the dataclass's five ``object.__setattr__`` lookups; where that does not
    give the very same object (a mypyc build, whose constructor is native), the class."""

    def build(req_id: str, data: bytes, end: bool, has_animation: bool, avatar_id: str) -> Any:
        frame = new(AnimationFrame)
        set_req_id(frame, req_id)
        set_data(frame, data)
        set_end(frame, end)
        set_has_animation(frame, has_animation)
        set_avatar_id(frame, avatar_id)
        return frame

    try:
        slots: Any = vars(AnimationFrame)
        names = ("req_id", "data", "end", "has_animation", "avatar_id")
        set_req_id, set_data, set_end, set_has_animation, set_avatar_id = [
            slots[name].__set__ for name in names
        ]
        new: Any = object.__new__
        probe = build("r", b"d", True, False, "a")
        if type(probe) is AnimationFrame and probe == AnimationFrame("r", b"d", True, False, "a"):
            return build
    except Exception:  # pragma: no cover - a compiled build
        pass
    return AnimationFrame  # pragma: no cover - a compiled build


#: Builds the receive lane's frames (see :func:`_frame_builder`).
new_animation_frame: FrameBuilder = _frame_builder()


@dataclass(frozen=True, slots=True)
class RequestFinished(Event):
    """A request is over: generated (no egress), drained (egress) or interrupted.

    Comes exactly once per request, whatever the service repeats.
    """

    req_id: str
    interrupted: bool


class PlaybackStateKind(IntEnum):
    """Playout states the service reports when it announced ``playback_state``."""

    UNSPECIFIED = 0
    PLAYING = 1
    PAUSED = 2
    ENDED = 3
    INTERRUPTED = 4


class InterruptReason(str, Enum):
    """Why playout was interrupted (``reason`` of an INTERRUPTED :class:`PlaybackState`)."""

    EXPLICIT = "explicit"  # an interrupt()
    PREEMPTED = "preempted"  # a newer request superseded it
    PAUSE_TIMEOUT = "pause_timeout"  # a pause held past the server's limit: never resume

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PlaybackState(Event):
    """Where playout stands (``playback_state`` capability only).

    Every pause()/resume() gets exactly one, holding the state *after* it: PAUSED
    (accepted), ENDED (the pause came after playout ended and did nothing), PLAYING
    (a resume with nothing paused); for a ``req_id`` that is not the one playing, the
    state of the one playing, echoing the asked ``req_id``. The service also sends
    PLAYING / ENDED as playout starts and ends, and INTERRUPTED with a ``reason``
    (:class:`InterruptReason`); any INTERRUPTED ends its request as interrupted
    (one :class:`RequestFinished`). ``played_ms`` is content played, frozen while
    paused.
    """

    req_id: str
    state: PlaybackStateKind
    played_ms: int
    reason: str
    connection_id: str = ""


@dataclass(frozen=True, slots=True)
class ServerError(Event):
    """The service reported an error; on its own it does not end the session."""

    error: AvatarError


@dataclass(frozen=True, slots=True)
class SessionClosed(Event):
    """The session is over; the last event of every session, exactly once.

    ``error`` is ``None`` for a normal close (1000/1001 or a local close).
    """

    code: int | None
    reason: str
    error: AvatarError | None
