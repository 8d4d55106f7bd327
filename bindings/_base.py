"""The part of a session every binding shares: the core, event delivery, the queue.

A binding subclasses :class:`SessionBase` and adds only I/O: reading into
``_core``, writing what it queues, waiting, and waking whoever waits for events.
"""

from __future__ import annotations

from collections import deque

from avatarwire.core.errors import AvatarError
from avatarwire.core.events import Event, SessionClosed, SessionReady
from avatarwire.core.requests import RequestStatus
from avatarwire.core.session import ClientSession, SessionState

from ._common import Callbacks, ConnectOptions, session_logger


class SessionBase:
    """Delivers the core's events to callbacks and to a bounded queue, in order."""

    def __init__(self, core: ClientSession, options: ConnectOptions, callbacks: Callbacks) -> None:
        self._core = core
        self._options = options
        self._callbacks = callbacks
        self._queue_events = not callbacks.any
        self._events: deque[Event] = deque()
        self._ready = False
        self._closed: SessionClosed | None = None
        self._log = session_logger(None)

    @property
    def connection_id(self) -> str | None:
        """The service's id for this session, once ready."""
        return self._core.connection_id

    @property
    def capabilities(self) -> frozenset[str]:
        """What the service announced it can do (``playback_control``, ...)."""
        return self._core.capabilities

    @property
    def state(self) -> SessionState:
        """The core's state."""
        return self._core.state

    def request(self, req_id: str) -> RequestStatus | None:
        """Audio sent, frames received and outcome of a recent request."""
        return self._core.request(req_id)

    def _deliver_core_events(self) -> None:
        for event in self._core.events():
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        """Callbacks first, then the queue (``SessionClosed`` is always queued)."""
        if isinstance(event, SessionReady):
            self._ready = True
            self._log = session_logger(event.connection_id)
        self._callbacks.deliver(event)
        if isinstance(event, SessionClosed):
            self._closed = event
            if event.error is not None:
                self._log.info("session closed: %s", event.error)
            self._events.append(event)
        elif self._queue_events and not isinstance(event, SessionReady):
            self._events.append(event)

    @property
    def _queue_full(self) -> bool:
        return len(self._events) > self._options.max_queued_events

    @property
    def _queue_has_room(self) -> bool:
        return len(self._events) <= self._options.max_queued_events // 2

    def _handshake_done(self) -> bool:
        """Whether the session is ready; raises the refusal if it closed instead."""
        if self._ready:
            return True
        if self._closed is not None:
            raise self._closed.error or AvatarError("the session closed during the handshake")
        return False

    def _take_event(self) -> Event | None:
        """The next queued event; once all are taken after the close, ``SessionClosed``
        again; ``None`` while nothing has come yet."""
        if self._events:
            return self._events.popleft()
        return self._closed
