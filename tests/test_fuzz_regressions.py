"""Inputs the fuzz harnesses once crashed on, replayed as plain tests."""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

import pytest

from avatarwire.core.errors import RemoteProtocolError
from avatarwire.core.events import SessionClosed
from avatarwire.core.session import SessionState

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

import client_upgrade
from client_fixtures import new_session

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_for(request: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


@pytest.mark.parametrize(
    "header",
    [
        b"Connection: U\x9apgrade",
        b"Connection: Upgrade, \xff",
        b"Sec-WebSocket-Extensions: permessage-\xe9",
        b"Sec-WebSocket-Protocol: ch\xe0t",
    ],
)
def test_non_ascii_upgrade_header_is_a_protocol_error_not_a_unicode_crash(header: bytes) -> None:
    # Found by fuzz/client_upgrade.py: wsproto decodes these headers as ASCII and its
    # UnicodeDecodeError escaped ClientSession.receive_data.
    session = new_session(0)
    accept = accept_for(session.data_to_send())
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    if not header.startswith(b"Connection"):
        head += b"Connection: Upgrade\r\n"
    response = head + header + b"\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    session.receive_data(response)
    events = session.events()
    assert session.state is SessionState.ERROR
    assert len(events) == 1 and isinstance(events[0], SessionClosed)
    assert isinstance(events[0].error, RemoteProtocolError)


def test_non_ascii_accept_header_is_a_protocol_error_not_a_unicode_crash() -> None:
    session = new_session(0)
    session.data_to_send()
    session.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: \xc3\xa9t\xc3\xa9\r\n\r\n"
    )
    (closed,) = session.events()
    assert isinstance(closed, SessionClosed)
    assert isinstance(closed.error, RemoteProtocolError)


def test_first_client_upgrade_crash_input_replays_cleanly() -> None:
    # The exact input atheris saved (mode 0, whole stream, no flags).
    crash = base64.b64decode(
        "AAABSFRUUC8xLjEgMTAxIFN3aXRjaGluZyBQcm90b2NvbHMNClVwZ3JhZGU6IHdlYnNvY2tldA0KQ29u"
        "bmVjdGlvbjogVRoaGhoaGhoaGhoaGhoaGhoaGpoaGhoaGhoaGhoaGhoaGhoaGhpwZ3JhZGUNClNlYy1X"
        "ZWJTb2NrZXQtQWNjZXB0OiBBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE9DQoNCg=="
    )
    client_upgrade.TestOneInput(crash)
