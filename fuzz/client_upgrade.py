"""Fuzz the client session's upgrade: arbitrary bytes where the HTTP 101 (or a
rejection) should be, optionally behind a valid prefix.

Input layout: a mode byte (bits 0-1 pick the prefix, bits 2-3 the config), a chunk
pattern byte (see :func:`fuzz_input.split_by_pattern`), a flags byte (bit 0: EOF at
the end; bit 1: ``close()`` before the bytes; bit 2: ``close()`` after them), then the
payload. Every ``@ACCEPT@`` in the payload becomes the Sec-WebSocket-Accept value that
matches this session's key, so inputs can hold complete valid responses. Prefixes:
0 none, 1 the 101 status line, 2 a whole valid 101 head, 3 ``HTTP/1.1 ``.

Run: ``python fuzz/client_upgrade.py fuzz/seeds/client_upgrade -max_total_time=300``.
"""

from __future__ import annotations

import contextlib
import sys

from client_fixtures import new_session, upgrade_accept
from fuzz_input import FuzzInput, split_by_pattern, switching_protocols
from invariants import ClientEventLog, ClientOutputLog, check

from avatarwire.core.errors import AvatarError
from avatarwire.core.session import SessionState

ACCEPT_PLACEHOLDER = b"@ACCEPT@"
STATUS_LINE = b"HTTP/1.1 101 Switching Protocols\r\n"


def _prefix(mode: int, accept: bytes) -> bytes:
    return (b"", STATUS_LINE, switching_protocols(accept), b"HTTP/1.1 ")[mode & 3]


def TestOneInput(data: bytes) -> None:
    """Run one input (see the module docstring for its layout)."""
    source = FuzzInput(data)
    mode, pattern, flags = source.byte(), source.byte(), source.byte()
    session = new_session(mode >> 2)
    log = ClientEventLog(session)
    _, accept = upgrade_accept(session)
    stream = _prefix(mode, accept) + source.rest().replace(ACCEPT_PLACEHOLDER, accept)
    output = ClientOutputLog()
    accepted = False

    def step() -> None:
        nonlocal accepted
        sent = session.data_to_send()
        accepted = accepted or session.state is not SessionState.CONNECTING
        if accepted:
            output.feed(sent)
        else:
            check(sent == b"", "the client wrote bytes before the upgrade was answered")
        log.collect()

    if flags & 2:
        session.close()
        step()
    for piece in split_by_pattern(stream, pattern):
        session.receive_data(piece)
        step()
    if flags & 4:
        with contextlib.suppress(AvatarError):
            session.close()
        step()
    if flags & 1:
        session.receive_data(b"")
        step()
        check(session.state.ended, f"EOF left the session {session.state.name}")


def main() -> None:
    """Run under atheris with coverage of every module loaded so far."""
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
