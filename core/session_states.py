"""The client session's states, and every transition between them, in one place.

Read the protocol off :data:`TRANSITIONS`: a (state, trigger) pair not listed there
cannot happen (the session's :class:`~.machine.Machine` raises for it).
:data:`ALLOWED_CALLS` says which application calls each state takes. A session that
ends cleanly is ``CLOSED``; one that ends for an error is ``ERROR`` and keeps that
error (``session.error``, the same one ``SessionClosed.error`` carries).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from .errors import Phase
from .machine import final_states


class SessionState(IntEnum):
    """Where a client session stands."""

    CONNECTING = 0
    CONFIGURING = 1
    READY = 2
    CLOSING = 3
    CLOSED = 4
    ERROR = 5

    #: Hash as the int each state equals (``Enum`` hashes the name, in Python): the
    #: tables keyed by state are read on every message.
    __hash__ = int.__hash__

    @property
    def ended(self) -> bool:
        """Whether the session is over, cleanly (``CLOSED``) or not (``ERROR``)."""
        return self in ENDED


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
    PEER_CLOSE_WITH_ERROR = 8


S, T = SessionState, Trigger

#: The whole state machine: (state, trigger) -> next state. Anything else is a bug.
#: ``PEER_CLOSE`` is a close frame that ends nothing badly (a normal code, or the
#: reply to our close); ``PEER_CLOSE_WITH_ERROR`` one that names an error (a code of
#: the service's contract, an unexpected code, or any close before confirmation).
TRANSITIONS: Mapping[tuple[SessionState, Trigger], SessionState] = {
    (S.CONNECTING, T.UPGRADE_ACCEPTED): S.CONFIGURING,
    (S.CONNECTING, T.UPGRADE_REJECTED): S.ERROR,
    (S.CONNECTING, T.LOCAL_CLOSE): S.CLOSED,
    (S.CONNECTING, T.CONNECTION_LOST): S.ERROR,
    (S.CONNECTING, T.PROTOCOL_VIOLATION): S.ERROR,
    (S.CONFIGURING, T.CONFIRMED): S.READY,
    (S.CONFIGURING, T.REFUSED): S.ERROR,
    (S.CONFIGURING, T.LOCAL_CLOSE): S.CLOSING,
    (S.CONFIGURING, T.PEER_CLOSE_WITH_ERROR): S.ERROR,
    (S.CONFIGURING, T.CONNECTION_LOST): S.ERROR,
    (S.CONFIGURING, T.PROTOCOL_VIOLATION): S.ERROR,
    (S.READY, T.LOCAL_CLOSE): S.CLOSING,
    (S.READY, T.PEER_CLOSE): S.CLOSED,
    (S.READY, T.PEER_CLOSE_WITH_ERROR): S.ERROR,
    (S.READY, T.CONNECTION_LOST): S.ERROR,
    (S.READY, T.PROTOCOL_VIOLATION): S.ERROR,
    (S.CLOSING, T.PEER_CLOSE): S.CLOSED,
    (S.CLOSING, T.CONNECTION_LOST): S.CLOSED,
    (S.CLOSING, T.PROTOCOL_VIOLATION): S.ERROR,
}

#: Where a session's life ends: no trigger leaves these.
ENDED: frozenset[SessionState] = final_states(TRANSITIONS, SessionState)

#: Which calls each state allows (``close`` is allowed, and a no-op, once closing).
ALLOWED_CALLS: Mapping[SessionState, frozenset[str]] = {
    S.CONNECTING: frozenset({"close"}),
    S.CONFIGURING: frozenset({"close"}),
    S.READY: frozenset({"send_audio", "interrupt", "pause", "resume", "close"}),
    S.CLOSING: frozenset({"close"}),
    S.CLOSED: frozenset({"close"}),
    S.ERROR: frozenset({"close"}),
}

PHASE_OF_STATE: Mapping[SessionState, Phase] = {
    S.CONNECTING: Phase.WEBSOCKET_CONNECT,
    S.CONFIGURING: Phase.WEBSOCKET_HANDSHAKE,
    S.READY: Phase.WEBSOCKET_RUNTIME,
    S.CLOSING: Phase.WEBSOCKET_RUNTIME,
    S.CLOSED: Phase.WEBSOCKET_RUNTIME,
    S.ERROR: Phase.WEBSOCKET_RUNTIME,
}
