"""``speak --save-frames FILE``: every animation frame of a run, as received.

The format, version 1: the 8 bytes ``AWFRAME1``, then one record per frame in the
order the frames arrived: a 4-byte little-endian unsigned length, then that many
bytes, the frame's whole raw message as the service sent it (a serialized ``Message``
holding a ``ServerResponseAnimation``, with its ``req_id`` and ``end``).
:func:`read_frames` yields the records; ``avatarwire.core.motion.decode_keyframes``
decodes the keyframes of each.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["MAGIC", "FrameFileError", "FrameWriter", "read_frames"]

MAGIC = b"AWFRAME1"
_LENGTH = struct.Struct("<I")


class FrameFileError(ValueError):
    """The file is not a frames file, or it is cut short."""


class FrameWriter:
    """Appends frames to an open binary file, after the magic."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.count = 0
        file.write(MAGIC)

    def write(self, frame: bytes) -> None:
        """One frame's raw message."""
        self._file.write(_LENGTH.pack(len(frame)))
        self._file.write(frame)
        self.count += 1


def read_frames(data: bytes) -> Iterator[bytes]:
    """The raw messages of a frames file's bytes, in order."""
    if data[: len(MAGIC)] != MAGIC:
        raise FrameFileError(f"not an avatarwire frames file (it does not start with {MAGIC!r})")
    offset = len(MAGIC)
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise FrameFileError(f"cut short at byte {offset}")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise FrameFileError(f"cut short at byte {offset}: a {length}-byte frame")
        yield data[offset : offset + length]
        offset += length
