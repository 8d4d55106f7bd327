"""A minimal service peer over wsproto, for driving the client core in memory."""

from __future__ import annotations

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.events import Message as WsMessage

from avatarwire.core.session import ClientSession
from avatarwire.core.wire import Message


class ScriptedPeer:
    """The service end of one ingress socket, driven step by step by a test."""

    def __init__(self) -> None:
        self.ws = WSConnection(ConnectionType.SERVER)
        self.upgrade: Request | None = None
        self.messages: list[Message] = []
        self.raw_messages: list[bytes] = []
        self.closes: list[CloseConnection] = []
        self.pongs: list[bytes] = []
        self._partial: list[bytes] = []
        self.out = bytearray()

    def feed(self, data: bytes) -> None:
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, Request):
                self.upgrade = event
            elif isinstance(event, BytesMessage):
                self._partial.append(bytes(event.data))
                if event.message_finished:
                    raw = b"".join(self._partial)
                    self._partial.clear()
                    self.raw_messages.append(raw)
                    self.messages.append(Message.FromString(raw))
            elif isinstance(event, CloseConnection):
                self.closes.append(event)
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self.out += self.ws.send(event.response())
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))

    def accept(self) -> None:
        self.out += self.ws.send(AcceptConnection())

    def reject(self, status: int, body: bytes) -> None:
        self.out += self.ws.send(
            RejectConnection(
                status_code=status,
                headers=[(b"content-length", str(len(body)).encode())],
                has_body=True,
            )
        )
        self.out += self.ws.send(RejectData(data=body, body_finished=True))

    def send(self, message: Message) -> None:
        self.send_raw(message.SerializeToString())

    def send_raw(self, data: bytes) -> None:
        self.out += self.ws.send(WsMessage(data=data))

    def send_text(self, text: str) -> None:
        self.out += self.ws.send(TextMessage(data=text))

    def ping(self, payload: bytes) -> None:
        self.out += self.ws.send(Ping(payload=payload))

    def close(self, code: int, reason: str = "") -> None:
        self.out += self.ws.send(CloseConnection(code=code, reason=reason))

    def take(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data


def pump(client: ClientSession, peer: ScriptedPeer) -> None:
    """Move bytes both ways until neither side has anything to say."""
    while True:
        to_peer = client.data_to_send()
        if to_peer:
            peer.feed(to_peer)
        to_client = peer.take()
        if to_client:
            client.receive_data(to_client)
        if not to_peer and not to_client:
            return


def confirm(connection_id: str = "conn-1", capabilities: tuple[str, ...] = ()) -> Message:
    message = Message(type=2)  # type: ignore[arg-type]
    message.server_confirm_session.connection_id = connection_id
    message.server_confirm_session.capabilities.extend(capabilities)
    return message


def server_error(code: int, text: str, req_id: str = "") -> Message:
    message = Message(type=4)  # type: ignore[arg-type]
    message.server_error.code = code
    message.server_error.message = text
    message.server_error.req_id = req_id
    return message


def animation(req_id: str, end: bool = False, avatar_id: str = "") -> Message:
    message = Message(type=5)  # type: ignore[arg-type]
    message.server_response_animation.connection_id = "conn-1"
    message.server_response_animation.req_id = req_id
    message.server_response_animation.end = end
    message.server_response_animation.avatar_id = avatar_id
    return message
