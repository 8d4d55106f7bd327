"""The wire schema: every message round-trips, field numbers match protocol.md, unknowns survive."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage
from hypothesis import given
from hypothesis import strategies as st

from avatarwire.core import wire
from avatarwire.core.wire import (
    ClientConfigureSession,
    ClientInterrupt,
    Flame,
    FlameAnimation,
    Message,
    MessageType,
    ServerResponseAnimation,
    avatarkit_pb2,
)
from avatarwire.core.wire.regenerate import GENCODE_VERSION

FILE = avatarkit_pb2.DESCRIPTOR
MESSAGE_CLASSES: dict[str, type[ProtoMessage]] = {
    name: getattr(avatarkit_pb2, name) for name in FILE.message_types_by_name
}

# --- a strategy for any message of the schema, read off its descriptors ------------------

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_STRING: st.text(max_size=20),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=40),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=False),
}


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 7 dropped ``label`` for ``is_repeated``; 5.x only has ``label``.
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED)


def _single_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.enum_type is not None:
        return st.sampled_from([value.number for value in field.enum_type.values])
    if field.message_type is not None:
        return messages_of(field.message_type, depth + 1)
    return _SCALARS[field.type]


def _field_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        keys = _single_value(entry.fields_by_name["key"], depth)
        values = _single_value(entry.fields_by_name["value"], depth)
        return st.dictionaries(keys, values, max_size=3)
    if _is_repeated(field):
        return st.lists(_single_value(field, depth), max_size=4)
    return _single_value(field, depth)


def _fill(cls: type[ProtoMessage], chosen: dict[str, Any]) -> ProtoMessage:
    message = cls()
    for name, value in chosen.items():
        target = getattr(message, name)
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, ProtoMessage):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif isinstance(value, list):
            target.extend(value)
        elif isinstance(value, ProtoMessage):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _named_value(
    depth: int,
) -> Callable[[FieldDescriptor], st.SearchStrategy[tuple[str, Any]]]:
    def named(field: FieldDescriptor) -> st.SearchStrategy[tuple[str, Any]]:
        return _field_value(field, depth).map(lambda value: (field.name, value))

    return named


def messages_of(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[ProtoMessage]:
    """Random instances of ``descriptor``: any subset of its fields, at most one per oneof."""
    cls: type[ProtoMessage] = getattr(avatarkit_pb2, descriptor.name)
    plain = [f for f in descriptor.fields if f.containing_oneof is None]
    optional = {f.name: st.none() | _field_value(f, depth) for f in plain}
    oneof_choices = [
        st.none() | st.sampled_from(list(o.fields)).flatmap(_named_value(depth))
        for o in descriptor.oneofs
    ]

    def build(values: dict[str, Any], picks: list[tuple[str, Any] | None]) -> ProtoMessage:
        chosen = {name: value for name, value in values.items() if value is not None}
        chosen.update(pick for pick in picks if pick is not None)
        return _fill(cls, chosen)

    return st.builds(build, st.fixed_dictionaries(optional), st.tuples(*oneof_choices).map(list))


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MESSAGE_CLASSES))
@given(data=st.data())
def test_every_message_type_survives_encode_then_decode(name: str, data: st.DataObject) -> None:
    descriptor = FILE.message_types_by_name[name]
    original = data.draw(messages_of(descriptor))
    encoded = original.SerializeToString()
    decoded = MESSAGE_CLASSES[name].FromString(encoded)
    assert decoded == original
    assert decoded.SerializeToString(deterministic=True) == original.SerializeToString(
        deterministic=True
    )


def test_every_schema_message_is_exported_by_the_wire_package() -> None:
    assert set(MESSAGE_CLASSES) <= set(wire.__all__)


# --- field numbers pinned by protocol.md -------------------------------------------------

PINNED_FIELDS = [
    ("Message", "type", 1),
    ("Message", "client_configure_session", 2),
    ("Message", "server_confirm_session", 3),
    ("Message", "client_audio_input", 4),
    ("Message", "server_error", 5),
    ("Message", "server_response_animation", 6),
    ("Message", "client_interrupt", 8),
    ("Message", "client_pause", 9),
    ("Message", "client_resume", 10),
    ("Message", "server_playback_state", 11),
    ("ClientConfigureSession", "sample_rate", 1),
    ("ClientConfigureSession", "bitrate", 2),
    ("ClientConfigureSession", "audio_format", 3),
    ("ClientConfigureSession", "transport_compression", 4),
    ("ClientConfigureSession", "egress_type", 5),
    ("ClientConfigureSession", "livekit_egress", 6),
    ("ClientConfigureSession", "agora_egress", 7),
    ("ClientConfigureSession", "extra_params", 8),
    ("AgoraEgressConfig", "channel_name", 1),
    ("AgoraEgressConfig", "token", 2),
    ("AgoraEgressConfig", "uid", 3),
    ("AgoraEgressConfig", "publisher_id", 4),
    ("LiveKitEgressConfig", "url", 1),
    ("LiveKitEgressConfig", "api_key", 2),
    ("LiveKitEgressConfig", "api_secret", 3),
    ("LiveKitEgressConfig", "room_name", 4),
    ("LiveKitEgressConfig", "publisher_id", 5),
    ("LiveKitEgressConfig", "extra_attributes", 6),
    ("LiveKitEgressConfig", "idle_timeout", 7),
    ("LiveKitEgressConfig", "api_token", 8),
    ("ServerConfirmSession", "connection_id", 1),
    ("ServerConfirmSession", "capabilities", 2),
    ("ClientAudioInput", "req_id", 1),
    ("ClientAudioInput", "end", 2),
    ("ClientAudioInput", "audio", 3),
    ("ClientAudioInput", "trace_context", 4),
    ("TraceContext", "traceparent", 1),
    ("TraceContext", "tracestate", 2),
    ("ServerError", "connection_id", 1),
    ("ServerError", "req_id", 2),
    ("ServerError", "code", 3),
    ("ServerError", "message", 4),
    ("ServerResponseAnimation", "connection_id", 1),
    ("ServerResponseAnimation", "req_id", 2),
    ("ServerResponseAnimation", "end", 3),
    ("ServerResponseAnimation", "animation", 4),
    ("ServerResponseAnimation", "avatar_id", 5),
    ("FlameAnimation", "keyframes", 1),
    ("Flame", "translation", 1),
    ("Flame", "rotation", 2),
    ("Flame", "neck_pose", 3),
    ("Flame", "jaw_pose", 4),
    ("Flame", "eye_pose", 5),
    ("Flame", "eye_lid", 6),
    ("Flame", "expression", 7),
    ("ClientInterrupt", "req_id", 1),
    ("ClientPause", "req_id", 1),
    ("ClientResume", "req_id", 1),
    ("ServerPlaybackState", "connection_id", 1),
    ("ServerPlaybackState", "req_id", 2),
    ("ServerPlaybackState", "state", 3),
    ("ServerPlaybackState", "played_ms", 4),
    ("ServerPlaybackState", "reason", 5),
]


@pytest.mark.parametrize(("message", "field", "number"), PINNED_FIELDS)
def test_field_numbers_are_the_ones_protocol_md_pins(message: str, field: str, number: int) -> None:
    assert FILE.message_types_by_name[message].fields_by_name[field].number == number


def test_message_type_numbers_skip_six_and_match_protocol_md() -> None:
    assert {v.name: v.number for v in MessageType.DESCRIPTOR.values} == {
        "MESSAGE_UNSPECIFIED": 0,
        "MESSAGE_CLIENT_CONFIGURE_SESSION": 1,
        "MESSAGE_SERVER_CONFIRM_SESSION": 2,
        "MESSAGE_CLIENT_AUDIO_INPUT": 3,
        "MESSAGE_SERVER_ERROR": 4,
        "MESSAGE_SERVER_RESPONSE_ANIMATION": 5,
        "MESSAGE_CLIENT_INTERRUPT": 7,
        "MESSAGE_CLIENT_PAUSE": 8,
        "MESSAGE_CLIENT_RESUME": 9,
        "MESSAGE_SERVER_PLAYBACK_STATE": 10,
    }


def test_interrupt_is_type_seven_but_travels_in_oneof_field_eight() -> None:
    message = Message(
        type=MessageType.MESSAGE_CLIENT_INTERRUPT, client_interrupt=ClientInterrupt(req_id="r1")
    )
    # 0x08 0x07: field 1 varint 7; 0x42: field 8 length-delimited, holding field 1 "r1".
    assert message.SerializeToString() == b"\x08\x07\x42\x04\x0a\x02r1"


def test_default_configure_session_carries_only_the_sample_rate() -> None:
    configure = ClientConfigureSession(sample_rate=16000)
    assert configure.SerializeToString() == b"\x08\x80\x7d"
    message = Message(
        type=MessageType.MESSAGE_CLIENT_CONFIGURE_SESSION, client_configure_session=configure
    )
    assert message.SerializeToString() == b"\x08\x01\x12\x03\x08\x80\x7d"


def test_flame_floats_are_packed() -> None:
    # field 1, length-delimited, 8 bytes: two little-endian float32 values.
    assert Flame(translation=[1.0, -2.0]).SerializeToString() == (
        b"\x0a\x08\x00\x00\x80\x3f\x00\x00\x00\xc0"
    )


# --- unknown fields ----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


unknown_fields = st.lists(
    st.tuples(st.integers(12, 18999), st.sampled_from([0, 1, 2, 5]), st.binary(max_size=12)),
    min_size=1,
    max_size=4,
).map(
    lambda fields: b"".join(
        _varint((number << 3) | wire_type)
        + {
            0: _varint(int.from_bytes(payload[:8] or b"\x00", "little")),
            1: payload[:8].ljust(8, b"\x00"),
            2: _varint(len(payload)) + payload,
            5: payload[:4].ljust(4, b"\x00"),
        }[wire_type]
        for number, wire_type, payload in fields
    )
)


@given(original=messages_of(FILE.message_types_by_name["Message"]), unknown=unknown_fields)
def test_unknown_fields_survive_parse_then_serialize(
    original: ProtoMessage, unknown: bytes
) -> None:
    raw = original.SerializeToString(deterministic=True) + unknown
    # Map entries may come back in another order unless serialization is deterministic.
    assert Message.FromString(raw).SerializeToString(deterministic=True) == raw


def test_unknown_fields_nested_in_an_animation_survive() -> None:
    future_field = b"\x32\x03abc"  # field 6 of ServerResponseAnimation, not in our schema
    body = ServerResponseAnimation(req_id="r").SerializeToString() + future_field
    internal_oneof = b"\x3a\x00"  # Message field 7, internal to the service
    raw = b"\x08\x05" + b"\x32" + _varint(len(body)) + body + internal_oneof
    parsed = Message.FromString(raw)
    assert parsed.server_response_animation.req_id == "r"
    assert parsed.SerializeToString() == raw


def test_animation_keyframes_travel_in_field_four_as_packed_floats() -> None:
    animation = ServerResponseAnimation(animation=FlameAnimation(keyframes=[Flame(jaw_pose=[0.5])]))
    # field 4 (animation) > field 1 (keyframes) > field 4 (jaw_pose, packed float32 0.5)
    assert animation.SerializeToString() == b"\x22\x08\x0a\x06\x22\x04\x00\x00\x00\x3f"


# --- the committed gencode fits the declared protobuf range ------------------------------


def _declared_protobuf_floor() -> tuple[int, ...]:
    requirements = importlib.metadata.requires("avatarwire") or []
    for requirement in requirements:
        match = re.match(r"protobuf\s*.*>=\s*([0-9.]+)", requirement)
        if match and "extra ==" not in requirement:
            return tuple(int(part) for part in match.group(1).split("."))
    raise AssertionError(f"no protobuf floor in {requirements}")


def test_committed_gencode_is_not_newer_than_the_lowest_declared_protobuf() -> None:
    header = Path(avatarkit_pb2.__file__).read_text(encoding="utf-8")
    assert f"# Protobuf Python Version: {GENCODE_VERSION}\n" in header
    gencode = tuple(int(part) for part in GENCODE_VERSION.split("."))
    floor = _declared_protobuf_floor()
    # A runtime refuses gencode newer than itself, so the floor must not predate it.
    assert floor[:2] >= gencode[:2]


def test_the_schema_loads_beside_another_message_package_in_the_default_pool() -> None:
    """The official SDK's schema is also package ``message``; both must load in one process."""
    probe = """
from google.protobuf import descriptor_pb2, descriptor_pool
other = descriptor_pb2.FileDescriptorProto(name="message.proto", package="message", syntax="proto3")
other.message_type.add(name="Message").field.add(
    name="type", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
descriptor_pool.Default().Add(other)
from avatarwire.core.wire import Message
message = Message(type=7)
message.client_interrupt.req_id = "r1"
assert Message.FromString(message.SerializeToString()).client_interrupt.req_id == "r1"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
