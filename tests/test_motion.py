"""Decoding Flame keyframes out of raw animation frames, and refusing anything else."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avatarwire.core.errors import ErrorCode, RemoteProtocolError
from avatarwire.core.motion import Keyframe, decode_keyframes
from avatarwire.core.wire import (
    ClientInterrupt,
    Flame,
    FlameAnimation,
    Message,
    MessageType,
    ServerConfirmSession,
    ServerResponseAnimation,
)

PARTS = ("translation", "rotation", "neck_pose", "jaw_pose", "eye_pose", "eye_lid", "expression")

# float32 values, so that what is sent is exactly what comes back.
float32s = st.floats(width=32, allow_nan=False)
flames = st.fixed_dictionaries({part: st.lists(float32s, max_size=6) for part in PARTS})


def animation_frame(keyframes: list[dict[str, list[float]]], *, req_id: str = "r1") -> bytes:
    return Message(
        type=MessageType.MESSAGE_SERVER_RESPONSE_ANIMATION,
        server_response_animation=ServerResponseAnimation(
            req_id=req_id,
            animation=FlameAnimation(keyframes=[Flame(**parts) for parts in keyframes]),
        ),
    ).SerializeToString()


@given(keyframes=st.lists(flames, max_size=5))
def test_keyframes_come_back_in_order_with_every_parameter(
    keyframes: list[dict[str, list[float]]],
) -> None:
    decoded = decode_keyframes(animation_frame(keyframes))
    assert [dataclasses.asdict(k) for k in decoded] == [
        {part: tuple(values) for part, values in parts.items()} for parts in keyframes
    ]


def test_a_keyframe_holds_tuples_and_cannot_be_changed() -> None:
    (keyframe,) = decode_keyframes(animation_frame([{"jaw_pose": [0.25, -1.5], "eye_lid": [1.0]}]))
    assert keyframe.jaw_pose == (0.25, -1.5)
    assert keyframe.eye_lid == (1.0,)
    assert keyframe.expression == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        keyframe.jaw_pose = ()  # type: ignore[misc]
    assert not hasattr(keyframe, "__dict__")


def test_a_control_frame_without_animation_decodes_to_no_keyframes() -> None:
    control = Message(
        type=MessageType.MESSAGE_SERVER_RESPONSE_ANIMATION,
        server_response_animation=ServerResponseAnimation(req_id="r1", end=True),
    ).SerializeToString()
    assert decode_keyframes(control) == ()


def test_an_animation_with_zero_keyframes_decodes_to_no_keyframes() -> None:
    assert decode_keyframes(animation_frame([])) == ()


def test_unknown_fields_around_the_keyframes_do_not_disturb_decoding() -> None:
    raw = animation_frame([{"rotation": [0.5]}]) + b"\x3a\x00" + b"\xa0\x06\x01"
    assert decode_keyframes(raw) == (
        Keyframe(
            translation=(),
            rotation=(0.5,),
            neck_pose=(),
            jaw_pose=(),
            eye_pose=(),
            eye_lid=(),
            expression=(),
        ),
    )


@pytest.mark.parametrize(
    "message",
    [
        Message(
            type=MessageType.MESSAGE_SERVER_CONFIRM_SESSION,
            server_confirm_session=ServerConfirmSession(connection_id="c"),
        ),
        Message(
            type=MessageType.MESSAGE_CLIENT_INTERRUPT,
            client_interrupt=ClientInterrupt(req_id="r1"),
        ),
        Message(type=MessageType.MESSAGE_SERVER_RESPONSE_ANIMATION),
    ],
    ids=["confirm", "interrupt", "type-without-data"],
)
def test_a_message_that_is_not_an_animation_is_a_protocol_error(message: Message) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        decode_keyframes(message.SerializeToString())
    assert caught.value.code is ErrorCode.PROTOCOL_ERROR


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",  # truncated varint tag
        b"\x32\x05\x0a",  # length says 5, one byte follows
        b"\x32\x02\x12\x05",  # nested req_id overruns its parent
        b"\x32\x03\x12\x01\xff",  # req_id that is not UTF-8
        b"\x32\x04\x22\x02\x0a\x09",  # keyframes length overruns the animation
    ],
)
def test_malformed_bytes_raise_remote_protocol_error(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_keyframes(raw)


@given(raw=st.binary(max_size=64))
def test_garbage_raises_only_our_own_error(raw: bytes) -> None:
    try:
        result = decode_keyframes(raw)
    except RemoteProtocolError:
        return
    assert all(isinstance(k, Keyframe) for k in result)


@given(
    keyframes=st.lists(flames, min_size=1, max_size=3),
    cut=st.integers(min_value=1),
    flip=st.tuples(st.integers(min_value=0), st.integers(0, 255)),
)
def test_damaged_animation_frames_raise_only_our_own_error(
    keyframes: list[dict[str, list[float]]], cut: int, flip: tuple[int, int]
) -> None:
    raw = bytearray(animation_frame(keyframes))
    position, value = flip
    raw[position % len(raw)] = value
    damaged = bytes(raw[: max(0, len(raw) - cut % len(raw))])
    try:
        result = decode_keyframes(damaged)
    except RemoteProtocolError:
        return
    assert all(isinstance(k, Keyframe) for k in result)
