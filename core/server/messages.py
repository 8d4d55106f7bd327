"""Ingress messages of the service role: client messages in as events, server
messages out as bytes.

Animation messages are the server's hot path, so they are encoded by hand in
the canonical proto3 layout (fields in number order, zero values left out); the
tests check the bytes against the protobuf encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from ..codec import length_delimited, varint
from ..errors import LocalProtocolError
from ..wire import (
    FlameAnimation,
    Message,
    ServerConfirmSession,
    ServerError,
    ServerPlaybackState,
)
from ..wire import avatarkit_pb2 as pb
from .events import (
    AudioReceived,
    ConfigureReceived,
    InterruptReceived,
    PauseReceived,
    ResumeReceived,
    ServerEvent,
    UnexpectedMessageReceived,
)

#: ``Message`` type 5 followed by the tag of oneof field 6 (length-delimited).
_ANIMATION_PREFIX = b"\x08\x05\x32"


def decode_message(data: bytes) -> Message | None:
    """The ``Message`` in ``data``, or ``None`` if it does not decode."""
    try:
        return Message.FromString(data)
    except (DecodeError, ValueError, RuntimeError):
        return None


def configure_event(message: Message, raw: bytes) -> ConfigureReceived:
    """The event for a configure message (defaults when the oneof is absent)."""
    configure = message.client_configure_session
    return ConfigureReceived(
        sample_rate=configure.sample_rate,
        bitrate=configure.bitrate,
        audio_format=int(configure.audio_format),
        transport_compression=int(configure.transport_compression),
        egress_type=int(configure.egress_type),
        agora=configure.agora_egress if configure.HasField("agora_egress") else None,
        livekit=configure.livekit_egress if configure.HasField("livekit_egress") else None,
        extra_params=dict(configure.extra_params),
        raw=raw,
    )


def session_event(message: Message, raw: bytes) -> ServerEvent:
    """The event for a message after the first one."""
    kind = int(message.type)
    if kind == pb.MESSAGE_CLIENT_AUDIO_INPUT:
        audio = message.client_audio_input
        return AudioReceived(
            req_id=audio.req_id,
            audio=audio.audio,
            end=audio.end,
            traceparent=audio.trace_context.traceparent,
            tracestate=audio.trace_context.tracestate,
        )
    if kind == pb.MESSAGE_CLIENT_INTERRUPT:
        return InterruptReceived(req_id=message.client_interrupt.req_id)
    if kind == pb.MESSAGE_CLIENT_PAUSE:
        return PauseReceived(req_id=message.client_pause.req_id)
    if kind == pb.MESSAGE_CLIENT_RESUME:
        return ResumeReceived(req_id=message.client_resume.req_id)
    return UnexpectedMessageReceived(message_type=kind, raw=raw)


def _serialize(message: Message) -> bytes:
    try:
        return message.SerializeToString()
    except (ValueError, TypeError) as exc:  # pragma: no cover - guarded by the setters
        raise LocalProtocolError(f"cannot encode message: {exc}") from exc


def encode_confirm(connection_id: str, capabilities: Sequence[str]) -> bytes:
    """A ``ServerConfirmSession`` message."""
    try:
        confirm = ServerConfirmSession(connection_id=connection_id, capabilities=capabilities)
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"cannot encode confirm: {exc}") from exc
    return _serialize(
        Message(type=pb.MESSAGE_SERVER_CONFIRM_SESSION, server_confirm_session=confirm)
    )


def encode_error(code: int, text: str, *, req_id: str, connection_id: str) -> bytes:
    """A ``ServerError`` message."""
    try:
        error = ServerError(connection_id=connection_id, req_id=req_id, code=code, message=text)
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"cannot encode server error: {exc}") from exc
    return _serialize(Message(type=pb.MESSAGE_SERVER_ERROR, server_error=error))


def encode_playback_state(
    req_id: str, state: int, *, played_ms: int, reason: str, connection_id: str
) -> bytes:
    """A ``ServerPlaybackState`` (``state``: 1 playing, 2 paused, 3 ended, 4 interrupted)."""
    try:
        playback = ServerPlaybackState(
            connection_id=connection_id,
            req_id=req_id,
            state=state,  # type: ignore[arg-type]
            played_ms=played_ms,
            reason=reason,
        )
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"cannot encode playback state: {exc}") from exc
    return _serialize(
        Message(type=pb.MESSAGE_SERVER_PLAYBACK_STATE, server_playback_state=playback)
    )


def _text_field(tag: int, text: str) -> bytes:
    if not text:
        return b""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError("animation text fields must be valid Unicode") from exc
    return length_delimited(bytes((tag,)), data)


def encode_animation(
    req_id: str,
    *,
    end: bool,
    connection_id: str,
    avatar_id: str = "",
    animation: FlameAnimation | bytes | None = None,
) -> bytes:
    """A ``ServerResponseAnimation`` message; ``animation`` may be pre-serialized
    ``FlameAnimation`` bytes (encode once, send many times)."""
    if isinstance(animation, FlameAnimation):
        animation = animation.SerializeToString()
    parts = [_text_field(0x0A, connection_id), _text_field(0x12, req_id)]
    if end:
        parts.append(b"\x18\x01")
    if animation is not None:
        parts += (b"\x22", varint(len(animation)), bytes(animation))
    parts.append(_text_field(0x2A, avatar_id))
    body = b"".join(parts)
    return _ANIMATION_PREFIX + varint(len(body)) + body
