"""Fuzz the service role: arbitrary client bytes, with and without a valid upgrade.

Input layout: a mode byte, a chunk pattern byte (see
:func:`fuzz_input.split_by_pattern`), a behaviour byte for the application, then the
payload. Modes (bits 0-1):

0. the payload is the whole byte stream (HTTP request, then whatever follows);
1. a valid upgrade request, then the payload as raw frame bytes;
2. a valid upgrade request, then frames built from the payload: each frame is its
   first byte (FIN, RSV, opcode, as on the wire), a length byte, that many payload
   bytes; masked with a zero key. Mode bit 2 puts a valid configure frame first;
3. a token request (``POST .../session-tokens``) with the payload as its body.

Behaviour bits: 0 reject the upgrade; 1 refuse the configure (error + close);
2 answer audio with animation frames; 3 answer a bad first message as the service
does; 4 close after the first audio; 5 EOF at the end.

Run: ``python fuzz/server_ingress.py fuzz/seeds/server_ingress -max_total_time=300``.
"""

from __future__ import annotations

import contextlib
import sys

from fuzz_input import FuzzInput, client_frame, split_by_pattern
from invariants import ServerEventLog, check

from avatarwire.core.errors import AvatarError
from avatarwire.core.server import (
    AudioReceived,
    ClientProtocolViolation,
    ConfigureReceived,
    HttpRequestReceived,
    InterruptReceived,
    ServerConnection,
    UpgradeRequested,
    parse_token_request,
)
from avatarwire.core.wire import ClientConfigureSession, Message

UPGRADE_REQUEST = (
    b"GET /v2/driveningress/websocket?id=avatar-fuzz HTTP/1.1\r\n"
    b"Host: 127.0.0.1:9000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"X-App-ID: app-fuzz\r\n"
    b"X-Session-Key: tok-fuzz\r\n"
    b"\r\n"
)
CONFIGURE = Message(
    type=1,  # type: ignore[arg-type]
    client_configure_session=ClientConfigureSession(sample_rate=16000),
).SerializeToString()
MAX_MESSAGE_SIZE = 1024
MAX_REQUEST_BODY = 256


def frames_from(source: FuzzInput) -> bytes:
    """Masked frames built from ``source`` (first byte, length byte, payload; repeated)."""
    out = bytearray()
    while not source.exhausted:
        first = source.byte()
        out += client_frame(source.take(source.byte()), first)
    return bytes(out)


def _stream(mode: int, source: FuzzInput) -> bytes:
    kind = mode & 3
    if kind == 0:
        return source.rest()
    if kind == 1:
        return UPGRADE_REQUEST + source.rest()
    if kind == 2:
        first = client_frame(CONFIGURE) if mode & 4 else b""
        return UPGRADE_REQUEST + first + frames_from(source)
    body = source.rest()
    head = (
        b"POST /v1/console/session-tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Api-Key: key\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    )
    return head % len(body) + body


class Application:
    """A service application that answers every event, as the emulator would."""

    def __init__(self, server: ServerConnection, log: ServerEventLog, behaviour: int) -> None:
        self.server = server
        self.log = log
        self.behaviour = behaviour
        self.audio_seen = 0

    def answer_all(self) -> None:
        """Read and answer every pending event."""
        while (event := self.server.next_event()) is not None:
            self.log.note(event)
            # An answer in a state the connection left meanwhile is refused: fine.
            with contextlib.suppress(AvatarError):
                self._answer(event)

    def _answer(self, event: object) -> None:
        server, behaviour = self.server, self.behaviour
        if isinstance(event, HttpRequestReceived):
            try:
                expire_at = parse_token_request(event.body)
            except AvatarError:
                server.respond(400, {"message": "bad request"})
            else:
                server.respond(200, {"sessionToken": f"tok-{expire_at}"})
        elif isinstance(event, UpgradeRequested):
            if behaviour & 1:
                server.reject_upgrade(400, {"message": "Invalid session token"})
            else:
                server.accept_upgrade()
        elif isinstance(event, ConfigureReceived):
            if behaviour & 2:
                server.send_error(0, "unsupported sample rate")
                server.close()
            else:
                server.confirm_session("conn-fuzz", ["playback_control"])
        elif isinstance(event, AudioReceived):
            self.audio_seen += 1
            if behaviour & 4:
                server.send_animation(event.req_id, end=event.end, connection_id="conn-fuzz")
            if behaviour & 16:
                server.close(4002, "session time limit reached")
        elif isinstance(event, InterruptReceived):
            server.send_playback_state(event.req_id, 4, connection_id="conn-fuzz")
        elif (
            isinstance(event, ClientProtocolViolation)
            and event.close_code is None
            and event.http_status is None
            and behaviour & 8
        ):
            server.send_error(0, event.reason)
            server.close()


def TestOneInput(data: bytes) -> None:
    """Run one input (see the module docstring for its layout)."""
    source = FuzzInput(data)
    mode, pattern, behaviour = source.byte(), source.byte(), source.byte()
    server = ServerConnection(max_message_size=MAX_MESSAGE_SIZE, max_request_body=MAX_REQUEST_BODY)
    log = ServerEventLog(server)
    app = Application(server, log, behaviour)
    for piece in split_by_pattern(_stream(mode, source), pattern):
        server.receive_data(piece)
        app.answer_all()
        out = server.data_to_send()
        check(isinstance(out, bytes), "data_to_send() did not return bytes")
    if behaviour & 32:
        server.receive_data(b"")
        app.answer_all()
        server.data_to_send()
        check(server.closed, f"EOF left the server {server.state}")
    if server.closed:
        server.data_to_send()
        server.receive_data(b"\x88\x80\0\0\0\0")
        app.answer_all()
        check(server.data_to_send() == b"", "a closed connection wrote bytes")


def main() -> None:
    """Run under atheris with coverage of every module loaded so far."""
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
