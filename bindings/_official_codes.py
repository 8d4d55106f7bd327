"""How the official ``spatialreal`` 0.2.x SDK names a failure: its code and ``retryable``.

A program written for the official SDK branches on that SDK's codes, which follow
the production close-code contract (protocol.md section 3): a close code
(4000-4999, in a close frame or a ``ServerError``) names the error; any other
``ServerError`` is ``serverError``; the console's HTTP status names a token
refusal; an upgrade refused with 401/403 is a bad token, any other a failed
connection. The facade reports what that SDK would for the same wire event, from
the contract's tables in :mod:`avatarwire.core.errors`; the native API keeps its own
codes and ``retry`` advice.
"""

from __future__ import annotations

from avatarwire.core.errors import (
    UPGRADE_STATUS_RULES,
    AvatarError,
    ErrorCode,
    Phase,
    close_code_meaning,
    console_status_code,
    official_retryable,
)

__all__ = ["contract_close_code", "official_code", "official_retryable", "official_server_code"]

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
        return close_code_meaning(close_code)[0]
    status = error.http_status
    if error.phase is Phase.SESSION_TOKEN:
        if error.code is ErrorCode.PROTOCOL_ERROR:
            return ErrorCode.PROTOCOL_ERROR
        if status is None:
            return ErrorCode.CONNECTION_FAILED
        return console_status_code(status)
    if error.phase is Phase.WEBSOCKET_CONNECT:
        if status is not None and status in UPGRADE_STATUS_RULES:
            return UPGRADE_STATUS_RULES[status]
        return ErrorCode.CONNECTION_FAILED
    if error.close_code is not None:
        return ErrorCode.CONNECTION_CLOSED
    if _from_server_message(error):
        return ErrorCode.SERVER_ERROR
    if error.code in (ErrorCode.PROTOCOL_ERROR, ErrorCode.CONNECTION_FAILED):
        return error.code
    return ErrorCode.CONNECTION_CLOSED


def official_server_code(error: AvatarError) -> str | None:
    """The server code as the official SDK gives it: always the decimal code of a
    ``ServerError`` (``"0"`` when unset), else the console's code text."""
    if error.server_code is not None:
        return str(error.server_code)
    return "0" if _from_server_message(error) else None
