"""The service role of one TCP connection: an HTTP request (console call or plain
GET) or a WebSocket upgrade followed by an ingress session, sans-IO.

h11 parses the request; on an accepted upgrade the bytes it holds beyond the
request go to the ingress socket. Input is parsed lazily, one event per
``next_event()`` call, and not at all while an answer is awaited (request,
upgrade, configure), so :attr:`ServerConnection.state` always matches the events
the application has read and its answers always apply to the right one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import h11

from ..errors import AvatarError, LocalProtocolError
from ..machine import Machine
from ..wire import FlameAnimation
from ..wire_constants import MAX_MESSAGE_SIZE
from . import http_messages, messages
from .events import ClientProtocolViolation, ConnectionLost, ServerEvent
from .ingress import CLOSE_MESSAGE_TOO_BIG, IngressSocket
from .states import (
    ALLOWED_CALLS,
    AWAITING_ANSWER,
    TRANSITIONS,
    ServerState,
    ServerTrigger,
    cause_of,
    trigger_of,
)

S, T = ServerState, ServerTrigger

#: Largest WebSocket frame header (2 + 8 length + 4 mask bytes).
_MAX_FRAME_HEADER = 14


class ServerConnection:
    """The service role of one TCP connection: feed bytes in, read events, send answers.

    Loop: ``receive_data(chunk)``; ``next_event()`` until ``None``, answering each;
    write ``data_to_send()``; close the TCP connection once :attr:`closed`.
    """

    def __init__(
        self, *, max_message_size: int = MAX_MESSAGE_SIZE, max_request_body: int = 64 * 1024
    ) -> None:
        self.max_message_size = max_message_size
        self.max_request_body = max_request_body
        self._machine: Machine[ServerState, ServerTrigger] = Machine(
            "server connection", TRANSITIONS, S.READING_REQUEST, error_state=S.ERROR
        )
        self._eof = False
        self._pending_violation: ServerEvent | None = None
        self._outgoing = bytearray()
        self._parser = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._websocket_key = ""
        self._early_bytes = 0
        self._early_overflow = False
        self._socket: IngressSocket | None = None

    def __repr__(self) -> str:
        return f"<ServerConnection state={self.state.value}>"

    @property
    def state(self) -> ServerState:
        """The current :class:`ServerState`."""
        return self._machine.state

    @property
    def error(self) -> AvatarError | None:
        """Why the connection ended, once it is ``ERROR`` (the client's fault or a drop)."""
        return self._machine.cause

    @property
    def closed(self) -> bool:
        """Whether to close the TCP connection once ``data_to_send()`` is flushed (the
        connection ended, ``CLOSED`` or ``ERROR``)."""
        return self._machine.ended

    def data_to_send(self) -> bytes:
        """Bytes queued for the peer since the last call (drains the queue)."""
        if self._socket is not None:
            self._outgoing += self._socket.outgoing
            self._socket.outgoing.clear()
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    # --- input ------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer (``b""`` for EOF); never raises for bad input.

        Bytes arriving once the connection is closed are ignored.
        """
        if self.closed or self._eof:
            return
        if not data:
            self._eof = True
        elif self._socket is not None:
            self._socket.receive_data(bytes(data))
        elif self.state is S.READING_REQUEST:
            self._parser.receive_data(bytes(data))
        elif self.state is S.UPGRADE_REQUESTED and not self._early_overflow:
            self._early_bytes += len(data)
            self._early_overflow = self._early_bytes > self.max_message_size + _MAX_FRAME_HEADER
            if not self._early_overflow:
                self._parser.receive_data(bytes(data))
        # REQUEST_RECEIVED: the connection closes after the response; extra bytes are dropped.

    def next_event(self) -> ServerEvent | None:
        """The next event, or ``None`` until more bytes arrive (or after the end)."""
        if self.closed:
            return None
        event: ServerEvent | None = None
        if self._pending_violation is not None:
            event, self._pending_violation = self._pending_violation, None
        elif self.state is S.READING_REQUEST:
            event = self._read_request()
        elif self._socket is not None and self.state not in AWAITING_ANSWER:
            event = self._socket.next_event()
        if event is None and self._eof:
            event = ConnectionLost()
        trigger = trigger_of(event) if event is not None else None
        if event is not None and trigger is not None:
            failing = self._machine.fails_on(trigger)
            self._machine.move(trigger, cause_of(event) if failing else None)
        return event

    def events(self) -> list[ServerEvent]:
        """All events available now, oldest first (stops at one awaiting an answer)."""
        found = []
        while (event := self.next_event()) is not None:
            found.append(event)
        return found

    def _read_request(self) -> ServerEvent | None:
        while True:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError as exc:
                return self._refuse(f"bad HTTP request: {exc}", exc.error_status_hint)
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Request):
                self._request = event
            elif isinstance(event, h11.Data):
                if len(self._body) + len(event.data) > self.max_request_body:
                    limit = self.max_request_body
                    return self._refuse(f"request body larger than {limit} bytes", 413)
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return self._report_request()

    def _report_request(self) -> ServerEvent:
        assert self._request is not None
        headers = http_messages.header_dict(self._request.headers)
        if not http_messages.is_websocket_upgrade(headers):
            return http_messages.plain_request(self._request, bytes(self._body))
        try:
            upgrade = http_messages.upgrade_request(self._request)
        except http_messages.UpgradeRefused as refusal:
            return self._refuse(refusal.reason, refusal.status)
        self._websocket_key = upgrade.headers["sec-websocket-key"]
        return upgrade

    def _refuse(self, reason: str, status: int) -> ServerEvent:
        headers = {"Sec-WebSocket-Version": "13"} if status == 426 else None
        self._outgoing += http_messages.response_bytes(status, {"message": reason}, headers=headers)
        return ClientProtocolViolation(reason, http_status=status)

    # --- answers from the application ------------------------------------------------------

    def _require(self, call: str) -> None:
        if call not in ALLOWED_CALLS[self.state]:
            allowed = ", ".join(s.value for s, calls in ALLOWED_CALLS.items() if call in calls)
            raise LocalProtocolError(
                f"{call}() is not allowed in state {self.state.value} (allowed in: {allowed})"
            )

    def respond(
        self,
        status: int,
        body: http_messages.Body,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer a plain request (dict/list bodies go as JSON); the connection then closes."""
        self._require("respond")
        self._outgoing += http_messages.response_bytes(
            status, body, content_type=content_type, headers=headers
        )
        self._machine.move(T.RESPONDED)

    def reject_upgrade(
        self,
        status: int,
        body: http_messages.Body,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Refuse an upgrade with a plain HTTP response; the connection then closes."""
        self._require("reject_upgrade")
        self._outgoing += http_messages.response_bytes(
            status, body, content_type=content_type, headers=headers
        )
        self._machine.move(T.UPGRADE_REJECTED)

    def accept_upgrade(self) -> None:
        """Switch to WebSocket (101, no extensions, no subprotocol); await configure."""
        self._require("accept_upgrade")
        self._outgoing += http_messages.accept_response(self._websocket_key)
        early, _ = self._parser.trailing_data
        self._socket = IngressSocket(max_message_size=self.max_message_size, early_bytes=early)
        self._machine.move(T.UPGRADE_ACCEPTED)
        if self._early_overflow:
            reason = "client sent more than a message before the upgrade was answered"
            self._pending_violation = self._socket.fail(CLOSE_MESSAGE_TOO_BIG, reason)

    def _send(self, data: bytes | str) -> None:
        assert self._socket is not None
        self._socket.send_message(data)

    def confirm_session(self, connection_id: str, capabilities: Sequence[str] = ()) -> None:
        """Send ``ServerConfirmSession``; the session is open."""
        self._require("confirm_session")
        self._send(messages.encode_confirm(connection_id, list(capabilities)))
        self._machine.move(T.CONFIRMED)

    def send_error(
        self, code: int, message: str, *, req_id: str = "", connection_id: str = ""
    ) -> None:
        """Send ``ServerError`` (follow with ``close()`` to refuse a session)."""
        self._require("send_error")
        self._send(messages.encode_error(code, message, req_id=req_id, connection_id=connection_id))

    def send_animation(
        self,
        req_id: str,
        *,
        end: bool,
        connection_id: str,
        avatar_id: str = "",
        animation: FlameAnimation | bytes | None = None,
    ) -> None:
        """Send ``ServerResponseAnimation``; ``animation`` may be pre-serialized
        ``FlameAnimation`` bytes (serialize once, send many times)."""
        self._require("send_animation")
        self._send(
            messages.encode_animation(
                req_id,
                end=end,
                connection_id=connection_id,
                avatar_id=avatar_id,
                animation=animation,
            )
        )

    def send_playback_state(
        self,
        req_id: str,
        state: int,
        *,
        played_ms: int = 0,
        reason: str = "",
        connection_id: str = "",
    ) -> None:
        """Send ``ServerPlaybackState`` (``state``: 1 playing, 2 paused, 3 ended, 4 interrupted)."""
        self._require("send_playback_state")
        self._send(
            messages.encode_playback_state(
                req_id, state, played_ms=played_ms, reason=reason, connection_id=connection_id
            )
        )

    def send_raw_message(self, data: bytes | str) -> None:
        """Send one WebSocket message as given: ``bytes`` binary, ``str`` text (fault tests)."""
        self._require("send_raw_message")
        if not isinstance(data, (bytes, bytearray, str)):
            raise LocalProtocolError(f"raw message must be bytes or str, got {type(data)}")
        self._send(data if isinstance(data, str) else bytes(data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close: a close frame on an ingress socket (then wait for the reply or EOF),
        nothing on plain HTTP. Does nothing once closing or closed."""
        if self.state is S.CLOSING or self.closed:
            return
        if self._socket is None:
            self._machine.move(T.LOCAL_CLOSE)
            return
        if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
            raise LocalProtocolError(f"close code {code} may not be sent")
        self._socket.close(code, reason)
        self._machine.move(T.LOCAL_CLOSE)
