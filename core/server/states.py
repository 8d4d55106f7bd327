"""The service role's states, which calls each allows, and which event leads where.

Everything that moves a :class:`~.connection.ServerConnection` from one state to
another is in :data:`TRANSITIONS` (the convention of ``core/machine.py``): the
events it reads map to triggers by :func:`trigger_of`, the application's answers
(``respond``, ``accept_upgrade``, ``confirm_session``, ``close``...) are triggers of
their own. A connection that ends cleanly is ``CLOSED``; one that ends because the
client broke the protocol or dropped the connection is ``ERROR`` and keeps why.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from ..errors import AvatarError, ErrorCode, RemoteProtocolError
from .events import (
    ClientClosed,
    ClientProtocolViolation,
    ConfigureReceived,
    ConnectionLost,
    HttpRequestReceived,
    ServerEvent,
    UpgradeRequested,
)


class ServerState(str, Enum):
    """Where one connection stands, from the service's side."""

    READING_REQUEST = "reading_request"
    REQUEST_RECEIVED = "request_received"
    UPGRADE_REQUESTED = "upgrade_requested"
    AWAITING_CONFIGURE = "awaiting_configure"
    CONFIGURING = "configuring"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class ServerTrigger(str, Enum):
    """What moves a connection: an event read from the client, or the application's answer."""

    REQUEST_READ = "request_read"
    UPGRADE_READ = "upgrade_read"
    RESPONDED = "responded"
    UPGRADE_ACCEPTED = "upgrade_accepted"
    UPGRADE_REJECTED = "upgrade_rejected"
    CONFIGURE_READ = "configure_read"
    #: The first ingress message was not a configure; the application answers it.
    BAD_FIRST_MESSAGE = "bad_first_message"
    CONFIRMED = "confirmed"
    LOCAL_CLOSE = "local_close"
    PEER_CLOSE = "peer_close"
    CONNECTION_LOST = "connection_lost"
    #: The client broke the protocol and the core already answered (HTTP error or close).
    PROTOCOL_VIOLATION = "protocol_violation"

    def __str__(self) -> str:
        return self.value


S, T = ServerState, ServerTrigger

#: The whole state machine: (state, trigger) -> next state. Anything else is a bug.
TRANSITIONS: Mapping[tuple[ServerState, ServerTrigger], ServerState] = {
    (S.READING_REQUEST, T.REQUEST_READ): S.REQUEST_RECEIVED,
    (S.READING_REQUEST, T.UPGRADE_READ): S.UPGRADE_REQUESTED,
    (S.READING_REQUEST, T.LOCAL_CLOSE): S.CLOSED,
    (S.READING_REQUEST, T.CONNECTION_LOST): S.ERROR,
    (S.READING_REQUEST, T.PROTOCOL_VIOLATION): S.ERROR,
    (S.REQUEST_RECEIVED, T.RESPONDED): S.CLOSED,
    (S.REQUEST_RECEIVED, T.LOCAL_CLOSE): S.CLOSED,
    (S.REQUEST_RECEIVED, T.CONNECTION_LOST): S.ERROR,
    (S.UPGRADE_REQUESTED, T.UPGRADE_ACCEPTED): S.AWAITING_CONFIGURE,
    (S.UPGRADE_REQUESTED, T.UPGRADE_REJECTED): S.CLOSED,
    (S.UPGRADE_REQUESTED, T.LOCAL_CLOSE): S.CLOSED,
    (S.UPGRADE_REQUESTED, T.CONNECTION_LOST): S.ERROR,
    (S.AWAITING_CONFIGURE, T.CONFIGURE_READ): S.CONFIGURING,
    (S.AWAITING_CONFIGURE, T.BAD_FIRST_MESSAGE): S.CONFIGURING,
    (S.AWAITING_CONFIGURE, T.LOCAL_CLOSE): S.CLOSING,
    (S.AWAITING_CONFIGURE, T.PEER_CLOSE): S.CLOSED,
    (S.AWAITING_CONFIGURE, T.CONNECTION_LOST): S.ERROR,
    (S.AWAITING_CONFIGURE, T.PROTOCOL_VIOLATION): S.ERROR,
    (S.CONFIGURING, T.CONFIRMED): S.OPEN,
    (S.CONFIGURING, T.LOCAL_CLOSE): S.CLOSING,
    (S.CONFIGURING, T.CONNECTION_LOST): S.ERROR,
    (S.OPEN, T.LOCAL_CLOSE): S.CLOSING,
    (S.OPEN, T.PEER_CLOSE): S.CLOSED,
    (S.OPEN, T.CONNECTION_LOST): S.ERROR,
    (S.OPEN, T.PROTOCOL_VIOLATION): S.ERROR,
    (S.CLOSING, T.PEER_CLOSE): S.CLOSED,
    (S.CLOSING, T.CONNECTION_LOST): S.CLOSED,
    (S.CLOSING, T.PROTOCOL_VIOLATION): S.ERROR,
}

SOCKET_STATES = frozenset({S.AWAITING_CONFIGURE, S.CONFIGURING, S.OPEN})

#: States that wait for the application's answer: no further input is parsed in
#: them (only EOF is reported), so answers always apply to the event just read.
AWAITING_ANSWER = frozenset({S.REQUEST_RECEIVED, S.UPGRADE_REQUESTED, S.CONFIGURING})

_SOCKET_CALLS = frozenset({"send_error", "send_raw_message"})

#: Which application calls each state allows (``close`` is allowed, and a no-op once
#: closing or ended, in every state).
ALLOWED_CALLS: Mapping[ServerState, frozenset[str]] = {
    S.READING_REQUEST: frozenset(),
    S.REQUEST_RECEIVED: frozenset({"respond"}),
    S.UPGRADE_REQUESTED: frozenset({"accept_upgrade", "reject_upgrade"}),
    S.AWAITING_CONFIGURE: _SOCKET_CALLS,
    S.CONFIGURING: _SOCKET_CALLS | {"confirm_session"},
    S.OPEN: _SOCKET_CALLS | {"send_animation", "send_playback_state"},
    S.CLOSING: frozenset(),
    S.CLOSED: frozenset(),
    S.ERROR: frozenset(),
}

#: The trigger each event read from the client is (events not listed move nothing).
TRIGGER_OF_EVENT: Mapping[type[ServerEvent], ServerTrigger] = {
    HttpRequestReceived: T.REQUEST_READ,
    UpgradeRequested: T.UPGRADE_READ,
    ConfigureReceived: T.CONFIGURE_READ,
    ClientClosed: T.PEER_CLOSE,
    ConnectionLost: T.CONNECTION_LOST,
}


def trigger_of(event: ServerEvent) -> ServerTrigger | None:
    """The trigger ``event`` is, or ``None`` if it leaves the state alone.

    A violation the core answered itself (HTTP error or close frame) ends the
    connection; one it left to the application (a bad first message) only ends
    the wait for the configure message.
    """
    if isinstance(event, ClientProtocolViolation):
        answered = event.http_status is not None or event.close_code is not None
        return T.PROTOCOL_VIOLATION if answered else T.BAD_FIRST_MESSAGE
    return TRIGGER_OF_EVENT.get(type(event))


def cause_of(event: ServerEvent) -> AvatarError:
    """Why a connection that ``event`` ends in ``ERROR`` failed."""
    if isinstance(event, ClientProtocolViolation):
        return RemoteProtocolError(
            event.reason, http_status=event.http_status, close_code=event.close_code
        )
    return AvatarError(
        "the client dropped the connection without closing it",
        code=ErrorCode.CONNECTION_CLOSED,
    )
