"""Workload 4, the floor: encode an audio message and decode a frame, no sockets.

For each side, three levels: the protobuf message alone; the message plus
WebSocket framing (our core's ``ClientSession``, the official SDK's ``websockets``
protocol object), which is every byte of CPU the client spends per message short
of the socket calls; and the decode of a frame as each client does it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common import chunk

REQ_ID = "20250101120000_AbC123XyZ456"
CONNECTION_ID = "5b3a8e2c-1f4d-4e8a-9c3b-7d6e5f4a3b2c"


def per_call_ns(call: Callable[[], object], seconds: float) -> float:
    """Nanoseconds of CPU per call: the best of five timed batches."""
    batch = 1000
    deadline = time.perf_counter() + seconds / 5
    while time.perf_counter() < deadline:  # warm up and size the batch
        start = time.process_time_ns()
        for _ in range(batch):
            call()
        if time.process_time_ns() - start > 20_000_000:
            break
        batch *= 2
    best = float("inf")
    for _ in range(5):
        start = time.process_time_ns()
        for _ in range(batch):
            call()
        best = min(best, (time.process_time_ns() - start) / batch)
    return best


def sample_frame() -> bytes:
    """One animation message as the emulator sends it: one FLAME keyframe."""
    from avatarwire.core.server.messages import encode_animation
    from avatarwire.emulator.motion import MotionSynthesizer

    keyframe = MotionSynthesizer().keyframe(20, 3)
    frame: bytes = encode_animation(
        REQ_ID,
        end=False,
        connection_id=CONNECTION_ID,
        avatar_id="emulator-avatar",
        animation=keyframe,
    )
    return frame


def ready_client_session() -> Any:
    """Our client core in READY state, handshaken in memory against the server core."""
    from avatarwire.core.config import SessionConfig
    from avatarwire.core.server import ConfigureReceived, ServerConnection, UpgradeRequested
    from avatarwire.core.session import ClientSession, SessionState
    from avatarwire.core.wire_constants import CAPABILITY_PLAYBACK_CONTROL

    config = SessionConfig(
        api_key="key",
        app_id="app",
        avatar_id="avatar",
        ingress_url="ws://127.0.0.1:1/x",
        console_url="http://127.0.0.1:1/x",
    )
    ids = iter(range(10**9))
    from avatarwire.bindings.masking import fastest_masker

    client = ClientSession(
        config,
        "token",
        request_ids=lambda: f"{REQ_ID[:-6]}{next(ids):06d}",
        masker=fastest_masker(),  # as the bindings inject it
    )
    server = ServerConnection()
    while client.state is not SessionState.READY:
        outgoing = client.data_to_send()
        if not outgoing:
            break
        server.receive_data(outgoing)
        for event in server.events():
            if isinstance(event, UpgradeRequested):
                server.accept_upgrade()
            elif isinstance(event, ConfigureReceived):
                server.confirm_session(CONNECTION_ID, [CAPABILITY_PLAYBACK_CONTROL])
        incoming = server.data_to_send()
        if incoming:
            client.receive_data(incoming)
        client.events()
    assert client.state is SessionState.READY, client.state
    return client, server


def ours(seconds: float) -> dict[str, Any]:
    from avatarwire.core import codec
    from avatarwire.core.events import AnimationFrame

    audio = chunk(0)
    frame = sample_frame()
    client, server = ready_client_session()

    def send_path() -> bytes:
        client.send_audio(audio)
        data: bytes = client.data_to_send()
        return data

    server.send_raw_message(frame)
    wire_frame = server.data_to_send()

    def receive_path() -> object:
        client.receive_data(wire_frame)
        return client.events()

    def decode() -> object:
        message = codec.decode_message(frame)
        animation = message.server_response_animation
        return AnimationFrame(animation.req_id, frame, animation.end)

    return {
        "frame_hex": frame.hex(),
        "frame_bytes": len(frame),
        "encode_ns": per_call_ns(lambda: codec.encode_audio_input(REQ_ID, audio, False), seconds),
        "send_path_ns": per_call_ns(send_path, seconds),
        "decode_ns": per_call_ns(decode, seconds),
        "receive_path_ns": per_call_ns(receive_path, seconds),
    }


def official(seconds: float, frame_hex: str, package: str = "avatarkit") -> dict[str, Any]:
    import importlib

    message_pb2 = importlib.import_module(f"{package}.proto.generated.message_pb2")
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    audio = chunk(0)
    frame = bytes.fromhex(frame_hex)

    def encode() -> bytes:  # as AvatarSession.send_audio builds it
        msg = message_pb2.Message()
        msg.type = message_pb2.MESSAGE_CLIENT_AUDIO_INPUT
        msg.client_audio_input.req_id = REQ_ID
        msg.client_audio_input.audio = audio
        msg.client_audio_input.end = False
        data: bytes = msg.SerializeToString()
        return data

    client = ClientProtocol(parse_uri("ws://127.0.0.1/x"), state=State.OPEN)

    def send_path() -> object:
        client.send_binary(encode())
        return client.data_to_send()

    server = ClientProtocol(parse_uri("ws://127.0.0.1/x"), state=State.OPEN)
    server.side = server.side.__class__.SERVER  # an unmasked frame, as a server sends it
    server.send_binary(frame)
    wire_frame = b"".join(server.data_to_send())

    def decode() -> object:  # as AvatarSession._handle_binary_message reads it
        envelope = message_pb2.Message()
        envelope.ParseFromString(frame)
        if envelope.type == message_pb2.MESSAGE_SERVER_RESPONSE_ANIMATION:
            return bytes(frame), bool(envelope.server_response_animation.end)
        return None

    def receive_path() -> object:
        client.receive_data(wire_frame)
        for event in client.events_received():
            payload = event.data
            envelope = message_pb2.Message()
            envelope.ParseFromString(payload)
            if envelope.type == message_pb2.MESSAGE_SERVER_RESPONSE_ANIMATION:
                bytes(payload), bool(envelope.server_response_animation.end)
        return None

    return {
        "frame_bytes": len(frame),
        "encode_ns": per_call_ns(encode, seconds),
        "send_path_ns": per_call_ns(send_path, seconds),
        "decode_ns": per_call_ns(decode, seconds),
        "receive_path_ns": per_call_ns(receive_path, seconds),
    }


def run(side: str, seconds: float = 2.0, frame_hex: str = "") -> dict[str, Any]:
    """One side's per-message CPU in nanoseconds (the sides cannot share a process:
    both register a protobuf package named ``message``).

    The official side decodes the frame that our side built (``frame_hex``).
    """
    if side == "ours":
        return ours(seconds)
    from official import package_of

    return official(seconds, frame_hex, package_of(side))
