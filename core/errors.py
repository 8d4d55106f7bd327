"""One exception family for everything that can go wrong, and the table that names it.

The service reports failures in many shapes (HTTP bodies, ``ServerError`` messages,
close codes). Every one of them is turned into an :class:`AvatarError` whose stable
``code`` comes from :func:`classify`, which reads the rules below as data: server
code first, then text, then HTTP status, the first match winning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """Stable error codes, spelled as the official SDKs spell them."""

    SESSION_TOKEN_EXPIRED = "sessionTokenExpired"
    SESSION_TOKEN_INVALID = "sessionTokenInvalid"
    APP_ID_UNRECOGNIZED = "appIDUnrecognized"
    APP_ID_MISMATCH = "appIDMismatch"
    AVATAR_NOT_FOUND = "avatarNotFound"
    BILLING_REQUIRED = "billingRequired"
    CREDITS_EXHAUSTED = "creditsExhausted"
    SESSION_DURATION_EXCEEDED = "sessionDurationExceeded"
    UNSUPPORTED_SAMPLE_RATE = "unsupportedSampleRate"
    INVALID_EGRESS_CONFIG = "invalidEgressConfig"
    EGRESS_UNAVAILABLE = "egressUnavailable"
    IDLE_TIMEOUT = "idleTimeout"
    UPSTREAM_ERROR = "upstreamError"
    INVALID_REQUEST = "invalidRequest"
    CONNECTION_FAILED = "connectionFailed"
    CONNECTION_CLOSED = "connectionClosed"
    PROTOCOL_ERROR = "protocolError"
    SERVER_ERROR = "serverError"
    UNKNOWN = "unknown"
    CONCURRENCY_LIMIT = "concurrencyLimit"

    def __str__(self) -> str:
        return self.value


class Phase(str, Enum):
    """Where in a session's life an error happened."""

    SESSION_TOKEN = "session_token"
    WEBSOCKET_CONNECT = "websocket_connect"
    WEBSOCKET_HANDSHAKE = "websocket_handshake"
    WEBSOCKET_RUNTIME = "websocket_runtime"
    WEBSOCKET_SEND = "websocket_send"

    def __str__(self) -> str:
        return self.value


class Retry(str, Enum):
    """What retrying takes, if anything can help."""

    NO = "no"
    NEW_TOKEN = "new_token"
    NEW_SESSION = "new_session"
    LATER = "later"
    BACKOFF = "backoff"

    def __str__(self) -> str:
        return self.value


# --- the classification table, as data -------------------------------------------

#: Server codes (numeric gRPC / service codes, or their names) -> error code.
#: ``None`` means "depends on the text": see :data:`_EGRESS_WORDS`.
SERVER_CODE_RULES: Mapping[int | str, ErrorCode | None] = {
    3: None,
    "INVALID_ARGUMENT": None,
    16: ErrorCode.INVALID_EGRESS_CONFIG,
    "UNAUTHENTICATED": ErrorCode.INVALID_EGRESS_CONFIG,
    14: ErrorCode.EGRESS_UNAVAILABLE,
    "UNAVAILABLE": ErrorCode.EGRESS_UNAVAILABLE,
    4001: ErrorCode.CREDITS_EXHAUSTED,
    4002: ErrorCode.SESSION_DURATION_EXCEEDED,
    4003: ErrorCode.CONCURRENCY_LIMIT,
    4010: ErrorCode.SESSION_TOKEN_INVALID,
    4503: ErrorCode.UPSTREAM_ERROR,
}

#: Words that turn an INVALID_ARGUMENT into an egress-config problem.
_EGRESS_WORDS = ("livekit", "agora", "egress")

#: Lower-case phrases -> error code, tried in this order.
TEXT_RULES: tuple[tuple[tuple[str, ...], ErrorCode], ...] = (
    (("credits exhausted",), ErrorCode.CREDITS_EXHAUSTED),
    (
        ("session time limit reached", "maximum session duration"),
        ErrorCode.SESSION_DURATION_EXCEEDED,
    ),
    (("session denied",), ErrorCode.BILLING_REQUIRED),
    (("invalid session token", "empty token"), ErrorCode.SESSION_TOKEN_INVALID),
    (("token is expired", "session token expired"), ErrorCode.SESSION_TOKEN_EXPIRED),
    (("app id mismatch",), ErrorCode.APP_ID_MISMATCH),
    (("app id unrecognized",), ErrorCode.APP_ID_UNRECOGNIZED),
    (("avatar not found",), ErrorCode.AVATAR_NOT_FOUND),
    (("unsupported sample rate",), ErrorCode.UNSUPPORTED_SAMPLE_RATE),
    (("livekit silence timeout", "no audio input for"), ErrorCode.IDLE_TIMEOUT),
    (
        ("egress client is not configured on server", "failed to create egress connection"),
        ErrorCode.EGRESS_UNAVAILABLE,
    ),
    (
        ("driven server returned non-200 status code", "driven server request failed"),
        ErrorCode.UPSTREAM_ERROR,
    ),
    (
        (
            "expected clientconfiguresession message",
            "unexpected message type",
            "failed to unmarshal initial message",
        ),
        ErrorCode.PROTOCOL_ERROR,
    ),
)

#: HTTP statuses with a fixed meaning (404 and 400 depend on the phase/text).
HTTP_STATUS_RULES: Mapping[int, ErrorCode] = {
    401: ErrorCode.SESSION_TOKEN_EXPIRED,
    402: ErrorCode.BILLING_REQUIRED,
    404: ErrorCode.APP_ID_UNRECOGNIZED,
}

#: The service's own WebSocket close codes.
CLOSE_CODE_RULES: Mapping[int, ErrorCode] = {
    4001: ErrorCode.CREDITS_EXHAUSTED,
    4002: ErrorCode.SESSION_DURATION_EXCEEDED,
    4003: ErrorCode.CONCURRENCY_LIMIT,
    4010: ErrorCode.SESSION_TOKEN_INVALID,
    4503: ErrorCode.UPSTREAM_ERROR,
}

#: Close codes that end a session normally.
NORMAL_CLOSE_CODES = frozenset({1000, 1001})

#: What retrying takes, per code; codes not listed cannot be helped by a retry.
RETRY_RULES: Mapping[ErrorCode, Retry] = {
    ErrorCode.SESSION_TOKEN_EXPIRED: Retry.NEW_TOKEN,
    ErrorCode.SESSION_TOKEN_INVALID: Retry.NEW_TOKEN,
    ErrorCode.SESSION_DURATION_EXCEEDED: Retry.NEW_SESSION,
    ErrorCode.IDLE_TIMEOUT: Retry.NEW_SESSION,
    ErrorCode.CONCURRENCY_LIMIT: Retry.LATER,
    ErrorCode.UPSTREAM_ERROR: Retry.BACKOFF,
    ErrorCode.EGRESS_UNAVAILABLE: Retry.BACKOFF,
    ErrorCode.SERVER_ERROR: Retry.BACKOFF,
    ErrorCode.CONNECTION_FAILED: Retry.BACKOFF,
    ErrorCode.CONNECTION_CLOSED: Retry.BACKOFF,
}

_TOKEN_CODES = frozenset({ErrorCode.SESSION_TOKEN_EXPIRED, ErrorCode.SESSION_TOKEN_INVALID})
_SOCKET_PHASES = frozenset(
    {Phase.WEBSOCKET_HANDSHAKE, Phase.WEBSOCKET_RUNTIME, Phase.WEBSOCKET_SEND}
)


def classify(
    *,
    phase: Phase,
    server_code: int | str | None = None,
    text: str = "",
    http_status: int | None = None,
) -> ErrorCode:
    """Name a failure: server code first, then text, then HTTP status."""
    lowered = text.lower()
    if server_code is not None and server_code in SERVER_CODE_RULES:
        by_code = SERVER_CODE_RULES[server_code]
        if by_code is not None:
            return by_code
        if any(word in lowered for word in _EGRESS_WORDS):
            return ErrorCode.INVALID_EGRESS_CONFIG
        return ErrorCode.INVALID_REQUEST
    for phrases, code in TEXT_RULES:
        if any(phrase in lowered for phrase in phrases):
            return code
    if http_status is not None:
        if http_status in HTTP_STATUS_RULES:
            return HTTP_STATUS_RULES[http_status]
        if http_status == 400 and phase is Phase.WEBSOCKET_CONNECT:
            return ErrorCode.SESSION_TOKEN_INVALID
        if 400 <= http_status < 500:
            return ErrorCode.INVALID_REQUEST
        if 500 <= http_status < 600:
            return ErrorCode.SERVER_ERROR
    return ErrorCode.SERVER_ERROR if phase in _SOCKET_PHASES else ErrorCode.UNKNOWN


# --- the exceptions -----------------------------------------------------------------


class AvatarError(Exception):
    """Any failure of a session, with a stable ``code`` and the context that explains it."""

    code: ErrorCode
    message: str
    phase: Phase | None

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode = ErrorCode.UNKNOWN,
        phase: Phase | None = None,
        http_status: int | None = None,
        server_code: int | str | None = None,
        server_title: str | None = None,
        server_detail: str | None = None,
        connection_id: str | None = None,
        req_id: str | None = None,
        raw_body: bytes | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.phase = phase
        self.http_status = http_status
        self.server_code = server_code
        self.server_title = server_title
        self.server_detail = server_detail
        self.connection_id = connection_id
        self.req_id = req_id
        self.raw_body = raw_body
        self.close_code = close_code
        self.close_reason = close_reason

    @property
    def retry(self) -> Retry:
        """What a retry would take (``Retry.NO`` when none can help)."""
        if self.phase is Phase.SESSION_TOKEN and self.code in _TOKEN_CODES:
            return Retry.NO  # the console refused the API key: a new token will not help
        return RETRY_RULES.get(self.code, Retry.NO)

    @property
    def retryable(self) -> bool:
        """Whether trying again (as :attr:`retry` says) can succeed."""
        return self.retry is not Retry.NO

    def __str__(self) -> str:
        where = f" during {self.phase.value}" if self.phase is not None else ""
        extra = []
        if self.http_status is not None:
            extra.append(f"HTTP {self.http_status}")
        if self.close_code is not None:
            extra.append(f"close code {self.close_code}")
        if self.req_id:
            extra.append(f"req_id {self.req_id}")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"[{self.code.value}]{where}: {self.message}{tail}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.value!r}, phase="
            f"{self.phase.value if self.phase else None!r}, message={self.message!r})"
        )


class LocalProtocolError(AvatarError):
    """The caller broke a rule of the protocol or the API (nothing was sent)."""

    def __init__(self, message: str, **context: Any) -> None:
        context.setdefault("code", ErrorCode.INVALID_REQUEST)
        super().__init__(message, **context)


class ConfigError(LocalProtocolError, ValueError):
    """A configuration value is not allowed; the message names the field."""

    def __init__(self, field: str, given: str, allowed: str) -> None:
        self.field = field
        super().__init__(f"{field}: got {given}; {allowed}")


class RemoteProtocolError(AvatarError):
    """The peer broke a rule of the protocol."""

    def __init__(self, message: str, **context: Any) -> None:
        context.setdefault("code", ErrorCode.PROTOCOL_ERROR)
        super().__init__(message, **context)


# --- keeping secrets out of errors --------------------------------------------------

SECRET_MASK = "***"
#: Shorter secrets are not masked: replacing every "ab" would garble the text and
#: reveal the secret's length and position anyway.
MIN_MASKED_LENGTH = 4


def mask_text(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret long enough to mask replaced by the mask."""
    for secret in secrets:
        if secret and len(secret) >= MIN_MASKED_LENGTH:
            text = text.replace(secret, SECRET_MASK)
    return text


def mask_secrets(error: AvatarError, secrets: Iterable[str | None]) -> AvatarError:
    """Blank out any of ``secrets`` the service echoed into an error's text or body."""
    found = [s for s in secrets if s and len(s) >= MIN_MASKED_LENGTH]
    if not found:
        return error

    def clean(text: str) -> str:
        return mask_text(text, found)

    error.message = clean(error.message)
    error.args = (error.message,)
    if error.server_title is not None:
        error.server_title = clean(error.server_title)
    if error.server_detail is not None:
        error.server_detail = clean(error.server_detail)
    if error.close_reason is not None:
        error.close_reason = clean(error.close_reason)
    if error.raw_body is not None:
        for secret in found:
            error.raw_body = error.raw_body.replace(secret.encode(), SECRET_MASK.encode())
    return error


# --- building errors from what the service sent ----------------------------------------


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_error_body(body: bytes) -> dict[str, Any]:
    """Read either error shape of the service into ``code``/``status``/``title``/``detail``."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if not isinstance(document, dict):
        return {}
    errors = document.get("errors")
    entry: object = errors[0] if isinstance(errors, list) and errors else document
    if not isinstance(entry, dict):
        return {}
    status = entry.get("status")
    code = entry.get("code")
    if code is None or code == "":
        code = entry.get("id") if "errors" in document else entry.get("error")
    return {
        "status": status if isinstance(status, int) and not isinstance(status, bool) else None,
        "code": code
        if (isinstance(code, int) and not isinstance(code, bool)) or _text(code)
        else None,
        "title": _text(entry.get("title")),
        "detail": _text(entry.get("detail")) or _text(entry.get("message")),
    }


def error_from_http(
    status: int | None, body: bytes, *, phase: Phase, connection_id: str | None = None
) -> AvatarError:
    """An error from an HTTP response (token refusal, upgrade rejection, 200 with errors)."""
    fields = parse_error_body(body)
    if fields.get("status") is not None:
        status = fields["status"]
    detail: str | None = fields.get("detail")
    title: str | None = fields.get("title")
    plain = "" if fields else body[:512].decode("utf-8", "replace").strip()
    text = " ".join(part for part in (title, detail, plain) if part)
    code = classify(phase=phase, server_code=fields.get("code"), text=text, http_status=status)
    summary = detail or title or plain or "no details in the response"
    message = f"HTTP {status}: {summary}" if status is not None else summary
    return AvatarError(
        message,
        code=code,
        phase=phase,
        http_status=status,
        server_code=fields.get("code"),
        server_title=title,
        server_detail=detail,
        connection_id=connection_id,
        raw_body=bytes(body),
    )


def error_from_server_message(
    code: int, message: str, *, phase: Phase, connection_id: str | None, req_id: str | None
) -> AvatarError:
    """An error from a ``ServerError`` message on the socket."""
    server_code = code or None
    return AvatarError(
        message or f"server error {code}",
        code=classify(phase=phase, server_code=server_code, text=message),
        phase=phase,
        server_code=server_code,
        server_detail=message or None,
        connection_id=connection_id or None,
        req_id=req_id or None,
    )


def error_from_close(
    code: int | None, reason: str, *, phase: Phase, connection_id: str | None = None
) -> AvatarError | None:
    """The error an unexpected close means, or ``None`` for a normal close."""
    if code in NORMAL_CLOSE_CODES:
        return None
    if code is None:
        message = "the connection was dropped without a close frame"
        error_code = ErrorCode.CONNECTION_CLOSED
    else:
        error_code = CLOSE_CODE_RULES.get(code, ErrorCode.CONNECTION_CLOSED)
        message = f"closed by the server with code {code}" + (f": {reason}" if reason else "")
    return AvatarError(
        message,
        code=error_code,
        phase=phase,
        close_code=code,
        close_reason=reason or None,
        connection_id=connection_id,
    )
