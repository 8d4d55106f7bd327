"""``python benchmarks/sink_server.py [--deflate]``: a service that is never the bottleneck.

The emulator does what the real service does (loudness per keyframe, real-time
playout, egress records) and costs more per message than the clients it serves,
so against it a client's figures partly measure the emulator. This sink does the
least a client needs to run its whole protocol: the token (both routes), the
upgrade, the session confirmation, then one pre-built animation frame per 40 ms
of audio received, sent at once, and the last one ``end`` on ``end=True``;
interrupts stop a request's frames. Per client message it parses a frame header,
unmasks only the first bytes (``req_id`` and ``end`` precede the audio in proto3
order) and writes at most once per read. It runs on uvloop where installed.

``--burst`` holds a request's frames until its ``end=True`` and then sends them all
in one write: the interrupt workload's way of leaving frames queued in the client's
socket when it calls ``interrupt()`` (the barge-in of a request whose audio has all
been sent but whose frames are still coming).

``--deflate`` accepts permessage-deflate (with no context takeover either way, so
every message stands alone and frames can be compressed once, ahead of time), the
extension the official SDK offers by default.

Prints one JSON line with the URLs and credentials, like the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import signal
import zlib

from avatarwire.core.codec import (
    TYPE_CLIENT_AUDIO_INPUT,
    TYPE_CLIENT_CONFIGURE_SESSION,
    TYPE_CLIENT_INTERRUPT,
)
from avatarwire.core.wire import FlameAnimation, Message, MessageType, ServerResponseAnimation
from avatarwire.core.wire_constants import INGRESS_PATH, LEGACY_CONSOLE_SUFFIX, TOKEN_FIELDS
from avatarwire.emulator.motion import MotionSynthesizer

API_KEY, APP_ID, AVATAR_ID = "sink-key", "sink-app", "sink-avatar"
CONNECTION_ID = "sink-connection"
AUDIO_PER_FRAME = 1280  # 40 ms of 16 kHz 16-bit mono: 25 frames per second of audio
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFLATE_ANSWER = b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"
KEYFRAME = MotionSynthesizer(25).keyframe(40, 7)
PEEK = 96  # bytes of a client message unmasked: type, req_id, end

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure fallback

    def apply_mask(data: bytes, key: bytes) -> bytes:
        size = len(data)
        repeated = (key * (size // 4 + 1))[:size]
        value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
        return value.to_bytes(size, "little")


def ws_frame(payload: bytes, deflate: bool) -> bytes:
    """One unmasked server frame (compressed on its own when ``deflate``)."""
    first = 0x82
    if deflate:
        compressor = zlib.compressobj(wbits=-15)
        payload = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        payload = payload[:-4]  # RFC 7692: drop the 00 00 ff ff tail
        first |= 0x40  # RSV1: compressed
    size = len(payload)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + payload


def animation(req_id: str, end: bool) -> bytes:
    """An animation message with one realistic keyframe (the emulator's, ~600 bytes)."""
    message = Message(
        type=MessageType.MESSAGE_SERVER_RESPONSE_ANIMATION,
        server_response_animation=ServerResponseAnimation(
            connection_id=CONNECTION_ID,
            req_id=req_id,
            end=end,
            animation=FlameAnimation.FromString(KEYFRAME),
            avatar_id=AVATAR_ID,
        ),
    )
    return message.SerializeToString()


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


class Request:
    """Audio received and frames owed for one ``req_id``."""

    __slots__ = ("audio", "end_frame", "frame", "interrupted")

    def __init__(self, req_id: str, deflate: bool) -> None:
        self.audio = 0
        self.interrupted = False
        self.frame = ws_frame(animation(req_id, False), deflate)
        self.end_frame = ws_frame(animation(req_id, True), deflate)


class SinkConnection(asyncio.Protocol):
    """One client connection: HTTP (token or upgrade), then WebSocket frames."""

    def __init__(self, deflate: bool, burst: bool) -> None:
        self.deflate_allowed = deflate
        self.burst = burst
        self.deflate = False
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.websocket = False
        self.requests: dict[bytes, Request] = {}
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.websocket:
            self.http()
        if self.websocket:
            self.frames()
        if self.out and self.transport is not None:
            self.transport.write(b"".join(self.out))
            self.out.clear()

    # --- HTTP -------------------------------------------------------------------------

    def http(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        method, target = head[0].split(" ")[:2]
        if method == "POST":
            body = json.dumps(dict.fromkeys(TOKEN_FIELDS, "sink-token"))
            self.out.append(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
            )
            assert self.transport is not None
            self.transport.write(b"".join(self.out))
            self.out.clear()
            self.transport.close()
            return
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        answer = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket"]
        answer += [b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + accept]
        if self.deflate_allowed and "permessage-deflate" in headers.get(
            "sec-websocket-extensions", ""
        ):
            self.deflate = True
            answer.append(b"Sec-WebSocket-Extensions: " + DEFLATE_ANSWER)
        self.out.append(b"\r\n".join(answer) + b"\r\n\r\n")
        self.websocket = True
        del target

    # --- WebSocket ------------------------------------------------------------------------

    def frames(self) -> None:
        buffer = self.buffer
        at = 0
        size = len(buffer)
        while size - at >= 6:
            first, second = buffer[at], buffer[at + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - at < 8:
                    break
                length = int.from_bytes(buffer[at + 2 : at + 4], "big")
                header = 4
            elif length == 127:
                if size - at < 14:
                    break
                length = int.from_bytes(buffer[at + 2 : at + 10], "big")
                header = 10
            start = at + header + 4
            if start + length > size:
                break
            key = bytes(buffer[start - 4 : start])
            opcode = first & 0x0F
            if opcode == 8:
                self.out.append(b"\x88\x02\x03\xe8")
                assert self.transport is not None
                self.transport.write(b"".join(self.out))
                self.out.clear()
                self.transport.close()
                del buffer[:]
                return
            if opcode == 2:
                if first & 0x40:  # compressed: unmask all, inflate the head
                    whole = apply_mask(bytes(buffer[start : start + length]), key)
                    peek = zlib.decompressobj(-15).decompress(whole + b"\x00\x00\xff\xff", PEEK)
                else:
                    peek = apply_mask(bytes(buffer[start : start + min(length, PEEK)]), key)
                self.message(peek)
            at = start + length
        del buffer[:at]

    def message(self, peek: bytes) -> None:
        kind = peek[1]
        # audio: 08 03 22 <len> 0a <len> req_id [10 01] 1a <len> audio
        if kind == TYPE_CLIENT_AUDIO_INPUT:
            _, at = _read_varint(peek, 3)
            id_length, at = _read_varint(peek, at + 1)
            req_id = peek[at : at + id_length]
            at += id_length
            end = peek[at : at + 2] == b"\x10\x01"
            if end:
                at += 2
            audio = 0
            if at < len(peek) and peek[at] == 0x1A:
                audio, _ = _read_varint(peek, at + 1)
            request = self.requests.get(req_id)
            if request is None:
                request = self.requests[req_id] = Request(req_id.decode(), self.deflate)
            if request.interrupted:
                return
            before = request.audio // AUDIO_PER_FRAME
            request.audio += audio
            owed = request.audio // AUDIO_PER_FRAME - before
            if end:
                if self.burst:
                    owed = request.audio // AUDIO_PER_FRAME
                if request.audio % AUDIO_PER_FRAME == 0 and owed:
                    owed -= 1
                self.out.extend([request.frame] * owed)
                self.out.append(request.end_frame)
                del self.requests[req_id]
            elif owed and not self.burst:
                self.out.extend([request.frame] * owed)
        elif kind == TYPE_CLIENT_CONFIGURE_SESSION:
            confirm = Message(type=MessageType.MESSAGE_SERVER_CONFIRM_SESSION)
            confirm.server_confirm_session.connection_id = CONNECTION_ID
            self.out.append(ws_frame(confirm.SerializeToString(), self.deflate))
        elif kind == TYPE_CLIENT_INTERRUPT:  # interrupt: 08 07 42 <len> 0a <len> req_id
            _, at = _read_varint(peek, 3)
            id_length, at = _read_varint(peek, at + 1)
            req_id = peek[at : at + id_length]
            request = self.requests.get(req_id)
            if request is not None:
                request.interrupted = True


async def serve(port: int, deflate: bool, burst: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkConnection(deflate, burst), "127.0.0.1", port)
    port = server.sockets[0].getsockname()[1]
    info = {
        "console_url": f"http://127.0.0.1:{port}{LEGACY_CONSOLE_SUFFIX}",
        "ingress_url": f"ws://127.0.0.1:{port}{INGRESS_PATH}",
        "api_key": API_KEY,
        "app_id": APP_ID,
        "avatar_id": AVATAR_ID,
    }
    print(json.dumps(info), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deflate", action="store_true", help="accept permessage-deflate")
    parser.add_argument("--burst", action="store_true", help="send a request's frames on its end")
    args = parser.parse_args()
    serving = serve(args.port, args.deflate, args.burst)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serving)
    else:
        uvloop.run(serving)


if __name__ == "__main__":
    main()
