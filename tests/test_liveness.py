"""Keepalive in the core: pings after silence, death after an unanswered ping, by the
clock the binding passes in."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_peer import ScriptedPeer, confirm, pump
from test_framing import replies
from test_session import TOKEN, make_config
from wsproto.events import Pong

from avatarwire.core.errors import ConfigError, ErrorCode
from avatarwire.core.events import SessionClosed
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState


def ready(
    interval: float | None = 20.0, timeout: float | None = 20.0
) -> tuple[ClientSession, ScriptedPeer]:
    client = ClientSession(
        make_config(),
        TOKEN,
        request_ids=sequential_request_ids(),
        ping_interval=interval,
        ping_timeout=timeout,
    )
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    peer.send(confirm())
    pump(client, peer)
    client.tick(0.0)
    client.events()
    return client, peer


def test_a_silent_server_is_pinged_after_the_interval() -> None:
    client, _ = ready()
    assert client.next_deadline() == 20.0
    client.tick(19.9)
    assert client.data_to_send() == b""
    client.tick(20.0)
    assert replies(client.data_to_send()) == ["Ping"]


def test_a_pong_keeps_the_session_alive() -> None:
    client, peer = ready()
    client.tick(20.0)
    client.data_to_send()
    peer.out += peer.ws.send(Pong(payload=b"avatarwire keepalive"))
    client.receive_data(peer.take())
    client.tick(20.5)
    assert client.state is SessionState.READY
    assert client.next_deadline() == 40.5
    client.tick(39.0)
    assert client.state is SessionState.READY


def test_silence_past_interval_and_timeout_ends_the_session_retryably() -> None:
    client, _ = ready(interval=5.0, timeout=3.0)
    client.tick(5.0)
    client.data_to_send()
    assert client.next_deadline() == 8.0
    client.tick(7.9)
    assert client.state is SessionState.READY
    client.tick(8.0)
    assert client.state is SessionState.ERROR
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.code is ErrorCode.CONNECTION_CLOSED and closed.error.retryable
    assert "8 s" in closed.error.message
    assert client.next_deadline() is None


def test_any_byte_counts_as_life() -> None:
    client, peer = ready(interval=5.0, timeout=3.0)
    client.tick(5.0)
    client.data_to_send()  # the ping, lost
    peer.send(confirm())  # not a pong, but bytes
    client.receive_data(peer.take())
    client.tick(7.9)
    client.tick(9.0)
    assert client.state is SessionState.READY
    assert client.next_deadline() == 12.9


def test_a_binding_that_is_not_reading_never_kills_the_session() -> None:
    client, _ = ready(interval=5.0, timeout=3.0)
    for now in range(5, 100, 5):
        client.tick(float(now), reading=False)
    assert client.state is SessionState.READY


def test_keepalive_can_be_turned_off() -> None:
    client, _ = ready(interval=None)
    assert client.next_deadline() is None
    client.tick(1e9)
    assert client.state is SessionState.READY and client.data_to_send() == b""


def test_no_timeout_pings_but_never_gives_up() -> None:
    client, _ = ready(interval=5.0, timeout=None)
    client.tick(5.0)
    assert client.data_to_send() != b""
    assert client.next_deadline() is None
    client.tick(1e9)
    assert client.state is SessionState.READY


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, "20", True])
@pytest.mark.parametrize("name", ["ping_interval", "ping_timeout"])
def test_keepalive_settings_are_checked(name: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        ClientSession(
            make_config(),
            TOKEN,
            request_ids=sequential_request_ids(),
            **{name: value},  # type: ignore[arg-type]
        )
    assert name in str(caught.value) and "> 0" in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(
    interval=st.floats(min_value=0.1, max_value=30),
    timeout=st.floats(min_value=0.1, max_value=30),
    gaps=st.lists(st.floats(min_value=0.0, max_value=80.0), max_size=8),
)
def test_death_comes_exactly_interval_plus_timeout_after_the_last_byte(
    interval: float, timeout: float, gaps: list[float]
) -> None:
    """A binding that ticks after each read and at each deadline: the session dies
    if and only if the server was silent for interval + timeout, and then at once."""
    client, peer = ready(interval, timeout)
    now = last_byte = 0.0
    for gap in gaps:
        arrival = now + gap
        while (deadline := client.next_deadline()) is not None and deadline <= arrival:
            now = deadline
            client.tick(now)
            client.data_to_send()
            if client.state is SessionState.ERROR:
                assert now == pytest.approx(last_byte + interval + timeout)
                return
        now = last_byte = arrival
        peer.send(confirm())
        client.receive_data(peer.take())
        client.tick(now)
        assert client.state is SessionState.READY
