"""Every state machine of the core follows one convention (core/machine.py): the table
is the whole protocol, a pair not in it raises, and the failed state keeps its cause."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pytest

from avatarwire.core import http_exchange
from avatarwire.core.config import SessionConfig
from avatarwire.core.endpoints import Endpoint
from avatarwire.core.errors import AvatarError, ErrorCode, LocalProtocolError, Phase
from avatarwire.core.events import SessionClosed
from avatarwire.core.http_exchange import ExchangeState, ExchangeTrigger
from avatarwire.core.machine import Machine, final_states
from avatarwire.core.proxy import (
    TUNNEL_TRANSITIONS,
    Proxy,
    TunnelExchange,
    TunnelState,
    TunnelTrigger,
)
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.server import (
    ClientClosed,
    ClientProtocolViolation,
    ConnectionLost,
    ServerConnection,
    ServerState,
    ServerTrigger,
)
from avatarwire.core.server import states as server_states
from avatarwire.core.session import ClientSession
from avatarwire.core.session_states import (
    ALLOWED_CALLS,
    ENDED,
    PHASE_OF_STATE,
    TRANSITIONS,
    SessionState,
    Trigger,
)
from avatarwire.core.token import TokenExchange

TOKEN = "tok-SECRET-4242"
API_KEY = "key-SECRET-1"
PROXY_PASSWORD = "proxy-SECRET-7"
CONSOLE = Endpoint(secure=False, host="127.0.0.1", port=9000, target="/v1/console/session-token")


def make_config() -> SessionConfig:
    return SessionConfig(
        api_key=API_KEY,
        app_id="app-1",
        avatar_id="avatar-1",
        ingress_url="ws://127.0.0.1:9000/v2/driveningress",
        console_url="http://127.0.0.1:9000/v1/console",
    )


@dataclass(frozen=True)
class Spec:
    """One machine of the core: its table, its states and triggers, its failed state."""

    name: str
    table: Mapping[tuple[Any, Any], Any]
    states: type[Enum]
    triggers: type[Enum]
    error_state: Any


MACHINES = [
    Spec("session", TRANSITIONS, SessionState, Trigger, SessionState.ERROR),
    Spec("server", server_states.TRANSITIONS, ServerState, ServerTrigger, ServerState.ERROR),
    Spec(
        "http-exchange",
        http_exchange.TRANSITIONS,
        ExchangeState,
        ExchangeTrigger,
        ExchangeState.FAILED,
    ),
    Spec("tunnel", TUNNEL_TRANSITIONS, TunnelState, TunnelTrigger, TunnelState.FAILED),
]

PAIRS = [
    pytest.param(spec, state, trigger, id=f"{spec.name}-{state.name}-{trigger.name}")
    for spec in MACHINES
    for state, trigger in itertools.product(spec.states, spec.triggers)
]


def cause() -> AvatarError:
    return AvatarError("it broke", code=ErrorCode.CONNECTION_CLOSED)


@pytest.mark.parametrize(("spec", "state", "trigger"), PAIRS)
def test_every_listed_pair_moves_and_every_other_pair_raises(
    spec: Spec, state: Enum, trigger: Enum
) -> None:
    machine = Machine(spec.name, spec.table, state, error_state=spec.error_state)
    target = spec.table.get((state, trigger))
    if target is None:
        with pytest.raises(LocalProtocolError, match=f"{trigger.name} cannot happen"):
            machine.move(trigger)
        assert machine.state is state and machine.cause is None
        return
    error = cause() if target is spec.error_state else None
    assert machine.move(trigger, error) is target
    assert machine.state is target
    assert machine.cause is error


@pytest.mark.parametrize("spec", MACHINES, ids=lambda spec: spec.name)
def test_the_failed_state_is_final_distinct_from_a_clean_end_and_reachable(spec: Spec) -> None:
    final = final_states(spec.table, spec.states)
    assert spec.error_state in final
    assert final - {spec.error_state}, "no clean end"
    assert spec.error_state in spec.table.values()


@pytest.mark.parametrize("spec", MACHINES, ids=lambda spec: spec.name)
def test_a_move_into_the_failed_state_needs_its_cause_and_no_other_takes_one(spec: Spec) -> None:
    for (state, trigger), target in spec.table.items():
        machine = Machine(spec.name, spec.table, state, error_state=spec.error_state)
        wrong = None if target is spec.error_state else cause()
        with pytest.raises(LocalProtocolError, match="cause"):
            machine.move(trigger, wrong)
        assert machine.state is state and machine.cause is None


def test_the_failed_machine_keeps_the_exact_cause_and_says_so() -> None:
    error = cause()
    machine = Machine("session", TRANSITIONS, SessionState.READY, error_state=SessionState.ERROR)
    assert not machine.ended and not machine.failed
    machine.move(Trigger.CONNECTION_LOST, error)
    assert machine.cause is error
    assert machine.ended and machine.failed
    assert not machine.can(Trigger.PEER_CLOSE)
    assert repr(machine) == "<Machine session ERROR cause=connectionClosed>"


def test_every_session_state_has_its_calls_and_phase_and_only_closed_and_error_end() -> None:
    assert set(ALLOWED_CALLS) == set(SessionState) == set(PHASE_OF_STATE)
    assert {SessionState.CLOSED, SessionState.ERROR} == ENDED
    assert [state for state in SessionState if state.ended] == [
        SessionState.CLOSED,
        SessionState.ERROR,
    ]


def test_a_rejected_upgrade_leaves_the_session_in_error_with_the_reported_error() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    client.data_to_send()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert client.state is SessionState.ERROR
    assert client.error is closed.error
    with pytest.raises(AvatarError) as raised:
        client.send_audio(b"\0\0")
    assert raised.value.code is closed.error.code


def test_a_session_closed_by_its_caller_is_closed_without_a_cause() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    client.close()
    assert client.state is SessionState.CLOSED and client.error is None
    assert client.events() == [SessionClosed(None, "", None)]


def test_every_server_state_has_its_calls() -> None:
    assert set(server_states.ALLOWED_CALLS) == set(ServerState)


def test_a_request_the_server_cannot_parse_leaves_it_in_error_with_the_violation() -> None:
    server = ServerConnection()
    server.receive_data(b"NOT HTTP AT ALL\r\n\r\n")
    (event,) = server.events()
    assert isinstance(event, ClientProtocolViolation) and event.http_status == 400
    assert server.state is ServerState.ERROR and server.closed
    assert server.error is not None
    assert (server.error.message, server.error.http_status) == (event.reason, 400)
    with pytest.raises(LocalProtocolError, match="respond\\(\\) is not allowed in state error"):
        server.respond(200, {})


def test_a_client_that_drops_the_connection_leaves_the_server_in_error() -> None:
    server = ServerConnection()
    server.receive_data(b"")
    assert server.events() == [ConnectionLost()]
    assert server.state is ServerState.ERROR
    assert server.error is not None and server.error.code is ErrorCode.CONNECTION_CLOSED


def test_a_client_close_leaves_the_server_closed_without_a_cause() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    server = ServerConnection()
    server.receive_data(client.data_to_send())
    server.events()
    server.accept_upgrade()
    client.receive_data(server.data_to_send())
    client.close()
    server.receive_data(client.data_to_send())
    server.events()  # the configure, sent before the close
    server.confirm_session("conn-1")
    assert server.events() == [ClientClosed(1000, "")]
    assert server.state is ServerState.CLOSED and server.error is None


def test_a_refused_token_exchange_is_failed_with_the_error_its_token_raises() -> None:
    exchange = TokenExchange(CONSOLE, API_KEY, 1_900_000_000)
    exchange.data_to_send()
    assert exchange.state is ExchangeState.AWAITING_RESPONSE and exchange.error is None
    exchange.receive_data(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\n")
    assert exchange.state is ExchangeState.READING_BODY and not exchange.done
    exchange.receive_data(API_KEY[:3].encode())
    assert exchange.state is ExchangeState.FAILED and exchange.done
    error = exchange.error
    assert error is not None and error.code is ErrorCode.SESSION_TOKEN_INVALID
    with pytest.raises(AvatarError) as raised:
        _ = exchange.token
    assert raised.value is error
    assert "state='failed'" in repr(exchange) and API_KEY not in repr(exchange)


def test_a_token_exchange_cut_short_is_failed_with_connection_closed() -> None:
    exchange = TokenExchange(CONSOLE, API_KEY, 1_900_000_000)
    exchange.receive_data(b"HTTP/1.1 200 OK\r\n")
    exchange.receive_data(b"")
    assert exchange.state is ExchangeState.FAILED
    assert exchange.error is not None and exchange.error.code is ErrorCode.CONNECTION_CLOSED


def test_a_token_exchange_that_succeeded_has_no_cause() -> None:
    exchange = TokenExchange(CONSOLE, API_KEY, 1_900_000_000)
    body = b'{"sessionToken":"' + TOKEN.encode() + b'"}'
    exchange.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert exchange.state is ExchangeState.SUCCEEDED and exchange.error is None
    assert exchange.token == TOKEN and TOKEN not in repr(exchange)


def test_a_refused_tunnel_is_failed_with_its_cause_and_shows_no_credentials() -> None:
    proxy = Proxy("proxy.local", 3128, "user", PROXY_PASSWORD)
    exchange = TunnelExchange(proxy, CONSOLE, phase=Phase.SESSION_TOKEN)
    assert exchange.state is TunnelState.WAITING and exchange.error is None
    exchange.receive_data(b"HTTP/1.1 403 Forbidden\r\n\r\n")
    assert exchange.state is TunnelState.FAILED
    error = exchange.error
    assert error is not None and error.http_status == 403
    with pytest.raises(AvatarError) as raised:
        exchange.raise_for_outcome()
    assert raised.value is error
    assert repr(exchange).endswith(", failed)") and PROXY_PASSWORD not in repr(exchange)
