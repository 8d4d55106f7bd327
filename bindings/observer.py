"""Hooks that let telemetry watch a session, shared by every binding.

A :class:`Telemetry` (``connect(config, telemetry=...)``; OpenTelemetry's is in
:mod:`avatarwire.bindings.otel`) makes one :class:`SessionObserver` per session.
The bindings call it at each step of opening and :class:`~._base.SessionBase` at
each request; without telemetry nothing is called and nothing is imported.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from avatarwire.core.errors import AvatarError
from avatarwire.core.requests import RequestStatus

__all__ = ["SessionObserver", "Telemetry", "observing"]


class SessionObserver(Protocol):
    """What one session tells its telemetry, in the order it happens."""

    def step(self, name: str) -> AbstractContextManager[None]:
        """Around one step of opening: ``token``, ``connect`` or ``handshake``."""

    def ready(self, connection_id: str) -> None:
        """The session is ready."""

    def request_opening(self) -> tuple[str, str] | None:
        """Audio is about to open a request: its ``(traceparent, tracestate)``, if any."""

    def request_opened(self, req_id: str) -> None:
        """The request opened by the last :meth:`request_opening` got its id (or
        ``""``: it was refused and never started)."""

    def frame(self, req_id: str) -> None:
        """An animation frame (or egress control frame) arrived."""

    def interrupted(self, req_id: str) -> None:
        """The application interrupted this request."""

    def request_finished(self, status: RequestStatus) -> None:
        """The service finished a request (``status.interrupted`` tells how)."""

    def error(self, error: AvatarError) -> None:
        """A runtime error the service reported (the session may go on)."""

    def closed(self, error: AvatarError | None) -> None:
        """The session ended (``error``: why, when it was not a normal close)."""


class Telemetry(Protocol):
    """Makes the observer of each session."""

    def session(self) -> SessionObserver:
        """A fresh observer for one session."""


def observing(observer: SessionObserver | None, name: str) -> AbstractContextManager[None]:
    """``observer.step(name)``, or a context that does nothing without an observer."""
    return nullcontext() if observer is None else observer.step(name)
