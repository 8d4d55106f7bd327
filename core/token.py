"""The console leg, client role: trade the API key for a session token over HTTP/1.1.

Sans-IO over h11: the POST is queued at construction, response bytes go in with
:meth:`TokenExchange.receive_data` in any chunking, and the outcome is a token or an
:class:`~avatarwire.core.errors.AvatarError`. Only this package's errors ever leave
it; the API key and the token never appear in an error message or a repr.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import h11

from .. import __version__
from .endpoints import Endpoint
from .errors import (
    AvatarError,
    ConfigError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
    error_from_http,
    mask_secrets,
)

USER_AGENT = f"avatarwire/{__version__}"

#: Response keys that carry the token (older and newer backends).
TOKEN_KEYS = ("sessionToken", "session_token")

#: Secrets shorter than this are not masked in messages (masking would mangle text).
_PHASE = Phase.SESSION_TOKEN


class TokenExchangeState(str, Enum):
    """Where a token exchange stands."""

    AWAITING_RESPONSE = "awaiting_response"
    READING_BODY = "reading_body"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


def _is_header_safe(value: str) -> bool:
    """Printable ASCII with no surrounding spaces: survives a header unchanged."""
    return bool(value) and value == value.strip(" ") and all(" " <= ch <= "~" for ch in value)


class TokenExchange:
    """Client side of POST .../session-tokens: queue the request, parse the response.

    Outcomes, all with phase ``SESSION_TOKEN``: EOF before the response ends is
    ``connectionClosed`` (the request may have been served: retry with backoff);
    malformed HTTP, a 101, a response over ``max_response_size`` bytes (head and
    body, 1xx included) or an unusable token on a 200 is a ``RemoteProtocolError``;
    any other refusal is classified by :func:`error_from_http`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        api_key: str,
        expire_at: int,
        *,
        max_response_size: int = 64 * 1024,
    ) -> None:
        if not isinstance(api_key, str) or not _is_header_safe(api_key):
            given = "an empty value" if not api_key else "a value that is not header-safe"
            raise ConfigError("api_key", given, "printable ASCII with no surrounding spaces")
        if not isinstance(expire_at, int) or isinstance(expire_at, bool) or expire_at <= 0:
            raise ConfigError("expire_at", repr(expire_at), "unix seconds as a positive int")
        if (
            not isinstance(max_response_size, int)
            or isinstance(max_response_size, bool)
            or max_response_size <= 0
        ):
            raise ConfigError(
                "max_response_size", repr(max_response_size), "a positive number of bytes"
            )
        self._endpoint = endpoint
        self._api_key = api_key
        self._max_response_size = max_response_size
        # h11's own buffer limit must never trip first: we feed it at most max bytes.
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_response_size + 1)
        self._outgoing = self._build_request(expire_at)
        self._state = TokenExchangeState.AWAITING_RESPONSE
        self._received = 0
        self._status: int | None = None
        self._body = bytearray()
        self._token: str | None = None
        self._error: AvatarError | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self._endpoint!r}, state={self._state.value!r})"

    # --- public API ---------------------------------------------------------------------

    @property
    def state(self) -> TokenExchangeState:
        """Where the exchange stands."""
        return self._state

    @property
    def done(self) -> bool:
        """Whether the outcome (a token or an error) is known."""
        return self._state in (TokenExchangeState.SUCCEEDED, TokenExchangeState.FAILED)

    @property
    def token(self) -> str:
        """The session token; raises the exchange's error if it failed, or if not done yet."""
        if self._token is not None:
            return self._token
        if self._error is not None:
            raise self._error
        raise LocalProtocolError("no session token yet: the response is not complete", phase=_PHASE)

    @property
    def error(self) -> AvatarError | None:
        """Why the exchange failed, or ``None`` (not done yet, or succeeded)."""
        return self._error

    def data_to_send(self) -> bytes:
        """The whole request the first time, then ``b""``."""
        outgoing, self._outgoing = self._outgoing, b""
        return outgoing

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the console; ``b""`` means the peer closed (EOF)."""
        if self.done:
            return
        if not data:
            self._receive_eof()
            return
        # Never hand h11 more than max bytes: a response still open when more bytes
        # come is too large, whatever the chunking it arrived in.
        room = self._max_response_size - self._received
        if room <= 0:
            self._fail_oversize()
            return
        chunk = bytes(data[:room])
        self._received += len(chunk)
        try:
            self._http.receive_data(chunk)
            self._read_events()
        except h11.ProtocolError as exc:
            self._fail(RemoteProtocolError(f"malformed HTTP response: {exc}", phase=_PHASE))
            return
        if not self.done and len(data) > len(chunk):
            self._fail_oversize()

    # --- request --------------------------------------------------------------------------

    def _build_request(self, expire_at: int) -> bytes:
        body = json.dumps({"expireAt": expire_at}, separators=(",", ":")).encode("ascii")
        headers = [
            ("Host", self._endpoint.host_header),
            ("User-Agent", USER_AGENT),
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Api-Key", self._api_key),
            ("Connection", "close"),
        ]
        try:
            parts = [
                self._http.send(
                    h11.Request(method="POST", target=self._endpoint.target, headers=headers)
                ),
                self._http.send(h11.Data(data=body)),
                self._http.send(h11.EndOfMessage()),
            ]
        except h11.ProtocolError as exc:
            error = LocalProtocolError(f"cannot build the token request: {exc}", phase=_PHASE)
            raise mask_secrets(error, (self._api_key,)) from None
        return b"".join(part for part in parts if part)

    # --- response -------------------------------------------------------------------------

    def _receive_eof(self) -> None:
        try:
            self._http.receive_data(b"")
            self._read_events()
        except h11.ProtocolError:
            pass  # everything before EOF was already read: the error is the early close
        if not self.done:
            self._fail(
                AvatarError(
                    "the console closed the connection before the response was complete",
                    code=ErrorCode.CONNECTION_CLOSED,
                    phase=_PHASE,
                    http_status=self._status,
                )
            )

    def _read_events(self) -> None:
        while not self.done:
            event = self._http.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    self._fail(
                        RemoteProtocolError(
                            "the console switched protocols (101) on a token request",
                            phase=_PHASE,
                            http_status=101,
                        )
                    )
                continue  # 1xx: the real response follows
            if isinstance(event, h11.Response):
                self._read_head(event)
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._finish()
            # ConnectionClosed mid-response is reported by h11 as an error; see EOF.

    def _read_head(self, response: h11.Response) -> None:
        self._status = response.status_code
        self._state = TokenExchangeState.READING_BODY
        for name, value in response.headers:
            if name == b"content-length" and int(value) > self._max_response_size:
                self._fail_oversize()

    def _finish(self) -> None:
        body = bytes(self._body)
        if self._status != 200:
            self._fail(error_from_http(self._status, body, phase=_PHASE))
            return
        document = _json_object(body)
        candidate = _token_candidate(document) if document is not None else None
        errors = document.get("errors") if document is not None else None
        if isinstance(errors, list) and errors:
            self._fail(error_from_http(200, body, phase=_PHASE), token=candidate)
        elif candidate is None:
            what = "no session token" if document is not None else "a body that is not JSON"
            self._fail(
                RemoteProtocolError(
                    f"HTTP 200 with {what}", phase=_PHASE, http_status=200, raw_body=body
                )
            )
        elif not _is_header_safe(candidate):
            self._fail(
                RemoteProtocolError(
                    "HTTP 200 with a session token that is not printable ASCII "
                    "(control characters or surrounding spaces)",
                    phase=_PHASE,
                    http_status=200,
                ),
                token=candidate,
            )
        else:
            self._token = candidate
            self._state = TokenExchangeState.SUCCEEDED

    # --- failing, with secrets masked -----------------------------------------------------

    def _fail_oversize(self) -> None:
        self._fail(
            RemoteProtocolError(
                f"the console's response is larger than {self._max_response_size} bytes",
                phase=_PHASE,
                http_status=self._status,
            )
        )

    def _fail(self, error: AvatarError, *, token: str | None = None) -> None:
        if token is not None:
            error.raw_body = None  # it holds the token, perhaps escaped beyond recognition
        self._error = mask_secrets(error, (self._api_key, token))
        self._state = TokenExchangeState.FAILED


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` if it is anything else."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _token_candidate(document: dict[str, Any]) -> str | None:
    """The first non-empty string under a token key, before any validation."""
    for key in TOKEN_KEYS:
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    return None
