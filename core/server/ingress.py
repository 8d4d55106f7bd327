"""The ingress WebSocket after the 101: frames in and out (wsproto's frame layer),
message assembly under a size limit, and the chores answered without the
application (pong, close reply, closes for violations)."""

from __future__ import annotations

from wsproto.connection import Connection as WebSocketFrames
from wsproto.connection import ConnectionState as FrameState
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.events import Event as FrameEvent

from ..wire import avatarkit_pb2 as pb
from . import messages
from .events import ClientClosed, ClientProtocolViolation, ServerEvent

#: Close codes for the violations answered here (RFC 6455 section 7.4.1).
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_MESSAGE_TOO_BIG = 1009

#: The service's texts for a bad first message (the application sends them).
EXPECTED_CONFIGURE = "expected clientconfiguresession message"
UNDECODABLE_FIRST_MESSAGE = "failed to unmarshal initial message"


class IngressSocket:
    """One accepted ingress WebSocket; parses lazily, one event per ``next_event()``."""

    def __init__(self, *, max_message_size: int, early_bytes: bytes = b"") -> None:
        self.max_message_size = max_message_size
        self.finished = False
        self.outgoing = bytearray()
        self._frames = WebSocketFrames(ConnectionType.SERVER)
        self._message = bytearray()
        self._awaiting_first_message = True
        if early_bytes:
            self._frames.receive_data(early_bytes)

    @property
    def closing(self) -> bool:
        """Whether our close frame went out and the reply is awaited."""
        return self._frames.state is FrameState.LOCAL_CLOSING

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer (parsed by :meth:`next_event`)."""
        if not self.finished:
            self._frames.receive_data(data)

    def next_event(self) -> ServerEvent | None:
        """The next event the buffered bytes make, or ``None`` if more bytes are needed."""
        while not self.finished:
            frame_event = next(self._frames.events(), None)
            if frame_event is None:
                return None
            event = self._on_frame_event(frame_event)
            if event is not None:
                return event
        return None

    def send_message(self, data: bytes | str) -> None:
        """Queue one message, text if ``data`` is a ``str``."""
        message = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        self.outgoing += self._frames.send(message)

    def close(self, code: int, reason: str) -> None:
        """Queue a close frame; the reply (or EOF) ends the socket."""
        self.outgoing += self._frames.send(CloseConnection(code=code, reason=reason))

    def _on_frame_event(self, event: FrameEvent) -> ServerEvent | None:
        if isinstance(event, Ping):
            if self._frames.state is FrameState.OPEN:
                self.outgoing += self._frames.send(event.response())
            return None
        if isinstance(event, CloseConnection):
            if self._frames.state in (FrameState.REMOTE_CLOSING, FrameState.CLOSED):
                return self._answer_close(event)
            # wsproto reports a frame it could not parse as a close it did not receive
            return self.fail(event.code or CLOSE_PROTOCOL_ERROR, event.reason or "bad frame")
        if isinstance(event, TextMessage):
            return self.fail(CLOSE_UNSUPPORTED_DATA, "text messages are not part of the protocol")
        if isinstance(event, BytesMessage):
            return self._assemble(event)
        return None  # pongs

    def _answer_close(self, event: CloseConnection) -> ServerEvent:
        if self._frames.state is FrameState.REMOTE_CLOSING:
            self.outgoing += self._frames.send(event.response())
        self.finished = True
        return ClientClosed(None if event.code == 1005 else int(event.code), event.reason or "")

    def _assemble(self, event: BytesMessage) -> ServerEvent | None:
        if self.closing:
            return None
        if len(self._message) + len(event.data) > self.max_message_size:
            self._message.clear()
            return self.fail(
                CLOSE_MESSAGE_TOO_BIG, f"message larger than {self.max_message_size} bytes"
            )
        self._message += event.data
        if not event.message_finished:
            return None
        raw = bytes(self._message)
        self._message.clear()
        return self._message_event(raw)

    def _message_event(self, raw: bytes) -> ServerEvent:
        message = messages.decode_message(raw)
        if self._awaiting_first_message:
            self._awaiting_first_message = False
            if message is None:
                return ClientProtocolViolation(UNDECODABLE_FIRST_MESSAGE)
            if message.type != pb.MESSAGE_CLIENT_CONFIGURE_SESSION:
                return ClientProtocolViolation(EXPECTED_CONFIGURE)
            return messages.configure_event(message, raw)
        if message is None:
            return self.fail(CLOSE_INVALID_PAYLOAD, "message is not a valid protobuf Message")
        return messages.session_event(message, raw)

    def fail(self, code: int, reason: str) -> ServerEvent:
        """Close for a violation (if still open) and end the socket; the event to report."""
        if self._frames.state is FrameState.OPEN:
            self.outgoing += self._frames.send(CloseConnection(code=code, reason=reason))
        self.finished = True
        return ClientProtocolViolation(reason, close_code=code)
