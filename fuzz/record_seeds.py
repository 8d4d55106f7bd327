"""Record seed corpora for every harness from real exchanges run in memory.

Each seed is what a real peer wrote in one scenario (a wsproto service peer for the
client session, an h11 console for the token exchange, a real client session for
the service role), put in the layout its harness reads. Run from anywhere:
``python fuzz/record_seeds.py`` rewrites ``fuzz/seeds/<harness>/``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import client_runtime
import client_upgrade
import h11
import server_ingress
import token_response
from client_fixtures import CAPABILITY_SETS, CONFIGS, confirm_message, new_session
from fuzz_input import server_frame
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.events import Message as WsMessage

from avatarwire.core.errors import AvatarError
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.server import ConfigureReceived, ServerConnection, UpgradeRequested
from avatarwire.core.session import ClientSession
from avatarwire.core.token import TokenExchange
from avatarwire.core.wire import Flame, FlameAnimation, Message

SEEDS = Path(__file__).resolve().parent / "seeds"


# --- server messages -------------------------------------------------------------------


def animation(req_id: str, *, end: bool = False, keyframes: int = 0) -> bytes:
    """A ``ServerResponseAnimation``, optionally with Flame keyframes."""
    message = Message(type=5)  # type: ignore[arg-type]
    frame = message.server_response_animation
    frame.connection_id, frame.req_id, frame.end = "conn-fuzz", req_id, end
    if keyframes:
        flames = [
            Flame(
                translation=[0.0, 0.1, 0.2],
                rotation=[0.5] * 3,
                jaw_pose=[0.01] * 3,
                expression=[float(i) / 10 for i in range(10)],
            )
            for _ in range(keyframes)
        ]
        frame.animation.CopyFrom(FlameAnimation(keyframes=flames))
        frame.avatar_id = "avatar-fuzz"
    return message.SerializeToString()


def server_error(code: int, text: str, req_id: str = "") -> bytes:
    """A ``ServerError``."""
    message = Message(type=4)  # type: ignore[arg-type]
    message.server_error.code, message.server_error.message = code, text
    message.server_error.req_id = req_id
    return message.SerializeToString()


def playback_state(req_id: str, state: int, played_ms: int = 0) -> bytes:
    """A ``ServerPlaybackState``."""
    message = Message(type=10)  # type: ignore[arg-type]
    playback = message.server_playback_state
    playback.req_id, playback.state, playback.played_ms = req_id, state, played_ms  # type: ignore[assignment]
    return message.SerializeToString()


# --- the client session against a wsproto service peer ---------------------------------


class ServicePeer:
    """A real wsproto server end whose output after the handshake is recorded as ops."""

    def __init__(self, header: int) -> None:
        self.header = header
        self.session = new_session(header)
        self.ws = WSConnection(ConnectionType.SERVER)
        self.ws.receive_data(self.session.data_to_send())
        assert any(isinstance(event, Request) for event in self.ws.events())
        caps = CAPABILITY_SETS[(header >> 2) & 3]
        self.session.receive_data(
            self.ws.send(AcceptConnection()) + self.ws.send(WsMessage(data=confirm_message(caps)))
        )
        self.ops = bytearray((header,))
        self.pump()

    def pump(self) -> None:
        """Move the client's output to the peer (and the peer's replies back)."""
        data = self.session.data_to_send()
        if data:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if (
                    isinstance(event, CloseConnection)
                    and self.ws.state is ConnectionState.REMOTE_CLOSING
                ):
                    self.write(self.ws.send(event.response()))
        self.session.events()

    def write(self, data: bytes) -> None:
        """Send ``data`` to the client, recording it as feed operations."""
        self.ops += client_runtime.encode_feed(data)
        self.session.receive_data(data)
        self.pump()

    def message(self, payload: bytes) -> None:
        self.write(self.ws.send(WsMessage(data=payload)))

    def call(self, op: bytes, action: Callable[[ClientSession], object]) -> None:
        """Record one application call and make it."""
        self.ops += op
        with contextlib.suppress(AvatarError):
            action(self.session)
        self.pump()

    def audio(self, units: int, *, end: bool) -> None:
        self.call(
            client_runtime.encode_audio(units, end=end),
            lambda s: s.send_audio(bytes(units * client_runtime.AUDIO_UNIT), end=end),
        )

    def eof(self) -> None:
        self.call(bytes((client_runtime.EOF,)), lambda s: s.receive_data(b""))


def runtime_scenarios() -> dict[str, bytes]:
    """Seeds for ``client_runtime``."""
    seeds: dict[str, bytes] = {}

    peer = ServicePeer(0)
    peer.audio(20, end=False)
    peer.audio(5, end=True)
    for index in range(3):
        peer.message(animation("req-1", keyframes=index + 1))
    peer.message(animation("req-1", end=True))
    peer.write(peer.ws.send(CloseConnection(code=1000)))
    seeds["frames_then_normal_close"] = bytes(peer.ops)

    peer = ServicePeer(0)
    peer.audio(4, end=True)
    peer.call(bytes((client_runtime.INTERRUPT,)), lambda s: s.interrupt())
    peer.message(animation("req-1"))
    peer.audio(3, end=False)
    peer.call(bytes((client_runtime.CLOSE,)), lambda s: s.close())
    seeds["interrupt_then_local_close"] = bytes(peer.ops)

    peer = ServicePeer(0)
    peer.audio(2, end=False)
    peer.message(server_error(3, "invalid argument: bad audio", "req-1"))
    peer.message(server_error(0, "no audio input for 30s"))
    peer.message(animation("req-1"))
    peer.eof()
    seeds["runtime_errors_then_eof"] = bytes(peer.ops)

    peer = ServicePeer(0)
    peer.write(peer.ws.send(Ping(payload=b"keepalive")))
    peer.audio(1, end=False)
    frame = animation("req-1", keyframes=2)
    peer.write(peer.ws.send(WsMessage(data=frame[:10], message_finished=False)))
    peer.write(peer.ws.send(WsMessage(data=frame[10:], message_finished=True)))
    peer.write(peer.ws.send(TextMessage(data="hello")))
    seeds["ping_fragments_then_text"] = bytes(peer.ops)

    peer = ServicePeer(1)  # Agora egress: empty control frames
    peer.audio(8, end=True)
    peer.message(animation("req-1"))
    peer.message(animation("", end=True))
    peer.message(animation("req-1", end=True))
    peer.audio(2, end=True)
    peer.message(animation("req-2", end=True))
    peer.write(peer.ws.send(CloseConnection(code=4001, reason="credits exhausted")))
    seeds["egress_control_frames_then_4001"] = bytes(peer.ops)

    peer = ServicePeer(2 | (3 << 2))  # LiveKit, playback control and state
    peer.audio(3, end=False)
    peer.message(playback_state("req-1", 1, 120))
    peer.call(bytes((client_runtime.PAUSE,)), lambda s: s.pause())
    peer.message(playback_state("req-1", 2, 240))
    peer.call(bytes((client_runtime.RESUME,)), lambda s: s.resume())
    peer.message(playback_state("req-1", 3, 900))
    peer.message(playback_state("req-1", 9, -5))
    peer.call(bytes((client_runtime.CLOSE + 1,)), lambda s: s.close(1001))
    seeds["playback_control_and_state"] = bytes(peer.ops)

    peer = ServicePeer(3)  # Ogg Opus: odd lengths allowed
    peer.call(
        bytes((client_runtime.AUDIO | 0x20 | 3, 1)), lambda s: s.send_audio(bytes(19), end=True)
    )
    peer.message(bytes(3000))
    seeds["oversize_message"] = bytes(peer.ops)

    peer = ServicePeer(0)
    peer.message(b"\x08\x05\x32\xff\xff")
    seeds["undecodable_message"] = bytes(peer.ops)

    peer = ServicePeer(0)
    unknown = Message(type=6).SerializeToString() + b"\xba\x06\x03abc"  # type: ignore[arg-type]
    peer.message(unknown)
    peer.message(Message(type=3).SerializeToString())  # type: ignore[arg-type]
    peer.message(confirm_message(("x",), "conn-again"))
    peer.audio(1, end=True)
    peer.message(animation("req-1", end=True))
    peer.message(animation("req-1", end=True))
    seeds["unknown_types_and_repeated_end"] = bytes(peer.ops)

    # The same kind of traffic through the harness's frame operation (payloads only).
    seeds["framed_messages"] = (
        bytes((3 << 2,))
        + client_runtime.encode_audio(4, end=False)
        + client_runtime.encode_frame(animation("req-1", keyframes=1))
        + client_runtime.encode_frame(playback_state("req-1", 1, 40))
        + client_runtime.encode_frame(server_error(14, "egress unavailable", "req-1"))
        + client_runtime.encode_audio(0, end=True)
        + client_runtime.encode_frame(animation("", end=True))
        + bytes((client_runtime.CLOSE,))
    )
    return seeds


def upgrade_scenarios() -> dict[str, bytes]:
    """Seeds for ``client_upgrade`` (mode, chunk pattern, flags, payload)."""
    seeds: dict[str, bytes] = {}

    def record(answer: Callable[[WSConnection], bytes]) -> bytes:
        session = new_session(0)
        ws = WSConnection(ConnectionType.SERVER)
        ws.receive_data(session.data_to_send())
        list(ws.events())
        return answer(ws)

    def accepted(ws: WSConnection) -> bytes:
        head = ws.send(AcceptConnection())
        start = head.index(b"Sec-WebSocket-Accept: ") + len(b"Sec-WebSocket-Accept: ")
        end = head.index(b"\r\n", start)
        templated = head[:start] + client_upgrade.ACCEPT_PLACEHOLDER + head[end:]
        return templated + ws.send(WsMessage(data=confirm_message(())))

    def rejected(
        status: int, body: bytes, chunked: bool = False
    ) -> Callable[[WSConnection], bytes]:
        def answer(ws: WSConnection) -> bytes:
            headers = (
                [(b"transfer-encoding", b"chunked")]
                if chunked
                else [(b"content-length", str(len(body)).encode())]
            )
            out = ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
            return out + ws.send(RejectData(data=body, body_finished=True))

        return answer

    seeds["accepted_and_confirmed"] = bytes((0, 0, 1)) + record(accepted)
    seeds["accepted_bytewise"] = bytes((0, 1, 0)) + record(accepted)
    bodies = {
        "reject_400_invalid_token": (400, b'{"message":"Invalid session token"}'),
        "reject_404_avatar": (404, b"Avatar not found"),
        "reject_402_credits": (402, b'{"message":"session denied: credits exhausted"}'),
        "reject_401_errors_shape": (
            401,
            b'{"errors":[{"code":"expired","detail":"session token expired"}]}',
        ),
        "reject_503_plain": (503, b"upstream unavailable"),
        "reject_oversize_body": (500, b"x" * 600),
    }
    for name, (status, body) in bodies.items():
        seeds[name] = bytes((0, 7, 1)) + record(rejected(status, body))
    seeds["reject_chunked"] = bytes((0, 0, 1)) + record(rejected(400, b'{"code":3}', chunked=True))
    seeds["reject_no_body_then_eof"] = bytes((0, 0, 1)) + record(
        lambda ws: ws.send(RejectConnection(status_code=429))
    )
    seeds["after_valid_head_confirm"] = bytes((2, 0, 1)) + server_frame(
        confirm_message(("playback_state",))
    )
    seeds["after_valid_head_refusal"] = bytes((2, 3, 1)) + server_frame(
        server_error(0, "unsupported sample rate")
    )
    seeds["after_status_line_headers"] = (
        bytes((1, 0, 4))
        + b"upgrade: WebSocket\r\nconnection: upgrade\r\nsec-websocket-accept: @ACCEPT@\r\n"
        + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    seeds["wrong_accept"] = bytes((0, 0, 1)) + (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    )
    seeds["status_200_not_upgrade"] = bytes((3, 5, 1)) + b"200 OK\r\nContent-Length: 2\r\n\r\n{}"
    seeds["close_before_answer"] = bytes((0, 0, 2)) + b"HTTP/1.1 101 Switching Protocols\r\n"
    return seeds


def token_scenarios() -> dict[str, bytes]:
    """Seeds for ``token_response`` (mode, chunk pattern, flags, payload), from h11."""
    seeds: dict[str, bytes] = {}

    def console(
        status: int, body: bytes, *, chunked: bool = False, informational: bool = False
    ) -> bytes:
        exchange = TokenExchange(token_response.ENDPOINT, token_response.API_KEY, 1_900_000_000)
        body = body.replace(token_response.API_KEY_PLACEHOLDER, token_response.API_KEY.encode())
        server = h11.Connection(h11.SERVER)
        server.receive_data(exchange.data_to_send())
        while server.next_event() not in (h11.NEED_DATA, h11.PAUSED):
            pass
        out = b""
        if informational:
            out += server.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
        framing = (
            [("Transfer-Encoding", "chunked")] if chunked else [("Content-Length", str(len(body)))]
        )
        headers = [("Content-Type", "application/json"), *framing]
        out += server.send(h11.Response(status_code=status, headers=headers)) or b""
        if chunked:
            for offset in range(0, len(body), 9):
                out += server.send(h11.Data(data=body[offset : offset + 9])) or b""
        elif body:
            out += server.send(h11.Data(data=body)) or b""
        out += server.send(h11.EndOfMessage()) or b""
        return out

    def doc(value: object) -> bytes:
        return json.dumps(value).encode()

    whole = {
        "ok_camel": console(200, doc({"sessionToken": "st-abc123"})),
        "ok_snake_chunked": console(200, doc({"session_token": "st-xyz"}), chunked=True),
        "ok_after_100_continue": console(200, doc({"sessionToken": "st-1"}), informational=True),
        "errors_with_200": console(
            200,
            doc(
                {
                    "sessionToken": "st-2",
                    "errors": [
                        {
                            "status": 403,
                            "code": "DENIED",
                            "title": "Denied",
                            "detail": "key @APIKEY@ revoked",
                        }
                    ],
                }
            ),
        ),
        "errors_shape_400": console(
            400,
            doc(
                {
                    "errors": [
                        {
                            "id": "bad",
                            "status": 400,
                            "code": "INVALID_ARGUMENT",
                            "title": "Invalid Argument",
                            "detail": "expire_at must be in the future",
                        }
                    ]
                }
            ),
        ),
        "flat_shape_401": console(
            401, doc({"status": 401, "error": "UNAUTHENTICATED", "message": "bad @APIKEY@"})
        ),
        "plain_text_500": console(500, b"internal error"),
        "empty_503": console(503, b""),
        "not_json_200": console(200, b"<html>ok</html>"),
        "token_with_control_char": console(200, b'{"sessionToken":"st-\\u0001x"}'),
        "empty_token": console(200, doc({"sessionToken": ""})),
        "switching_protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    }
    for name, response in whole.items():
        seeds[name] = bytes((0, 0, 1)) + response
    seeds["ok_camel_bytewise"] = bytes((0, 1, 1)) + whole["ok_camel"]
    seeds["truncated_then_eof"] = bytes((0, 0, 1)) + whole["ok_camel"][:-5]
    seeds["oversize_small_limit"] = bytes((0, 13, 3)) + console(200, doc({"pad": "x" * 400}))
    seeds["body_json_token"] = bytes((1, 0, 1)) + doc({"sessionToken": "st-body"})
    seeds["body_chunked_snake"] = bytes((2, 5, 1)) + doc({"session_token": "st-c"})
    seeds["body_status_401_echoes_key"] = bytes((3, 0, 1 | (2 << 2))) + doc(
        {"errors": [{"code": "expired", "detail": "token for @APIKEY@ expired"}]}
    )
    seeds["body_status_402"] = bytes((3, 0, 1 | (2 << 2))) + doc(
        {"message": "session denied: credits exhausted"}
    )
    return seeds


def server_scenarios() -> dict[str, bytes]:
    """Seeds for ``server_ingress``, from real client sessions and token requests."""
    seeds: dict[str, bytes] = {}

    def session_stream(
        config: int, calls: Callable[[ClientSession], object], *, refuse: bool = False
    ) -> bytes:
        session = ClientSession(CONFIGS[config], "tok-fuzz", request_ids=sequential_request_ids())
        server = ServerConnection()
        stream = bytearray()

        def pump() -> None:
            while True:
                data = session.data_to_send()
                stream.extend(data)
                if data:
                    server.receive_data(data)
                while (event := server.next_event()) is not None:
                    if isinstance(event, UpgradeRequested):
                        server.accept_upgrade()
                    elif isinstance(event, ConfigureReceived):
                        if refuse:
                            server.send_error(0, "unsupported sample rate")
                            server.close()
                        else:
                            server.confirm_session("conn-fuzz", ["playback_control"])
                reply = server.data_to_send()
                if reply:
                    session.receive_data(reply)
                if not data and not reply:
                    return

        pump()
        if not refuse:
            calls(session)
            pump()
        return bytes(stream)

    def normal(session: ClientSession) -> None:
        session.send_audio(bytes(200), end=False)
        session.send_audio(bytes(100), end=True, traceparent=None)
        session.send_audio(bytes(90), end=False)
        session.interrupt()
        session.pause()
        session.resume()
        session.close()

    seeds["session_audio_interrupt_close"] = bytes((0, 0, 4 | 32)) + session_stream(0, normal)
    seeds["session_bytewise"] = bytes((0, 1, 4)) + session_stream(0, normal)

    def traced(session: ClientSession) -> None:
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        session.send_audio(bytes(64), end=True, traceparent=trace)
        session.close()

    seeds["session_agora_traceparent"] = bytes((0, 9, 32)) + session_stream(1, traced)
    seeds["session_refused"] = bytes((0, 0, 2 | 32)) + session_stream(
        2, lambda s: None, refuse=True
    )
    seeds["session_close_after_audio"] = bytes((0, 3, 16 | 4)) + session_stream(
        3, lambda s: s.send_audio(bytes(33), end=True)
    )
    token = TokenExchange(token_response.ENDPOINT, "key-fuzz", 1_900_000_000).data_to_send()
    seeds["token_request"] = bytes((0, 0, 32)) + token
    seeds["upgrade_rejected"] = bytes((0, 0, 1 | 32)) + session_stream(0, lambda s: None)[:400]
    seeds["plain_get"] = bytes((0, 0, 0)) + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    seeds["bad_upgrade_version"] = bytes((0, 0, 0)) + server_ingress.UPGRADE_REQUEST.replace(
        b"Version: 13", b"Version: 8"
    )
    seeds["token_body"] = bytes((3, 0, 0)) + b'{"expireAt": 1900000000}'
    seeds["token_body_bad"] = bytes((3, 0, 0)) + b'{"expireAt": "soon"}'

    def frames(*parts: tuple[int, bytes]) -> bytes:
        return b"".join(bytes((first, len(payload))) + payload for first, payload in parts)

    audio = Message(type=3)  # type: ignore[arg-type]
    audio.client_audio_input.req_id, audio.client_audio_input.audio = "r1", bytes(50)
    audio.client_audio_input.end = True
    interrupt = Message(type=7)  # type: ignore[arg-type]
    interrupt.client_interrupt.req_id = "r1"
    seeds["frames_audio_interrupt_close"] = bytes((2 | 4, 0, 4 | 32)) + frames(
        (0x82, audio.SerializeToString()),
        (0x82, interrupt.SerializeToString()),
        (0x89, b"ping"),
        (0x88, b"\x03\xe8bye"),
    )
    seeds["frames_fragmented_and_text"] = bytes((2 | 4, 0, 0)) + frames(
        (0x02, audio.SerializeToString()[:10]),
        (0x80, audio.SerializeToString()[10:]),
        (0x81, b"text"),
    )
    seeds["frames_bad_first_message"] = bytes((2, 0, 8)) + frames((0x82, b"\xff\xff\xff"))
    seeds["frames_wrong_first_type"] = bytes((2, 0, 8)) + frames((0x82, audio.SerializeToString()))
    seeds["raw_frames_after_upgrade"] = (
        bytes((1, 0, 32)) + b"\x82\x80\0\0\0\0\x88\x82\0\0\0\0\x03\xe8"
    )
    return seeds


def motion_scenarios() -> dict[str, bytes]:
    """Seeds for ``motion_keyframes``."""
    return {
        "keyframes_3": animation("req-1", keyframes=3),
        "control_frame": animation("req-1"),
        "end_frame": animation("", end=True),
        "server_error": server_error(3, "x"),
    }


def write(harness: str, seeds: dict[str, bytes]) -> None:
    """Replace ``seeds/<harness>/`` with ``seeds``."""
    folder = SEEDS / harness
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, data in sorted(seeds.items()):
        (folder / name).write_bytes(data)
    print(f"{harness}: {len(seeds)} seeds", file=sys.stderr)


def main() -> None:
    """Record every corpus."""
    write("client_runtime", runtime_scenarios())
    write("client_upgrade", upgrade_scenarios())
    write("token_response", token_scenarios())
    write("server_ingress", server_scenarios())
    write("motion_keyframes", motion_scenarios())


if __name__ == "__main__":
    main()
