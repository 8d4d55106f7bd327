"""The service role of the AvatarKit protocol (console and ingress on one port), sans-IO.

Used by the local emulator and by tests that run the client core against it in
memory. :class:`ServerConnection` handles one TCP connection; the application
decides what is valid and answers each event.
"""

from .connection import ServerConnection
from .events import (
    AudioReceived,
    ClientClosed,
    ClientProtocolViolation,
    ConfigureReceived,
    ConnectionLost,
    HttpRequestReceived,
    InterruptReceived,
    PauseReceived,
    ResumeReceived,
    ServerEvent,
    UnexpectedMessageReceived,
    UpgradeRequested,
)
from .http_messages import parse_token_request
from .messages import encode_animation
from .states import ALLOWED_CALLS, TRANSITIONS, ServerState, ServerTrigger

__all__ = [
    "ALLOWED_CALLS",
    "TRANSITIONS",
    "AudioReceived",
    "ClientClosed",
    "ClientProtocolViolation",
    "ConfigureReceived",
    "ConnectionLost",
    "HttpRequestReceived",
    "InterruptReceived",
    "PauseReceived",
    "ResumeReceived",
    "ServerConnection",
    "ServerEvent",
    "ServerState",
    "ServerTrigger",
    "UnexpectedMessageReceived",
    "UpgradeRequested",
    "encode_animation",
    "parse_token_request",
]
