"""WebSocket framing for the hot path (RFC 6455 section 5.2).

Audio goes out and animation comes in as single, unfragmented binary frames: those
are built and taken apart here, without wsproto's per-frame machinery. Every other
frame (control frames, text, fragments) is still wsproto's; the session hands it
over whole. A property test holds both paths to the same bytes and events.
"""

from __future__ import annotations

from collections.abc import Callable

#: FIN set, no extension bits, opcode 2 (binary): the only frame the fast path takes.
PLAIN_BINARY = 0x82
_MASKED = 0x80
_LENGTH_16 = 126
_LENGTH_64 = 127
#: The longest frame header: two bytes, an 8-byte length, a 4-byte masking key.
MAX_FRAME_HEADER = 14
#: Entropy drawn at a time for masking keys: 64 keys, ~3.5 KiB held per session as
#: four-byte objects (a 4 KiB draw held 1,024 of them, ~56 KiB, more than the rest
#: of an idle session); one draw per 64 messages.
_KEY_POOL_SIZE = 256
_HEAD_16 = bytes((PLAIN_BINARY, _MASKED | _LENGTH_16))
_HEAD_64 = bytes((PLAIN_BINARY, _MASKED | _LENGTH_64))

#: XORs a payload with a four-byte key: :func:`mask`, or a C one a binding injects.
Masker = Callable[[bytes, bytes], bytes]


class MaskKeys:
    """Client masking keys, drawn from an injected entropy source a pool at a time."""

    def __init__(self, entropy: Callable[[int], bytes]) -> None:
        self._entropy = entropy
        #: Keys drawn and not used yet, the next one last: the send lane pops them
        #: itself and calls :meth:`next` only when none is left.
        self.unused: list[bytes] = []

    def next(self) -> bytes:
        """Four fresh bytes."""
        unused = self.unused
        if not unused:
            pool = self._entropy(_KEY_POOL_SIZE)
            if len(pool) < 4:
                raise ValueError("the entropy source returned too few bytes")
            last = len(pool) - len(pool) % 4 - 4
            unused[:] = [pool[at : at + 4] for at in range(last, -1, -4)]
        return unused.pop()


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR a payload with a repeating four-byte key (its own inverse); the pure-Python
    reference any faster masker is tested against."""
    size = len(payload)
    if not size:
        return b""
    repeated = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return masked.to_bytes(size, "little")


def client_binary_frame(payload: bytes, key: bytes, masker: Masker = mask) -> bytes:
    """One masked, final binary frame carrying ``payload``."""
    size = len(payload)
    if size < _LENGTH_16:
        header = bytes((PLAIN_BINARY, _MASKED | size))
    elif size < 1 << 16:
        header = bytes((PLAIN_BINARY, _MASKED | _LENGTH_16)) + size.to_bytes(2, "big")
    else:
        header = bytes((PLAIN_BINARY, _MASKED | _LENGTH_64)) + size.to_bytes(8, "big")
    return b"".join((header, key, masker(payload, key)))


def client_binary_head(size: int, key: bytes) -> bytes:
    """The header and masking key of a masked, final binary frame of ``size`` bytes:
    :func:`client_binary_frame` is this followed by the masked payload."""
    if size < _LENGTH_16:
        return bytes((PLAIN_BINARY, _MASKED | size)) + key
    if size < 1 << 16:
        return _HEAD_16 + size.to_bytes(2, "big") + key
    return _HEAD_64 + size.to_bytes(8, "big") + key


def frame_at(buffer: bytearray, position: int) -> tuple[int, int] | None:
    """Header and payload length of the frame starting at ``position``; ``None``
    while its header is incomplete."""
    available = len(buffer) - position
    if available < 2:
        return None
    second = buffer[position + 1]
    length = second & 0x7F
    header = 2
    if length == _LENGTH_16:
        if available < 4:
            return None
        length = int.from_bytes(buffer[position + 2 : position + 4], "big")
        header = 4
    elif length == _LENGTH_64:
        if available < 10:
            return None
        length = int.from_bytes(buffer[position + 2 : position + 10], "big")
        header = 10
    if second & _MASKED:
        header += 4
    return header, length


def is_plain_binary(buffer: bytearray, position: int) -> bool:
    """Whether the frame at ``position`` is a final, unmasked binary frame."""
    return buffer[position] == PLAIN_BINARY and not buffer[position + 1] & _MASKED
