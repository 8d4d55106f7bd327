"""Fuzz the client session after a valid handshake: arbitrary server bytes, in
arbitrary chunks, interleaved with the application's calls.

Input layout: one config byte (bits 0-1 pick the config, bits 2-3 the capabilities
the confirm announces), then operations until the input ends:

- ``0x00-0x5f``: feed the next ``op + 1`` bytes as one read from the socket;
- ``0x60-0x7f``: feed one well-formed server frame whose payload is the next ``n``
  bytes, ``n`` being the byte after ``op``: ``0x60-0x6f`` a final binary frame,
  ``0x70-0x77`` a first fragment, ``0x78-0x7f`` a final continuation frame;
- ``0x80-0xbf``: ``send_audio`` of ``(op & 0x1f) * 6`` bytes (``+1`` when ``op & 0x20``
  and the length is not zero: an odd PCM length) with ``end`` from the next byte's bit 0;
- ``0xc0-0xcf``: ``interrupt()``; ``0xd0-0xd7``: ``pause()``; ``0xd8-0xdf``: ``resume()``;
- ``0xe0-0xef``: ``close(code)``, the code picked from :data:`CLOSE_CODES`;
- ``0xf0-0xff``: EOF (``receive_data(b"")``).

Only ``AvatarError`` may leave an application call and nothing may leave a read;
anything else, or a broken invariant, is a crash.
Run: ``python fuzz/client_runtime.py fuzz/seeds/client_runtime -max_total_time=300``.
"""

from __future__ import annotations

import contextlib
import sys

from client_fixtures import CAPABILITY_SETS, accept_and_confirm, new_session
from fuzz_input import FuzzInput, server_frame
from invariants import ClientEventLog, ClientOutputLog, check

from avatarwire.core.errors import AvatarError
from avatarwire.core.session import ClientSession

FEED, FRAME, AUDIO, INTERRUPT, PAUSE, RESUME, CLOSE, EOF = (
    0x00,
    0x60,
    0x80,
    0xC0,
    0xD0,
    0xD8,
    0xE0,
    0xF0,
)
MAX_FEED = FRAME - FEED
#: Codes ``close()`` is called with; the last two are refused (LocalProtocolError).
CLOSE_CODES = (1000, 1001, 3000, 4000, 4999, 1000, 999, 1006)
AUDIO_UNIT = 6


def _call(session: ClientSession, log: ClientEventLog, op: int, source: FuzzInput) -> None:
    if op < FRAME:
        session.receive_data(source.take(op + 1))
    elif op < AUDIO:
        first_byte = 0x82 if op < 0x70 else 0x02 if op < 0x78 else 0x80
        session.receive_data(server_frame(source.take(source.byte()), first_byte))
    elif op < INTERRUPT:
        length = (op & 0x1F) * AUDIO_UNIT
        if op & 0x20 and length:
            length += 1
        end = bool(source.byte() & 1)
        log.note_request(session.send_audio(bytes(length), end=end))
    elif op < PAUSE:
        log.note_request(session.interrupt())
    elif op < RESUME:
        log.note_request(session.pause())
    elif op < CLOSE:
        log.note_request(session.resume())
    elif op < EOF:
        session.close(CLOSE_CODES[op & 7])
    else:
        session.receive_data(b"")
        check(session.state.ended, f"EOF left the session {session.state.name}")


def TestOneInput(data: bytes) -> None:
    """Run one input (see the module docstring for its layout)."""
    source = FuzzInput(data)
    header = source.byte()
    session = new_session(header)
    log = ClientEventLog(session)
    output = ClientOutputLog()
    session.receive_data(accept_and_confirm(session, CAPABILITY_SETS[(header >> 2) & 3]))
    output.feed(session.data_to_send())
    log.collect()
    check(log.ready == 1, "a valid handshake did not make the session ready")
    while not source.exhausted:
        op = source.byte()
        if op < AUDIO or op >= EOF:
            # Bytes from the server never raise: whatever they mean comes out as events
            # (so a move the session's table does not list cannot hide here).
            _call(session, log, op, source)
        else:
            # A call in the wrong state, or a refused argument: the core's own error.
            with contextlib.suppress(AvatarError):
                _call(session, log, op, source)
        output.feed(session.data_to_send())
        log.collect()
    # Whatever happened, a closed session stays silent.
    if session.state.ended:
        session.receive_data(b"\x88\x00")
        session.receive_data(b"")
        check(session.data_to_send() == b"", "a closed session wrote bytes")
        log.collect()


def encode_feed(data: bytes) -> bytes:
    """Operations that feed ``data`` in reads of up to 96 bytes (for seed files)."""
    out = bytearray()
    for offset in range(0, len(data), MAX_FEED):
        piece = data[offset : offset + MAX_FEED]
        out.append(FEED + len(piece) - 1)
        out += piece
    return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    """One operation feeding ``payload`` (at most 255 bytes) as a final binary frame."""
    return bytes((FRAME, len(payload))) + payload


def encode_audio(units: int, *, end: bool, odd: bool = False) -> bytes:
    """One ``send_audio`` operation of ``units * 6`` bytes (for seed files)."""
    return bytes((AUDIO | (units & 0x1F) | (0x20 if odd else 0), int(end)))


def main() -> None:
    """Run under atheris with coverage of every module loaded so far."""
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
