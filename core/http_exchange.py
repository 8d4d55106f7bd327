"""One HTTP/1.1 request and its response, client side, sans-IO over h11.

The request is queued at construction; response bytes go in with
:meth:`HttpExchange.receive_data` in any chunking (``b""`` = EOF). A subclass says
what the complete response means (:meth:`HttpExchange._finish`). Shared by the token
exchange and the environment lookup, so there is one HTTP client in the core.

Its life is the table :data:`TRANSITIONS` (the convention of ``core/machine.py``): an
exchange that fails is ``FAILED`` and keeps the error that ended it (``.error``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum

import h11

from .endpoints import Endpoint
from .errors import (
    AvatarError,
    ConfigError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
    mask_secrets,
)
from .machine import Machine


def user_agent() -> str:
    """``avatarwire/<version>`` (read when a request is built: the package root imports
    the core, so the version is not there yet when this module loads)."""
    from .. import __version__

    return f"avatarwire/{__version__}"


class ExchangeState(str, Enum):
    """Where an HTTP exchange stands."""

    AWAITING_RESPONSE = "awaiting_response"
    READING_BODY = "reading_body"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class ExchangeTrigger(str, Enum):
    """What moves an HTTP exchange."""

    #: The response's status line and headers were read.
    HEAD_READ = "head_read"
    #: The complete response gives what was asked.
    RESPONSE_ACCEPTED = "response_accepted"
    #: The complete response refuses, or does not give what was asked (its error says why).
    RESPONSE_REFUSED = "response_refused"
    #: EOF before the response ended.
    CONNECTION_LOST = "connection_lost"
    #: Malformed HTTP, a 101, or a response over the size bound.
    PROTOCOL_VIOLATION = "protocol_violation"

    def __str__(self) -> str:
        return self.value


_S, _T = ExchangeState, ExchangeTrigger

#: The whole state machine of an exchange: (state, trigger) -> next state.
TRANSITIONS: Mapping[tuple[ExchangeState, ExchangeTrigger], ExchangeState] = {
    (_S.AWAITING_RESPONSE, _T.HEAD_READ): _S.READING_BODY,
    (_S.AWAITING_RESPONSE, _T.CONNECTION_LOST): _S.FAILED,
    (_S.AWAITING_RESPONSE, _T.PROTOCOL_VIOLATION): _S.FAILED,
    (_S.READING_BODY, _T.RESPONSE_ACCEPTED): _S.SUCCEEDED,
    (_S.READING_BODY, _T.RESPONSE_REFUSED): _S.FAILED,
    (_S.READING_BODY, _T.CONNECTION_LOST): _S.FAILED,
    (_S.READING_BODY, _T.PROTOCOL_VIOLATION): _S.FAILED,
}


class HttpExchange:
    """Client side of one request: queue it, read the response, fail with our errors.

    EOF before the response ends is ``connectionClosed``; malformed HTTP, a 101 or a
    response over ``max_response_size`` bytes (head and body, 1xx included) is a
    :class:`RemoteProtocolError`. Every error has ``phase`` and the ``secrets`` masked.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        method: str,
        headers: Sequence[tuple[str, str]],
        body: bytes = b"",
        *,
        phase: Phase,
        secrets: Iterable[str] = (),
        max_response_size: int = 64 * 1024,
    ) -> None:
        if (
            not isinstance(max_response_size, int)
            or isinstance(max_response_size, bool)
            or max_response_size <= 0
        ):
            raise ConfigError(
                "max_response_size", repr(max_response_size), "a positive number of bytes"
            )
        self._endpoint = endpoint
        self._phase = phase
        self._secrets = tuple(secrets)
        self._max_response_size = max_response_size
        # h11's own buffer limit must never trip first: we feed it at most max bytes.
        self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_response_size + 1)
        self._machine: Machine[ExchangeState, ExchangeTrigger] = Machine(
            type(self).__name__, TRANSITIONS, ExchangeState.AWAITING_RESPONSE, error_state=_S.FAILED
        )
        self._received = 0
        self._status: int | None = None
        self._body = bytearray()
        self._outgoing = self._build_request(method, headers, body)

    def __repr__(self) -> str:
        state = self._machine.state.value
        return f"{type(self).__name__}(endpoint={self._endpoint!r}, state={state!r})"

    @property
    def state(self) -> ExchangeState:
        """Where the exchange stands (see :data:`TRANSITIONS`)."""
        return self._machine.state

    @property
    def done(self) -> bool:
        """Whether the outcome is known (``SUCCEEDED`` or ``FAILED``)."""
        return self._machine.ended

    @property
    def error(self) -> AvatarError | None:
        """Why the exchange failed (the cause it is ``FAILED`` with), or ``None``."""
        return self._machine.cause

    def data_to_send(self) -> bytes:
        """The whole request the first time, then ``b""``."""
        outgoing, self._outgoing = self._outgoing, b""
        return outgoing

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the server; ``b""`` means the peer closed (EOF)."""
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
            error = RemoteProtocolError(f"malformed HTTP response: {exc}", phase=self._phase)
            self._end(_T.PROTOCOL_VIOLATION, error)
            return
        if not self.done and len(data) > len(chunk):
            self._fail_oversize()

    # --- for subclasses -------------------------------------------------------------------

    def _finish(self, status: int, body: bytes) -> None:
        """Decide the outcome of a complete response (succeed or fail)."""
        raise NotImplementedError

    def _succeed(self) -> None:
        """The complete response gives what was asked."""
        self._machine.move(_T.RESPONSE_ACCEPTED)

    def _fail(self, error: AvatarError, *, secrets: Iterable[str | None] = ()) -> None:
        """The complete response refuses, or does not give what was asked: ``error`` says why."""
        self._end(_T.RESPONSE_REFUSED, error, secrets)

    def _end(
        self, trigger: ExchangeTrigger, error: AvatarError, secrets: Iterable[str | None] = ()
    ) -> None:
        self._machine.move(trigger, mask_secrets(error, (*self._secrets, *secrets)))

    # --- request ----------------------------------------------------------------------------

    def _build_request(self, method: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
        all_headers = [
            ("Host", self._endpoint.host_header),
            ("User-Agent", user_agent()),
            ("Accept", "application/json"),
            *headers,
            ("Connection", "close"),
        ]
        if body or method == "POST":
            all_headers.insert(-1, ("Content-Length", str(len(body))))
        try:
            parts = [
                self._http.send(
                    h11.Request(method=method, target=self._endpoint.target, headers=all_headers)
                ),
                self._http.send(h11.Data(data=body)) if body else b"",
                self._http.send(h11.EndOfMessage()),
            ]
        except h11.ProtocolError as exc:
            error = LocalProtocolError(f"cannot build the request: {exc}", phase=self._phase)
            raise mask_secrets(error, self._secrets) from None
        return b"".join(part for part in parts if part)

    # --- response ---------------------------------------------------------------------------

    def _receive_eof(self) -> None:
        try:
            self._http.receive_data(b"")
            self._read_events()
        except h11.ProtocolError:
            pass  # everything before EOF was already read: the error is the early close
        if not self.done:
            self._end(
                _T.CONNECTION_LOST,
                AvatarError(
                    "the server closed the connection before the response was complete",
                    code=ErrorCode.CONNECTION_CLOSED,
                    phase=self._phase,
                    http_status=self._status,
                ),
            )

    def _read_events(self) -> None:
        while not self.done:
            event = self._http.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    self._end(
                        _T.PROTOCOL_VIOLATION,
                        RemoteProtocolError(
                            "the server switched protocols (101) on a plain HTTP request",
                            phase=self._phase,
                            http_status=101,
                        ),
                    )
                continue  # 1xx: the real response follows
            if isinstance(event, h11.Response):
                self._read_head(event)
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert self._status is not None
                self._finish(self._status, bytes(self._body))
            # ConnectionClosed mid-response is reported by h11 as an error; see EOF.

    def _read_head(self, response: h11.Response) -> None:
        self._status = response.status_code
        self._machine.move(_T.HEAD_READ)
        for name, value in response.headers:
            if name == b"content-length" and int(value) > self._max_response_size:
                self._fail_oversize()
                return

    def _fail_oversize(self) -> None:
        self._end(
            _T.PROTOCOL_VIOLATION,
            RemoteProtocolError(
                f"the server's response is larger than {self._max_response_size} bytes",
                phase=self._phase,
                http_status=self._status,
            ),
        )
