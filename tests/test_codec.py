"""The hand-written audio encoder against the protobuf encoder, byte for byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from avatarwire.core.codec import (
    TYPE_CLIENT_INTERRUPT,
    TYPE_CLIENT_PAUSE,
    TYPE_CLIENT_RESUME,
    audio_continuation_prefix,
    decode_message,
    encode_audio_input,
    encode_request_control,
    req_id_field,
    varint,
)
from avatarwire.core.wire import AgoraEgressConfig, ClientAudioInput, Message

SIZES_AT_VARINT_EDGES = [0, 1, 127, 128, 129, 16383, 16384, 16385, 70000]

audio = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(SIZES_AT_VARINT_EDGES).map(lambda size: bytes(range(256)) * (size // 256)
                                               + bytes(size % 256)),
)  # fmt: skip


def reference(req_id: str, data: bytes, end: bool, parent: str, state: str) -> bytes:
    message = Message(type=3)  # type: ignore[arg-type]
    message.client_audio_input.CopyFrom(ClientAudioInput(req_id=req_id, end=end, audio=data))
    if parent or state:
        message.client_audio_input.trace_context.traceparent = parent
        message.client_audio_input.trace_context.tracestate = state
    return message.SerializeToString()


@settings(max_examples=400, deadline=None)
@given(
    req_id=st.text(max_size=40),
    data=audio,
    end=st.booleans(),
    parent=st.text(max_size=60),
    state=st.text(max_size=200),
)
def test_audio_messages_match_the_standard_encoder(
    req_id: str, data: bytes, end: bool, parent: str, state: str
) -> None:
    assert encode_audio_input(req_id, data, end, parent, state) == reference(
        req_id, data, end, parent, state
    )


@settings(max_examples=200, deadline=None)
@given(req_id=st.text(min_size=1, max_size=40), data=audio.filter(len), end=st.booleans())
def test_the_send_lanes_prefix_and_the_audio_are_the_whole_message(
    req_id: str, data: bytes, end: bool
) -> None:
    prefix = audio_continuation_prefix(req_id_field(req_id), len(data), end)
    assert prefix + data == reference(req_id, data, end, "", "")


@given(st.integers(min_value=1, max_value=2**32 - 1))
def test_varint_matches_the_standard_encoder(value: int) -> None:
    # AgoraEgressConfig.uid is field 3, a uint32 varint: tag 0x18.
    assert b"\x18" + varint(value) == AgoraEgressConfig(uid=value).SerializeToString()


@given(
    kind=st.sampled_from([TYPE_CLIENT_INTERRUPT, TYPE_CLIENT_PAUSE, TYPE_CLIENT_RESUME]),
    req_id=st.text(max_size=30),
)
def test_request_controls_round_trip(kind: int, req_id: str) -> None:
    message = decode_message(encode_request_control(kind, req_id))
    assert message.type == kind
    field = {7: "client_interrupt", 8: "client_pause", 9: "client_resume"}[kind]
    assert message.WhichOneof("data") == field
    assert getattr(message, field).req_id == req_id
