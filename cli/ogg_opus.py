"""Ogg Opus files passed through as they are (the session's ``audio_format`` is
``ogg_opus``): what the headers say, and the file cut at page boundaries with the
time each page's audio starts, so a paced run sends it in real time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["OggOpusError", "OggOpusFile", "read_ogg_opus"]

#: Opus always decodes at 48 kHz: granule positions count samples at this rate.
GRANULE_RATE = 48000
_PAGE_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, seq, crc, n


class OggOpusError(ValueError):
    """The bytes are not an Ogg Opus stream the service can take."""


@dataclass(frozen=True, slots=True)
class OggOpusFile:
    """An Ogg Opus stream, its header's facts and its pages."""

    data: bytes = field(repr=False)
    channels: int
    input_rate: int  # the rate the encoder was given (information only)
    seconds: float
    pages: tuple[tuple[int, float], ...]  # (byte offset, start time in seconds) of each page


def read_ogg_opus(data: bytes) -> OggOpusFile:
    """Walk the pages of an Ogg Opus stream; :class:`OggOpusError` if it is not one."""
    pages: list[tuple[int, float]] = []
    offset, pre_skip, channels, input_rate, granule = 0, 0, 0, 0, 0
    while offset < len(data):
        if len(data) - offset < _PAGE_HEADER.size or data[offset : offset + 4] != b"OggS":
            raise OggOpusError(f"not an Ogg page at byte {offset}")
        _, _, _, page_granule, _, _, _, count = _PAGE_HEADER.unpack_from(data, offset)
        lacing = data[offset + _PAGE_HEADER.size : offset + _PAGE_HEADER.size + count]
        body = offset + _PAGE_HEADER.size + count
        if not pages:
            head = data[body : body + 19]
            if len(head) < 19 or head[:8] != b"OpusHead":
                raise OggOpusError("the first Ogg packet is not an Opus header")
            channels, pre_skip, input_rate = head[9], *struct.unpack_from("<HI", head, 10)
        start = max(0, granule - pre_skip) / GRANULE_RATE
        pages.append((offset, start))
        if page_granule >= 0:  # -1: no packet ends on this page
            granule = max(granule, page_granule)
        offset = body + sum(lacing)
    if not pages:
        raise OggOpusError("no Ogg pages")
    seconds = max(0, granule - pre_skip) / GRANULE_RATE
    return OggOpusFile(data, channels, input_rate, seconds, tuple(pages))
