"""The wire's names and numbers, spelled once (protocol.md, section 3 where it differs).

Routes, header and query names, JSON field names, capabilities, enum values of the
configure message, relayed gRPC codes, close codes and default limits. The client
core, the server role, the emulator, the bindings and the benchmark sink all import
them from here, so client and emulator cannot drift apart.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "API_KEY_HEADER",
    "APP_ID_HEADER",
    "APP_ID_QUERY",
    "AVATAR_ID_QUERY",
    "CAPABILITY_PLAYBACK_CONTROL",
    "CAPABILITY_PLAYBACK_STATE",
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CONFIG_SERVICE_PATH",
    "EGRESS_TYPE_AGORA",
    "EGRESS_TYPE_LIVEKIT",
    "EGRESS_TYPE_NONE",
    "EXPIRE_AT_FIELD",
    "GRPC_INVALID_ARGUMENT",
    "GRPC_UNAUTHENTICATED",
    "GRPC_UNAVAILABLE",
    "INGRESS_PATH",
    "INGRESS_WEBSOCKET_PATH",
    "LEGACY_CONSOLE_SUFFIX",
    "MAX_MESSAGE_SIZE",
    "SERVICE_CLOSE_CODES",
    "SESSION_KEY_HEADER",
    "SESSION_KEY_QUERY",
    "TOKEN_ALIAS_PATH",
    "TOKEN_FIELDS",
    "TOKEN_PATH",
    "TOKEN_ROUTE",
    "TRANSPORT_COMPRESSION_NONE",
    "WEBSOCKET_SEGMENT",
    "CloseCode",
]

# --- console (HTTP) ------------------------------------------------------------------------

#: The token route under the API root (``POST {root}/v1/auth/session-token``).
TOKEN_ROUTE = "v1/auth/session-token"
TOKEN_PATH = "/" + TOKEN_ROUTE
#: The suffix an older console URL carries; the API root is the URL without it.
LEGACY_CONSOLE_SUFFIX = "/v1/console"
#: The older token route, kept by the service for old callers.
TOKEN_ALIAS_PATH = LEGACY_CONSOLE_SUFFIX + "/session-tokens"
API_KEY_HEADER = "X-Api-Key"
#: The request body's field: the token's expiry in unix seconds.
EXPIRE_AT_FIELD = "expireAt"
#: Response fields that carry the token: the newer spelling first, then the older.
TOKEN_FIELDS = ("session_token", "sessionToken")

#: The config service's route listing the environments (``GET``).
CONFIG_SERVICE_PATH = "/sdk"

# --- ingress (WebSocket) ---------------------------------------------------------------------

#: Appended to an environment's ingress origin.
INGRESS_PATH = "/v2/driveningress"
#: The last path segment of the socket, under the ingress URL.
WEBSOCKET_SEGMENT = "websocket"
INGRESS_WEBSOCKET_PATH = f"{INGRESS_PATH}/{WEBSOCKET_SEGMENT}"
AVATAR_ID_QUERY = "id"
#: Header auth (the default) ...
APP_ID_HEADER = "X-App-ID"
SESSION_KEY_HEADER = "X-Session-Key"
#: ... or query auth (browser style, opt-in).
APP_ID_QUERY = "appId"
SESSION_KEY_QUERY = "sessionKey"

#: What a server may announce in ``ServerConfirmSession.capabilities``.
CAPABILITY_PLAYBACK_CONTROL = "playback_control"
CAPABILITY_PLAYBACK_STATE = "playback_state"

#: ``ClientConfigureSession`` enum values (audio formats: :mod:`.audio_formats`).
EGRESS_TYPE_NONE = 0
EGRESS_TYPE_LIVEKIT = 1
EGRESS_TYPE_AGORA = 2
TRANSPORT_COMPRESSION_NONE = 0

#: gRPC codes the service relays in ``ServerError.code``.
GRPC_INVALID_ARGUMENT = 3
GRPC_UNAVAILABLE = 14
GRPC_UNAUTHENTICATED = 16

#: WebSocket close codes of a normal end.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001


#: The service's own close codes: a session's fate, in a close frame or ``ServerError.code``.
SERVICE_CLOSE_CODES = range(4000, 5000)


class CloseCode(IntEnum):
    """The service's own close codes, also sent as ``ServerError.code`` (40xx: the
    request is at fault; 45xx: retry). Names as the official SDK spells them."""

    CREDITS_EXHAUSTED = 4001
    SESSION_TIMEOUT = 4002
    CONCURRENCY_LIMIT = 4003
    AUTH_FAILED = 4010
    UPSTREAM_UNAVAILABLE = 4503


#: The largest message either side accepts by default (the service's limit is not public).
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
