"""Turning one fuzz input into decisions: a byte reader, chunkings and WebSocket frames.

Harnesses read their choices (what to call, how to split the stream) from the same
bytes the fuzzer mutates, so every run is a pure function of its input and a crash
reproduces from the saved file alone.
"""

from __future__ import annotations

import base64
import hashlib
import re

#: RFC 6455's fixed GUID, mixed into the Sec-WebSocket-Accept hash.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY_HEADER = re.compile(rb"(?im)^sec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r?$")


class FuzzInput:
    """Reads a fuzz input front to back; reads past the end give zeros / empty bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    @property
    def exhausted(self) -> bool:
        """Whether every byte has been read."""
        return self._offset >= len(self._data)

    def byte(self) -> int:
        """The next byte (0 once exhausted)."""
        if self._offset >= len(self._data):
            return 0
        value = self._data[self._offset]
        self._offset += 1
        return value

    def take(self, count: int) -> bytes:
        """Up to ``count`` next bytes."""
        piece = self._data[self._offset : self._offset + count]
        self._offset += len(piece)
        return piece

    def rest(self) -> bytes:
        """Everything not read yet."""
        piece = self._data[self._offset :]
        self._offset = len(self._data)
        return piece


def split_by_pattern(data: bytes, pattern: int) -> list[bytes]:
    """``data`` cut into non-empty pieces whose sizes follow from ``pattern``.

    Pattern 0 keeps ``data`` whole; otherwise the sizes cycle pseudo-randomly through
    1..pattern, so both byte-at-a-time and large reads are reachable.
    """
    if pattern == 0 or not data:
        return [data] if data else []
    pieces = []
    state = pattern
    offset = 0
    while offset < len(data):
        size = 1 + state % pattern
        pieces.append(data[offset : offset + size])
        offset += size
        state = (state * 73 + 41) & 0xFFFF
    return pieces


def websocket_accept(upgrade_request: bytes) -> bytes:
    """The Sec-WebSocket-Accept value answering the key in ``upgrade_request``."""
    match = _KEY_HEADER.search(upgrade_request)
    if match is None:
        raise ValueError("no Sec-WebSocket-Key in the upgrade request")
    digest = hashlib.sha1(match.group(1) + _WEBSOCKET_GUID).digest()
    return base64.b64encode(digest)


def switching_protocols(accept: bytes) -> bytes:
    """A complete, valid 101 response head for ``accept``."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n"
        b"\r\n"
    )


def _frame(first_byte: int, payload: bytes, *, masked: bool) -> bytes:
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = bytes((first_byte, mask_bit | length))
    elif length < 1 << 16:
        head = bytes((first_byte, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((first_byte, mask_bit | 127)) + length.to_bytes(8, "big")
    # A zero masking key leaves the payload as is: valid, and deterministic.
    return head + (b"\0\0\0\0" if masked else b"") + payload


def server_frame(payload: bytes, first_byte: int = 0x82) -> bytes:
    """One unmasked (server-to-client) frame; 0x82 is a final binary frame."""
    return _frame(first_byte, payload, masked=False)


def client_frame(payload: bytes, first_byte: int = 0x82) -> bytes:
    """One masked (client-to-server) frame, with an all-zero masking key."""
    return _frame(first_byte, payload, masked=True)
