"""Errors named by their cause: a failed connection, an ended session, a wrong call.

A connection that fails before the session is ready is ``connectionFailed``
(retryable) unless the server said why; a call on a session the network or the
server ended raises that session's own error; only calls the caller got wrong are
usage errors.
"""

from __future__ import annotations

import pytest
from scripted_peer import ScriptedPeer, pump, server_error
from test_session import TOKEN, connect, make_config

from avatarwire.core.errors import AvatarError, ErrorCode, LocalProtocolError
from avatarwire.core.events import SessionClosed
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState


def configuring() -> tuple[ClientSession, ScriptedPeer]:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    assert client.state is SessionState.CONFIGURING
    return client, peer


def closing_error(client: ClientSession) -> AvatarError:
    closed = client.events()[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    return closed.error


def test_eof_before_the_confirmation_is_a_failed_connection() -> None:
    client, _ = configuring()
    client.receive_data(b"")
    error = closing_error(client)
    assert error.code is ErrorCode.CONNECTION_FAILED and error.retryable


def test_a_close_before_the_confirmation_without_a_contract_code_is_a_failed_connection() -> None:
    client, peer = configuring()
    peer.close(1011, "overloaded")
    pump(client, peer)
    error = closing_error(client)
    assert (error.code, error.close_code, error.retryable) == (
        ErrorCode.CONNECTION_FAILED,
        1011,
        True,
    )


def test_a_close_before_the_confirmation_with_a_contract_code_says_why() -> None:
    client, peer = configuring()
    peer.close(4010, "token expired")
    pump(client, peer)
    assert closing_error(client).code is ErrorCode.SESSION_TOKEN_INVALID


@pytest.mark.parametrize(
    ("close_code", "error_code"),
    [(4002, ErrorCode.SESSION_DURATION_EXCEEDED), (4001, ErrorCode.CREDITS_EXHAUSTED)],
)
def test_calls_on_a_session_the_server_closed_raise_its_error(
    close_code: int, error_code: ErrorCode
) -> None:
    client, peer = connect()
    peer.close(close_code, "bye")
    pump(client, peer)
    ended = closing_error(client)
    for call in (lambda: client.send_audio(b"\x00\x00"), client.interrupt, client.pause):
        with pytest.raises(AvatarError) as caught:
            call()
        error = caught.value
        assert not isinstance(error, LocalProtocolError)
        assert (error.code, error.close_code, error.retryable) == (
            error_code,
            close_code,
            ended.retryable,
        )
        assert error is not ended  # raised afresh: no traceback piles up on one object


def test_calls_on_a_session_the_server_closed_normally_say_it_is_over() -> None:
    client, peer = connect()
    peer.close(1000)
    pump(client, peer)
    with pytest.raises(AvatarError) as caught:
        client.send_audio(b"\x00\x00")
    assert not isinstance(caught.value, LocalProtocolError)
    assert (caught.value.code, caught.value.close_code) == (ErrorCode.CONNECTION_CLOSED, 1000)


def test_calls_after_a_refused_handshake_raise_the_refusal() -> None:
    client, peer = configuring()
    peer.send(server_error(0, "unsupported sample rate"))
    pump(client, peer)
    with pytest.raises(AvatarError) as caught:
        client.send_audio(b"\x00\x00")
    assert caught.value.code is ErrorCode.UNSUPPORTED_SAMPLE_RATE


def test_calls_after_the_caller_closed_stay_usage_errors() -> None:
    client, peer = connect()
    client.close()
    pump(client, peer)
    assert client.state is SessionState.CLOSED
    with pytest.raises(LocalProtocolError, match="CLOSED"):
        client.send_audio(b"\x00\x00")
