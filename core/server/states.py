"""The service role's states, which calls each allows, and which event leads where.

Everything that moves a :class:`~.connection.ServerConnection` from one state to
another is in this module, except the application's own answers (``respond``,
``accept_upgrade``, ``confirm_session``, ``close``...), each a one-liner there.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

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

    def __str__(self) -> str:
        return self.value


S = ServerState
SOCKET_STATES = frozenset({S.AWAITING_CONFIGURE, S.CONFIGURING, S.OPEN})

#: States that wait for the application's answer: no further input is parsed in
#: them (only EOF is reported), so answers always apply to the event just read.
AWAITING_ANSWER = frozenset({S.REQUEST_RECEIVED, S.UPGRADE_REQUESTED, S.CONFIGURING})

#: Which application calls each state allows (``close`` is allowed in every state).
ALLOWED_CALLS: Mapping[str, frozenset[ServerState]] = {
    "respond": frozenset({S.REQUEST_RECEIVED}),
    "accept_upgrade": frozenset({S.UPGRADE_REQUESTED}),
    "reject_upgrade": frozenset({S.UPGRADE_REQUESTED}),
    "confirm_session": frozenset({S.CONFIGURING}),
    "send_error": SOCKET_STATES,
    "send_raw_message": SOCKET_STATES,
    "send_animation": frozenset({S.OPEN}),
    "send_playback_state": frozenset({S.OPEN}),
}

#: The state an event leads to (events not listed leave the state alone).
STATE_AFTER_EVENT: Mapping[type[ServerEvent], ServerState] = {
    HttpRequestReceived: S.REQUEST_RECEIVED,
    UpgradeRequested: S.UPGRADE_REQUESTED,
    ConfigureReceived: S.CONFIGURING,
    ClientClosed: S.CLOSED,
    ConnectionLost: S.CLOSED,
}


def state_after(event: ServerEvent, current: ServerState) -> ServerState:
    """The state once ``event`` is reported.

    A violation the core answered itself (HTTP error or close frame) ends the
    connection; one it left to the application (a bad first message) only ends
    the wait for the configure message.
    """
    if isinstance(event, ClientProtocolViolation):
        answered = event.http_status is not None or event.close_code is not None
        return S.CLOSED if answered else S.CONFIGURING
    return STATE_AFTER_EVENT.get(type(event), current)
