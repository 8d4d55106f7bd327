"""Opt-in decoding of the Flame keyframes inside an animation frame's raw bytes.

Sessions hand animation frames on as the whole raw message (so fields this client
does not know survive); users who render or analyse motion themselves call
:func:`decode_keyframes` on those bytes. A frame that carries no animation (the empty
control frames of Agora / LiveKit egress, or an ``end`` marker) decodes to ``()``;
bytes that are not an animation message at all raise :class:`RemoteProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from .errors import RemoteProtocolError
from .wire import Flame, Message


@dataclass(frozen=True, slots=True)
class Keyframe:
    """One FLAME head-model pose: the parameters a viewer's renderer needs per frame."""

    translation: tuple[float, ...]
    rotation: tuple[float, ...]
    neck_pose: tuple[float, ...]
    jaw_pose: tuple[float, ...]
    eye_pose: tuple[float, ...]
    eye_lid: tuple[float, ...]
    expression: tuple[float, ...]


def _keyframe_from_flame(flame: Flame) -> Keyframe:
    """Copy one wire ``Flame`` into an immutable :class:`Keyframe`."""
    return Keyframe(
        translation=tuple(flame.translation),
        rotation=tuple(flame.rotation),
        neck_pose=tuple(flame.neck_pose),
        jaw_pose=tuple(flame.jaw_pose),
        eye_pose=tuple(flame.eye_pose),
        eye_lid=tuple(flame.eye_lid),
        expression=tuple(flame.expression),
    )


def decode_keyframes(frame_data: bytes) -> tuple[Keyframe, ...]:
    """Decode the keyframes of one animation frame, given as the raw ``Message`` bytes.

    Returns ``()`` for an animation frame without motion (control / end frames).
    Raises :class:`RemoteProtocolError` when the bytes do not parse, or parse as a
    message other than ``ServerResponseAnimation``.
    """
    message = Message()
    try:
        message.ParseFromString(frame_data)
    except (DecodeError, ValueError) as exc:
        # ValueError covers UnicodeDecodeError from string fields on some backends.
        raise RemoteProtocolError(
            f"animation frame is not a valid message ({len(frame_data)} bytes)"
        ) from exc
    kind = message.WhichOneof("data")
    if kind != "server_response_animation":
        raise RemoteProtocolError(
            f"expected an animation frame, got {kind or 'a message without data'}",
        )
    animation = message.server_response_animation
    if not animation.HasField("animation"):
        return ()
    return tuple(_keyframe_from_flame(flame) for flame in animation.animation.keyframes)
