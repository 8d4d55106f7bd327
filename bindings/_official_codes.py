"""How the official ``spatialreal`` 0.2.x SDK names a failure: its code and ``retryable``.

A program written for the official SDK branches on that SDK's codes, which follow
the production close-code contract (protocol.md section 3): a close code
(4000-4999, in a close frame or a ``ServerError``) names the error; any other
``ServerError`` is ``serverError``; the console's HTTP status names a token
refusal; an upgrade refused with 401/403 is a bad token, any other a failed
connection. The facade reports what that SDK would for the same wire event; the
native API keeps its own codes and ``retry`` advice.
"""

from __future__ import annotations

from collections.abc import Mapping

from avatarwire.core.errors import AvatarError, ErrorCode, Phase

#: The close codes of the contract: what a service close code (or ServerError code) in
#: 4000-4999 is named; any other in that range is ``connectionClosed``.
CLOSE_CODE_CONTRACT: Mapping[int, ErrorCode] = {
    4001: ErrorCode.CREDITS_EXHAUSTED,
    4002: ErrorCode.SESSION_DURATION_EXCEEDED,
    4003: ErrorCode.CONCURRENCY_LIMIT,
    4010: ErrorCode.SESSION_TOKEN_INVALID,
    4503: ErrorCode.UPSTREAM_ERROR,
}

#: Close codes after which reconnecting is expected to work (4002: "reconnect is allowed
#: and expected"; 4503: "reconnect with backoff"); all outside 4000-4499 count too.
RETRYABLE_CLOSE_CODES = frozenset({4002, 4503})

#: Without a close code, only transport failures are worth a retry.
RETRYABLE_WITHOUT_CLOSE_CODE = frozenset(
    {ErrorCode.CONNECTION_FAILED, ErrorCode.CONNECTION_CLOSED, ErrorCode.UPSTREAM_ERROR}
)

#: The console's HTTP status -> code (>= 500 ``serverError``, any other ``invalidRequest``).
TOKEN_STATUS_CODES: Mapping[int, ErrorCode] = {
    401: ErrorCode.SESSION_TOKEN_INVALID,
    402: ErrorCode.BILLING_REQUIRED,
    403: ErrorCode.APP_ID_UNRECOGNIZED,
    404: ErrorCode.AVATAR_NOT_FOUND,
    429: ErrorCode.CONCURRENCY_LIMIT,
}

#: Upgrade refusals that mean the session token was not accepted.
UPGRADE_AUTH_STATUSES = frozenset({401, 403})

_SOCKET_PHASES = frozenset(
    {Phase.WEBSOCKET_HANDSHAKE, Phase.WEBSOCKET_RUNTIME, Phase.WEBSOCKET_SEND}
)


def _as_int(value: int | str | None) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _from_server_message(error: AvatarError) -> bool:
    """Whether the error reports a ``ServerError`` message (not a close or a failure)."""
    return error.phase in _SOCKET_PHASES and (
        error.server_code is not None or error.server_detail is not None
    )


def contract_close_code(error: AvatarError) -> int | None:
    """The close code of the contract the error carries: its close frame's code, or a
    ``ServerError`` code in 4000-4999; ``None`` for anything else."""
    code = error.close_code
    if code is None and _from_server_message(error):
        code = _as_int(error.server_code)
    return code if code is not None and 4000 <= code <= 4999 else None


def official_code(error: AvatarError) -> ErrorCode:
    """The code the official SDK gives the wire event behind ``error``."""
    close_code = contract_close_code(error)
    if close_code is not None:
        return CLOSE_CODE_CONTRACT.get(close_code, ErrorCode.CONNECTION_CLOSED)
    status = error.http_status
    if error.phase is Phase.SESSION_TOKEN:
        if error.code is ErrorCode.PROTOCOL_ERROR:
            return ErrorCode.PROTOCOL_ERROR
        if status is None:
            return ErrorCode.CONNECTION_FAILED
        if status in TOKEN_STATUS_CODES:
            return TOKEN_STATUS_CODES[status]
        return ErrorCode.SERVER_ERROR if status >= 500 else ErrorCode.INVALID_REQUEST
    if error.phase is Phase.WEBSOCKET_CONNECT:
        if status in UPGRADE_AUTH_STATUSES:
            return ErrorCode.SESSION_TOKEN_INVALID
        return ErrorCode.CONNECTION_FAILED
    if error.close_code is not None:
        return ErrorCode.CONNECTION_CLOSED
    if _from_server_message(error):
        return ErrorCode.SERVER_ERROR
    if error.code in (ErrorCode.PROTOCOL_ERROR, ErrorCode.CONNECTION_FAILED):
        return error.code
    return ErrorCode.CONNECTION_CLOSED


def official_retryable(code: ErrorCode | str, close_code: int | None) -> bool:
    """The official ``retryable``: by the close code when there is one (45xx and any
    non-40xx yes, 40xx no but 4002), else only for transport failures."""
    if close_code is None:
        return code in RETRYABLE_WITHOUT_CLOSE_CODE
    if close_code in RETRYABLE_CLOSE_CODES:
        return True
    return not 4000 <= close_code < 4500


def official_server_code(error: AvatarError) -> str | None:
    """The server code as the official SDK gives it: always the decimal code of a
    ``ServerError`` (``"0"`` when unset), else the console's code text."""
    if error.server_code is not None:
        return str(error.server_code)
    return "0" if _from_server_message(error) else None
