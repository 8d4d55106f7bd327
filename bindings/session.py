"""The session every binding hands out, as ``typing.Protocol`` s: what an application,
the CLI or a fourth binding may rely on.

:class:`Session` is the asyncio and trio session, :class:`SyncSession` the blocking
one; both share :class:`SessionView` (what can be read without I/O). :class:`Connect`
and :class:`SyncConnect` are each binding's ``connect``. Each binding checks under
mypy that its class and its ``connect`` satisfy their protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import AnimationFrame, Event
from avatarwire.core.requests import RequestStatus
from avatarwire.core.session import SessionState

from .opening import ConnectKeywords, Unpack

__all__ = ["Audio", "Connect", "Session", "SessionView", "SyncConnect", "SyncSession"]

#: What ``send_audio`` takes: 16-bit little-endian mono PCM (or Ogg Opus pages).
Audio = bytes | bytearray | memoryview


class SessionView(Protocol):
    """What any session tells without I/O."""

    @property
    def connection_id(self) -> str | None:
        """The service's id for this session, once ready."""

    @property
    def capabilities(self) -> frozenset[str]:
        """What the service announced it can do (``playback_control``, ...)."""

    @property
    def state(self) -> SessionState:
        """Where the session stands: READY until it ends, CLOSED or ERROR."""

    @property
    def error(self) -> AvatarError | None:
        """Why the session ended, once its state is ``ERROR`` (``None`` otherwise)."""

    def request(self, req_id: str) -> RequestStatus | None:
        """Audio sent, frames received and outcome of a recent request."""


class Session(SessionView, Protocol):
    """An open asyncio or trio session.

    ``async for event in session`` ends after ``SessionClosed``;
    ``async for frame in session.frames(req_id)`` ends when that request finishes.
    """

    async def send_audio(
        self,
        audio: Audio,
        end: bool = False,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> str:
        """Send audio for the current request; its req_id. ``end=True`` ends the request."""

    async def stream(
        self,
        audio: Iterable[bytes] | AsyncIterable[bytes],
        *,
        realtime: bool = True,
        end: bool = True,
        start: float | None = None,
        ahead: float = 0.0,
    ) -> str:
        """Send a source of PCM chunks as one request, each when its audio would start
        playing (the library's one pacer per event loop keeps time); its req_id."""

    async def interrupt(self) -> str:
        """Interrupt the most recent request; its req_id."""

    async def pause(self) -> str:
        """Hold playout of the most recent request (``playback_control`` only)."""

    async def resume(self) -> str:
        """Resume playout held by ``pause``."""

    async def next_event(self) -> Event:
        """The next event; after the session closed, its ``SessionClosed`` again."""

    def __aiter__(self) -> AsyncIterator[Event]:
        """Every event, up to and including ``SessionClosed``."""

    def frames(self, req_id: str) -> AsyncIterator[AnimationFrame]:
        """The frames of one request, until it finishes."""

    async def close(self) -> None:
        """Close the session (idempotent)."""


class SyncSession(SessionView, Protocol):
    """An open blocking session: the same calls, in the caller's thread.

    ``for event in session`` ends after ``SessionClosed``;
    ``for frame in session.frames(req_id)`` ends when that request finishes.
    """

    def send_audio(
        self,
        audio: Audio,
        end: bool = False,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> str:
        """Send audio for the current request; its req_id. ``end=True`` ends the request."""

    def stream(
        self,
        audio: Iterable[bytes],
        *,
        realtime: bool = True,
        end: bool = True,
        start: float | None = None,
        ahead: float = 0.0,
    ) -> str:
        """Send chunks of PCM as one request, each when its audio would start playing
        (the calling thread keeps time); its req_id."""

    def interrupt(self) -> str:
        """Interrupt the most recent request; its req_id."""

    def pause(self) -> str:
        """Hold playout of the most recent request (``playback_control`` only)."""

    def resume(self) -> str:
        """Resume playout held by ``pause``."""

    def next_event(self, timeout: float | None = None) -> Event:
        """The next event within ``timeout`` (``TimeoutError``); then ``SessionClosed``."""

    def __iter__(self) -> Iterator[Event]:
        """Every event, up to and including ``SessionClosed``."""

    def frames(self, req_id: str) -> Iterator[AnimationFrame]:
        """The frames of one request, until it finishes."""

    def close(self) -> None:
        """Close the session (idempotent)."""


class Connect(Protocol):
    """An async binding's ``connect``: ``async with connect(config, ...) as session``."""

    def __call__(
        self, config: SessionConfig, **keywords: Unpack[ConnectKeywords]
    ) -> AbstractAsyncContextManager[Session]:
        """Open a session (fetch a token, connect, handshake); close it on the way out."""


class SyncConnect(Protocol):
    """The blocking binding's ``connect``: ``with connect(config, ...) as session``."""

    def __call__(
        self, config: SessionConfig, **keywords: Unpack[ConnectKeywords]
    ) -> AbstractContextManager[SyncSession]:
        """Open a session (fetch a token, connect, handshake); close it on the way out."""
