"""Encoding and decoding of ingress messages, with a hand-written fast path for audio.

Audio messages are the client's hot path, so they are encoded directly as proto3
bytes (the same bytes a standard encoder produces; a property test holds the two
together). Everything else goes through the generated classes.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from .errors import RemoteProtocolError
from .wire import Message

#: What the protobuf runtime raises for bytes that are no message.
DECODE_ERRORS = (DecodeError, RuntimeError, ValueError)

TYPE_CLIENT_CONFIGURE_SESSION = 1
TYPE_SERVER_CONFIRM_SESSION = 2
TYPE_CLIENT_AUDIO_INPUT = 3
TYPE_SERVER_ERROR = 4
TYPE_SERVER_RESPONSE_ANIMATION = 5
TYPE_CLIENT_INTERRUPT = 7
TYPE_CLIENT_PAUSE = 8
TYPE_CLIENT_RESUME = 9
TYPE_SERVER_PLAYBACK_STATE = 10

# Tags: (field number << 3) | wire type; 0 = varint, 2 = length-delimited.
_TAG_TYPE = b"\x08"  # Message.type, field 1
_TAG_AUDIO_INPUT = b"\x22"  # Message.client_audio_input, field 4
_TAG_REQ_ID = b"\x0a"  # ClientAudioInput.req_id, field 1
_TAG_END_TRUE = b"\x10\x01"  # ClientAudioInput.end = true, field 2
_TAG_AUDIO = b"\x1a"  # ClientAudioInput.audio, field 3
_TAG_TRACE = b"\x22"  # ClientAudioInput.trace_context, field 4
_TAG_TRACEPARENT = b"\x0a"  # TraceContext.traceparent, field 1
_TAG_TRACESTATE = b"\x12"  # TraceContext.tracestate, field 2


_ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf base-128 varint."""
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited protobuf field: its tag, the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


def encode_audio_input(
    req_id: str,
    audio: bytes,
    end: bool,
    traceparent: str = "",
    tracestate: str = "",
) -> bytes:
    """One ``ClientAudioInput`` message, byte-identical to the standard encoder's output."""
    body = [length_delimited(_TAG_REQ_ID, req_id.encode())] if req_id else []
    if end:
        body.append(_TAG_END_TRUE)
    if audio:
        body.append(_TAG_AUDIO + varint(len(audio)))
        body.append(audio)
    if traceparent or tracestate:
        trace = b""
        if traceparent:
            trace += length_delimited(_TAG_TRACEPARENT, traceparent.encode())
        if tracestate:
            trace += length_delimited(_TAG_TRACESTATE, tracestate.encode())
        body.append(length_delimited(_TAG_TRACE, trace))
    inner = b"".join(body)
    return b"".join((_TAG_TYPE, b"\x03", _TAG_AUDIO_INPUT, varint(len(inner)), inner))


#: What every audio message starts with: its type, then the audio input's tag.
_AUDIO_MESSAGE_HEAD = _TAG_TYPE + b"\x03" + _TAG_AUDIO_INPUT


def req_id_field(req_id: str) -> bytes:
    """A request's ``req_id`` field, encoded once for all its audio messages."""
    return length_delimited(_TAG_REQ_ID, req_id.encode())


def audio_continuation_prefix(req_field: bytes, size: int, end: bool) -> bytes:
    """The bytes of :func:`encode_audio_input` for ``size`` bytes of non-empty audio
    without trace context that precede the audio itself, the ``req_id`` field given
    pre-encoded (:func:`req_id_field`): message plus audio is the whole message."""
    if end:
        req_field += _TAG_END_TRUE
    audio_head = _TAG_AUDIO + varint(size)
    inner = len(req_field) + len(audio_head) + size
    return b"".join((_AUDIO_MESSAGE_HEAD, varint(inner), req_field, audio_head))


def encode_request_control(message_type: int, req_id: str) -> bytes:
    """An interrupt, pause or resume message for ``req_id``."""
    message = Message(type=message_type)  # type: ignore[arg-type]
    if message_type == TYPE_CLIENT_INTERRUPT:
        message.client_interrupt.req_id = req_id
    elif message_type == TYPE_CLIENT_PAUSE:
        message.client_pause.req_id = req_id
    elif message_type == TYPE_CLIENT_RESUME:
        message.client_resume.req_id = req_id
    else:
        raise ValueError(f"not a request control message type: {message_type}")
    return message.SerializeToString()


def decode_message(data: bytes) -> Message:
    """Parse one ingress message; undecodable bytes are the peer's protocol error."""
    try:
        return Message.FromString(data)
    except DECODE_ERRORS as exc:
        raise RemoteProtocolError(f"undecodable message ({len(data)} bytes): {exc}") from None
