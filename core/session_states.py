"""The client session's states, and every transition between them, in one place.

Read the protocol off :data:`TRANSITIONS`: a (state, trigger) pair not listed there
cannot happen. :data:`ALLOWED_CALLS` says which application calls each state takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from .errors import Phase


class SessionState(IntEnum):
    """Where a client session stands."""

    CONNECTING = 0
    CONFIGURING = 1
    READY = 2
    CLOSING = 3
    CLOSED = 4


class Trigger(IntEnum):
    """What moves a session from one state to another."""

    UPGRADE_ACCEPTED = 0
    UPGRADE_REJECTED = 1
    CONFIRMED = 2
    REFUSED = 3
    LOCAL_CLOSE = 4
    PEER_CLOSE = 5
    CONNECTION_LOST = 6
    PROTOCOL_VIOLATION = 7


S, T = SessionState, Trigger

#: The whole state machine: (state, trigger) -> next state. Anything else is a bug.
TRANSITIONS: Mapping[tuple[SessionState, Trigger], SessionState] = {
    (S.CONNECTING, T.UPGRADE_ACCEPTED): S.CONFIGURING,
    (S.CONNECTING, T.UPGRADE_REJECTED): S.CLOSED,
    (S.CONNECTING, T.LOCAL_CLOSE): S.CLOSED,
    (S.CONNECTING, T.CONNECTION_LOST): S.CLOSED,
    (S.CONNECTING, T.PROTOCOL_VIOLATION): S.CLOSED,
    (S.CONFIGURING, T.CONFIRMED): S.READY,
    (S.CONFIGURING, T.REFUSED): S.CLOSED,
    (S.CONFIGURING, T.LOCAL_CLOSE): S.CLOSING,
    (S.CONFIGURING, T.PEER_CLOSE): S.CLOSED,
    (S.CONFIGURING, T.CONNECTION_LOST): S.CLOSED,
    (S.CONFIGURING, T.PROTOCOL_VIOLATION): S.CLOSED,
    (S.READY, T.LOCAL_CLOSE): S.CLOSING,
    (S.READY, T.PEER_CLOSE): S.CLOSED,
    (S.READY, T.CONNECTION_LOST): S.CLOSED,
    (S.READY, T.PROTOCOL_VIOLATION): S.CLOSED,
    (S.CLOSING, T.PEER_CLOSE): S.CLOSED,
    (S.CLOSING, T.CONNECTION_LOST): S.CLOSED,
    (S.CLOSING, T.PROTOCOL_VIOLATION): S.CLOSED,
}

#: Which calls each state allows (``close`` is allowed, and a no-op, once closing).
ALLOWED_CALLS: Mapping[SessionState, frozenset[str]] = {
    S.CONNECTING: frozenset({"close"}),
    S.CONFIGURING: frozenset({"close"}),
    S.READY: frozenset({"send_audio", "interrupt", "pause", "resume", "close"}),
    S.CLOSING: frozenset({"close"}),
    S.CLOSED: frozenset({"close"}),
}

PHASE_OF_STATE: Mapping[SessionState, Phase] = {
    S.CONNECTING: Phase.WEBSOCKET_CONNECT,
    S.CONFIGURING: Phase.WEBSOCKET_HANDSHAKE,
    S.READY: Phase.WEBSOCKET_RUNTIME,
    S.CLOSING: Phase.WEBSOCKET_RUNTIME,
    S.CLOSED: Phase.WEBSOCKET_RUNTIME,
}
