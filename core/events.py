"""What a session reports to its application: small, frozen, slotted records."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

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
    """One animation message, ``data`` being the whole raw message as received."""

    req_id: str
    data: bytes = field(repr=False)
    end: bool


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


@dataclass(frozen=True, slots=True)
class PlaybackState(Event):
    """Where playout of a request stands (``playback_state`` capability only)."""

    req_id: str
    state: PlaybackStateKind
    played_ms: int
    reason: str


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
