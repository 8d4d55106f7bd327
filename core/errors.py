"""One exception family for everything that can go wrong, and the table that names it.

The service reports failures in many shapes (console HTTP responses, refused
upgrades, ``ServerError`` messages, close frames). Every one of them is turned into
an :class:`AvatarError` by the rules below, kept as data:

- the **close-code contract** of today's service (:data:`CLOSE_CODE_CONTRACT`):
  a code 4000-4999, in a close frame or in ``ServerError.code``, names the
  session's fate; 40xx means the request is at fault, 45xx means retry;
- any other ``ServerError`` code is a relayed upstream code: ``serverError``;
- console refusals by HTTP status (:data:`CONSOLE_STATUS_RULES`), refused upgrades
  by status (:data:`UPGRADE_STATUS_RULES`) after the service's known texts;
- :func:`classify` keeps the retired SDK's order (server code, text, status) for
  texts that come without a code, and for callers that need the old dialect.

Each error also says what the official SDK would call it (:attr:`AvatarError.official_code`,
:attr:`AvatarError.official_retryable`), while :attr:`AvatarError.retry` gives the
richer advice of this library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from .wire_constants import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    GRPC_INVALID_ARGUMENT,
    GRPC_UNAUTHENTICATED,
    GRPC_UNAVAILABLE,
    SERVICE_CLOSE_CODES,
    CloseCode,
)


class ErrorCode(str, Enum):
    """Stable error codes, spelled (and ordered) as the official SDKs spell them.

    This is the one list of codes: the official names of the compatibility layer
    (``AvatarSDKErrorCode``) are made from it, so a new code is one member here (and,
    if it has them, its rows in the tables below).
    """

    SESSION_TOKEN_EXPIRED = "sessionTokenExpired"
    SESSION_TOKEN_INVALID = "sessionTokenInvalid"
    APP_ID_UNRECOGNIZED = "appIDUnrecognized"
    APP_ID_MISMATCH = "appIDMismatch"
    AVATAR_NOT_FOUND = "avatarNotFound"
    BILLING_REQUIRED = "billingRequired"
    CREDITS_EXHAUSTED = "creditsExhausted"
    SESSION_DURATION_EXCEEDED = "sessionDurationExceeded"
    CONCURRENCY_LIMIT = "concurrencyLimit"
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

#: The service's ``CloseCode`` contract: code -> (error code, what a retry takes).
#: 4001 out of credits; 4002 maximum duration, reconnecting is expected; 4003 no
#: free slot, later; 4010 bad or expired token, only with a fresh one; 4503 a
#: dependency briefly down, with backoff.
CLOSE_CODE_CONTRACT: Mapping[int, tuple[ErrorCode, Retry]] = {
    CloseCode.CREDITS_EXHAUSTED.value: (ErrorCode.CREDITS_EXHAUSTED, Retry.NO),
    CloseCode.SESSION_TIMEOUT.value: (ErrorCode.SESSION_DURATION_EXCEEDED, Retry.NEW_SESSION),
    CloseCode.CONCURRENCY_LIMIT.value: (ErrorCode.CONCURRENCY_LIMIT, Retry.LATER),
    CloseCode.AUTH_FAILED.value: (ErrorCode.SESSION_TOKEN_INVALID, Retry.NEW_TOKEN),
    CloseCode.UPSTREAM_UNAVAILABLE.value: (ErrorCode.UPSTREAM_ERROR, Retry.BACKOFF),
}

#: Server codes (numeric gRPC / service codes, or their names) -> error code.
#: ``None`` means "depends on the text": see :data:`_EGRESS_WORDS`.
SERVER_CODE_RULES: Mapping[int | str, ErrorCode | None] = {
    GRPC_INVALID_ARGUMENT: None,
    "INVALID_ARGUMENT": None,
    GRPC_UNAUTHENTICATED: ErrorCode.INVALID_EGRESS_CONFIG,
    "UNAUTHENTICATED": ErrorCode.INVALID_EGRESS_CONFIG,
    GRPC_UNAVAILABLE: ErrorCode.EGRESS_UNAVAILABLE,
    "UNAVAILABLE": ErrorCode.EGRESS_UNAVAILABLE,
    **{code: meaning[0] for code, meaning in CLOSE_CODE_CONTRACT.items()},
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

#: Close codes that end a session normally.
NORMAL_CLOSE_CODES = frozenset({CLOSE_NORMAL, CLOSE_GOING_AWAY})

# --- today's contract (protocol.md section 3) ---------------------------------------

#: The codes that carry a session's fate, in a close frame or a ``ServerError``.
CLOSE_CODE_RANGE = SERVICE_CLOSE_CODES
#: Within it, the codes that say the request itself is at fault (retrying cannot help).
CALLER_FAULT_CLOSE_CODES = range(4000, 4500)

#: Close codes the official SDK retries although they are in the contract's range.
OFFICIAL_RETRYABLE_CLOSE_CODES = frozenset(
    {CloseCode.SESSION_TIMEOUT.value, CloseCode.UPSTREAM_UNAVAILABLE.value}
)
#: Without a close code, the official SDK retries only these.
OFFICIAL_RETRYABLE_CODES = frozenset(
    {ErrorCode.CONNECTION_FAILED, ErrorCode.CONNECTION_CLOSED, ErrorCode.UPSTREAM_ERROR}
)

#: Console (token) refusals by HTTP status; other 4xx are ``invalidRequest``, 5xx
#: ``serverError``.
CONSOLE_STATUS_RULES: Mapping[int, ErrorCode] = {
    401: ErrorCode.SESSION_TOKEN_INVALID,  # the API key was refused
    402: ErrorCode.BILLING_REQUIRED,
    403: ErrorCode.APP_ID_UNRECOGNIZED,
    404: ErrorCode.AVATAR_NOT_FOUND,
    429: ErrorCode.CONCURRENCY_LIMIT,
}

#: Refused upgrades by HTTP status, after the texts of :data:`TEXT_RULES`; any other
#: refusal is ``connectionFailed``.
UPGRADE_STATUS_RULES: Mapping[int, ErrorCode] = {
    401: ErrorCode.SESSION_TOKEN_INVALID,
    403: ErrorCode.SESSION_TOKEN_INVALID,
}

#: Statuses of a refused upgrade that a later attempt may get past.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})

#: Relayed (gRPC) codes in a ``ServerError`` that blame the request: a retry of the
#: same request cannot help (invalid argument, not found, permission denied, failed
#: precondition, unauthenticated, e.g. a bad LiveKit token).
CALLER_FAULT_SERVER_CODES = frozenset(
    {
        "3",
        "5",
        "7",
        "9",
        "16",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "UNAUTHENTICATED",
    }
)


def close_code_meaning(close_code: int) -> tuple[ErrorCode, Retry]:
    """What a close code of the contract's range means: named ones from the table;
    others ``connectionClosed``, retried only outside the 40xx (request at fault) range."""
    known = CLOSE_CODE_CONTRACT.get(close_code)
    if known is not None:
        return known
    retry = Retry.NO if close_code in CALLER_FAULT_CLOSE_CODES else Retry.BACKOFF
    return ErrorCode.CONNECTION_CLOSED, retry


def console_status_code(status: int | None) -> ErrorCode:
    """The code of a console (token) refusal with this HTTP status."""
    if status is not None and status in CONSOLE_STATUS_RULES:
        return CONSOLE_STATUS_RULES[status]
    if status is not None and status >= 500:
        return ErrorCode.SERVER_ERROR
    return ErrorCode.INVALID_REQUEST


def official_retryable(code: ErrorCode | str, close_code: int | None) -> bool:
    """The official SDK's ``retryable``: by the close code when there is one (4002 and
    4503 yes, other 40xx no, anything else yes), else only for connection failures,
    dropped connections and upstream errors."""
    if close_code is None:
        return code in OFFICIAL_RETRYABLE_CODES
    if close_code in OFFICIAL_RETRYABLE_CLOSE_CODES:
        return True
    return close_code not in CALLER_FAULT_CLOSE_CODES


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
    """Name a failure as the retired SDK did: server code, then text, then HTTP status.

    Today's service is read by the contract functions below; this order stays for
    callers that must speak the retired SDK's dialect.
    """
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
        server_code: str | None = None,
        server_title: str | None = None,
        server_detail: str | None = None,
        connection_id: str | None = None,
        req_id: str | None = None,
        raw_body: bytes | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
        official_code: ErrorCode | None = None,
    ) -> None:
        """``official_code`` is what the official SDK names the same failure, when it
        names it less precisely than ``code`` (leave it out when they agree)."""
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
        self._official_code = official_code

    @property
    def official_code(self) -> ErrorCode:
        """The code the official SDK gives the same failure (``code`` unless it differs)."""
        return self._official_code if self._official_code is not None else self.code

    @property
    def retry(self) -> Retry:
        """What a retry would take (``Retry.NO`` when none can help)."""
        if self.close_code is not None and self.close_code in CLOSE_CODE_RANGE:
            return close_code_meaning(self.close_code)[1]
        if self.phase is Phase.SESSION_TOKEN and self.code in _TOKEN_CODES:
            return Retry.NO  # the console refused the API key: a new token will not help
        if self.code is ErrorCode.SERVER_ERROR and self.server_code in CALLER_FAULT_SERVER_CODES:
            return Retry.NO  # the upstream blamed the request itself
        if (
            self.code is ErrorCode.CONNECTION_FAILED
            and self.http_status is not None
            and 400 <= self.http_status < 500
            and self.http_status not in TRANSIENT_HTTP_STATUSES
        ):
            return Retry.NO  # the upgrade was refused for what it asked, not for load
        return RETRY_RULES.get(self.code, Retry.NO)

    @property
    def retryable(self) -> bool:
        """Whether trying again (as :attr:`retry` says) can succeed."""
        return self.retry is not Retry.NO

    @property
    def official_retryable(self) -> bool:
        """The official SDK's ``retryable`` for the same failure (coarser than :attr:`retry`)."""
        return official_retryable(self.official_code, self.close_code)

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


# --- what the official SDK calls a failure ------------------------------------------


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
    return code if code is not None and code in CLOSE_CODE_RANGE else None


def official_sdk_code(error: AvatarError) -> ErrorCode:
    """The code the official SDK gives the wire event behind ``error``: the close-code
    contract first, then the console's or the upgrade's status table by phase, then
    what kind of event ended the session."""
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
    """Read either error shape of the service into ``code``/``status``/``title``/``detail``.

    ``code`` is always a string (a numeric code is given in decimal).
    """
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
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    return {
        "status": status if isinstance(status, int) and not isinstance(status, bool) else None,
        "code": _text(code),
        "title": _text(entry.get("title")),
        "detail": _text(entry.get("detail")) or _text(entry.get("message")),
    }


def _text_rule(text: str) -> ErrorCode | None:
    """The code the service's known texts name, if any."""
    lowered = text.lower()
    for phrases, code in TEXT_RULES:
        if any(phrase in lowered for phrase in phrases):
            return code
    return None


def _http_codes(status: int | None, text: str, phase: Phase) -> tuple[ErrorCode, ErrorCode]:
    """(our code, the official SDK's code) for an HTTP refusal in ``phase``."""
    if phase is Phase.SESSION_TOKEN:
        code = console_status_code(status)
        return code, code
    official = (
        UPGRADE_STATUS_RULES.get(status, ErrorCode.CONNECTION_FAILED)
        if status is not None
        else ErrorCode.CONNECTION_FAILED
    )
    return _text_rule(text) or official, official


def error_from_http(
    status: int | None, body: bytes, *, phase: Phase, connection_id: str | None = None
) -> AvatarError:
    """An error from an HTTP response (token refusal, upgrade rejection, 200 with errors).

    Console refusals follow :data:`CONSOLE_STATUS_RULES`; a refused upgrade is named
    by the service's known texts first (``Avatar not found``...), then by
    :data:`UPGRADE_STATUS_RULES`, else ``connectionFailed``.
    """
    fields = parse_error_body(body)
    if fields.get("status") is not None:
        status = fields["status"]
    detail: str | None = fields.get("detail")
    title: str | None = fields.get("title")
    plain = "" if fields else body[:512].decode("utf-8", "replace").strip()
    text = " ".join(part for part in (title, detail, plain) if part)
    code, official = _http_codes(status, text, phase)
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
        official_code=official,
    )


def error_from_server_message(
    code: int, message: str, *, phase: Phase, connection_id: str | None, req_id: str | None
) -> AvatarError:
    """An error from a ``ServerError`` message on the socket.

    A code in the contract's range (4000-4999) is also the error's ``close_code``;
    any other code is a relayed upstream code: ``serverError``. Only a message with
    no code (0) is named by its text, where the service's texts say more.
    """
    close_code = code if code in CLOSE_CODE_RANGE else None
    official = (
        close_code_meaning(close_code)[0] if close_code is not None else ErrorCode.SERVER_ERROR
    )
    error_code = official if code else (_text_rule(message) or official)
    return AvatarError(
        message or f"server error {code}",
        code=error_code,
        phase=phase,
        server_code=str(code),
        server_detail=message or None,
        connection_id=connection_id or None,
        req_id=req_id or None,
        close_code=close_code,
        official_code=official,
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
        error_code = (
            close_code_meaning(code)[0] if code in CLOSE_CODE_RANGE else ErrorCode.CONNECTION_CLOSED
        )
        message = f"closed by the server with code {code}" + (f": {reason}" if reason else "")
    return AvatarError(
        message,
        code=error_code,
        phase=phase,
        close_code=code,
        close_reason=reason or None,
        connection_id=connection_id,
    )
