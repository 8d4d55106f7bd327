"""The official SDK's exceptions and codes, carrying what the native error knew.

``AvatarSDKError`` is an :class:`AvatarError`, so ``except AvatarError`` still
catches it; its ``code`` and ``retryable`` are the official SDK's for the same wire
event (decided in :mod:`avatarwire.core.errors` from the contract's tables), and
``native`` keeps the native error with its richer ``retry`` advice.

``AvatarSDKErrorCode`` is made from :class:`~avatarwire.core.errors.ErrorCode`, one
member per code, named by its value (``sessionTokenInvalid``...) as the official enum
names it, so a new code is one edit in ``core/errors.py``. Type checkers cannot see
names made at run time, so they are told that any attribute of the class is a member.
"""

from __future__ import annotations

from enum import Enum, EnumMeta
from typing import TYPE_CHECKING, Any, TypeVar

from avatarwire.core.errors import (
    AvatarError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    contract_close_code,
    official_retryable,
    official_sdk_code,
    official_server_code,
)
from avatarwire.core.wire_constants import CloseCode

__all__ = [
    "AvatarSDKError",
    "AvatarSDKErrorCode",
    "CloseCode",
    "SessionTokenError",
    "SessionUsageError",
    "to_sdk_error",
]

#: The official SDK keeps at most this much of a response body on an error.
RAW_BODY_LIMIT = 2048


if TYPE_CHECKING:

    class _OfficialNames(EnumMeta):
        """What a type checker knows of the made members: each is an ``AvatarSDKErrorCode``."""

        def __getattr__(cls, name: str) -> AvatarSDKErrorCode: ...

else:
    _OfficialNames = EnumMeta


class AvatarSDKErrorCode(str, Enum, metaclass=_OfficialNames):
    """The official SDK's error codes; each equals (and hashes as) its :class:`ErrorCode`."""

    _value_: str
    if not TYPE_CHECKING:  # the members, made from the one list of codes
        _ignore_ = ["_code"]
        for _code in ErrorCode:
            vars()[_code.value] = _code.value


def _phase(value: Phase | str | None) -> Phase | str:
    if value is None:
        return "unknown"
    try:
        return Phase(value)
    except ValueError:
        return value


class AvatarSDKError(AvatarError):
    """An error as the official SDK reports it: ``AvatarSDKError(code, message, ...)``."""

    code: AvatarSDKErrorCode  # type: ignore[assignment]  # the official names of the same codes
    phase: Phase | str  # type: ignore[assignment]  # the official default is "unknown"
    server_code: str | None
    raw_body: str | None  # type: ignore[assignment]  # the official SDK keeps the text

    def __init__(
        self,
        code: AvatarSDKErrorCode | ErrorCode | str,
        message: str,
        *,
        phase: Phase | str | None = "unknown",
        http_status: int | None = None,
        server_code: str | int | None = None,
        server_title: str | None = None,
        server_detail: str | None = None,
        connection_id: str | None = None,
        req_id: str | None = None,
        raw_body: str | bytes | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
    ) -> None:
        official = AvatarSDKErrorCode(code.value if isinstance(code, Enum) else code)
        super().__init__(
            message,
            code=ErrorCode(official.value),
            http_status=http_status,
            server_title=server_title,
            server_detail=server_detail,
            connection_id=connection_id,
            req_id=req_id,
            close_code=close_code,
            close_reason=close_reason,
        )
        self.code = official
        self.phase = _phase(phase)
        self.server_code = None if server_code is None else str(server_code)
        if isinstance(raw_body, bytes):
            raw_body = raw_body[:RAW_BODY_LIMIT].decode("utf-8", "replace")
        self.raw_body = raw_body
        #: The same failure as the native API reports it (richer ``code`` and ``retry``).
        self.native: AvatarError | None = None

    @property
    def retryable(self) -> bool:
        """Whether reconnecting can help, by the official SDK's rule (the close-code
        contract; without a close code, only transport failures)."""
        return official_retryable(self.code, self.close_code)

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.value!r}, phase={str(self.phase)!r}, "
            f"message={self.message!r}, close_code={self.close_code!r})"
        )


class SessionTokenError(AvatarSDKError):
    """``init()`` got no session token: the console refused or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        code: AvatarSDKErrorCode | ErrorCode | str = AvatarSDKErrorCode.invalidRequest,
        phase: Phase | str | None = Phase.SESSION_TOKEN,
        **context: Any,
    ) -> None:
        super().__init__(code, message, phase=phase, **context)


class SessionUsageError(LocalProtocolError, ValueError):
    """A call out of order (``send_audio`` before ``start``, ...); a ``ValueError``,
    as the official SDK raises for these."""


E = TypeVar("E", bound=AvatarSDKError)


def to_sdk_error(error: AvatarError, kind: type[E]) -> E:
    """``error`` as the official SDK would report the same wire event."""
    close_code = error.close_code if error.close_code is not None else contract_close_code(error)
    converted = kind(
        message=error.message,
        code=official_sdk_code(error),
        phase=error.phase,
        http_status=error.http_status,
        server_code=official_server_code(error),
        server_title=error.server_title,
        server_detail=error.server_detail,
        connection_id=error.connection_id,
        req_id=error.req_id,
        raw_body=error.raw_body,
        close_code=close_code,
        close_reason=error.close_reason,
    )
    converted.native = error
    return converted
