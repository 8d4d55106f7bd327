"""The service role's HTTP side: console requests, plain GETs and upgrade handshakes,
driven by real h11 and wsproto clients in memory."""

from __future__ import annotations

import json

import h11
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import RejectConnection, RejectData, Request

from avatarwire.core.errors import LocalProtocolError, RemoteProtocolError
from avatarwire.core.server import (
    ClientProtocolViolation,
    ConnectionLost,
    HttpRequestReceived,
    ServerConnection,
    ServerState,
    UpgradeRequested,
    parse_token_request,
)

INGRESS = "/v2/driveningress/websocket"


def http_exchange(server: ServerConnection, *events: h11.Event) -> h11.Connection:
    """Send ``events`` from an h11 client into ``server``; return the client."""
    client = h11.Connection(h11.CLIENT)
    for event in events:
        data = client.send(event)
        if data:  # b"" would mean EOF
            server.receive_data(data)
    return client


def read_response(client: h11.Connection, data: bytes) -> tuple[h11.Response, bytes]:
    client.receive_data(data)
    response = client.next_event()
    assert isinstance(response, h11.Response)
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage)
            return response, body


def token_post(body: bytes) -> list[h11.Event]:
    headers = [
        ("Host", "localhost"),
        ("X-Api-Key", "sk-secret"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    return [
        h11.Request(method="POST", target="/v1/console/session-tokens", headers=headers),
        h11.Data(data=body),
        h11.EndOfMessage(),
    ]


def upgrade_bytes(target: str, extra_headers: list[tuple[str, str]] | None = None) -> bytes:
    client = WSConnection(ConnectionType.CLIENT)
    return client.send(Request(host="localhost", target=target, extra_headers=extra_headers or []))


def test_token_post_is_reported_and_answered_with_json_then_closed() -> None:
    server = ServerConnection()
    client = http_exchange(server, *token_post(b'{"expireAt": 1700000000}'))
    event = server.next_event()
    assert isinstance(event, HttpRequestReceived)
    assert (event.method, event.path, event.query) == ("POST", "/v1/console/session-tokens", {})
    assert event.headers["x-api-key"] == "sk-secret"
    assert event.headers["content-type"] == "application/json"
    assert parse_token_request(event.body) == 1700000000
    assert "sk-secret" not in repr(event)
    assert server.state is ServerState.REQUEST_RECEIVED

    server.respond(200, {"sessionToken": "tok-1"})
    response, body = read_response(client, server.data_to_send())
    assert response.status_code == 200
    assert (b"content-type", b"application/json") in list(response.headers)
    assert (b"connection", b"close") in list(response.headers)
    assert json.loads(body) == {"sessionToken": "tok-1"}
    assert server.closed
    assert server.next_event() is None


def test_plain_get_reports_path_and_query() -> None:
    server = ServerConnection()
    request = h11.Request(
        method="GET", target="/emulator/egress?channel=a%20b&x=1&x=2", headers=[("Host", "h")]
    )
    client = http_exchange(server, request, h11.EndOfMessage())
    event = server.next_event()
    assert isinstance(event, HttpRequestReceived)
    assert event.path == "/emulator/egress"
    assert event.query == {"channel": "a b", "x": "1"}
    assert event.body == b""
    server.respond(200, [1, 2], headers={"X-Extra": "yes"})
    response, body = read_response(client, server.data_to_send())
    assert (b"x-extra", b"yes") in list(response.headers)
    assert json.loads(body) == [1, 2]


def test_upgrade_with_header_auth_reports_credentials_and_avatar() -> None:
    server = ServerConnection()
    server.receive_data(
        upgrade_bytes(
            INGRESS + "?id=avatar-7", [("X-App-ID", "app-1"), ("X-Session-Key", "tok-secret")]
        )
    )
    event = server.next_event()
    assert isinstance(event, UpgradeRequested)
    assert (event.path, event.app_id, event.session_key) == (INGRESS, "app-1", "tok-secret")
    assert event.avatar_id == "avatar-7"
    assert event.query_auth is False
    assert "tok-secret" not in repr(event)
    assert server.state is ServerState.UPGRADE_REQUESTED


def test_upgrade_with_query_auth_takes_credentials_from_the_query() -> None:
    server = ServerConnection()
    server.receive_data(upgrade_bytes(INGRESS + "?region=x&id=av&appId=app-2&sessionKey=tok-q"))
    event = server.next_event()
    assert isinstance(event, UpgradeRequested)
    assert (event.app_id, event.session_key, event.avatar_id) == ("app-2", "tok-q", "av")
    assert event.query_auth is True
    assert event.query["region"] == "x"


def test_rejected_upgrade_sends_status_and_json_body_then_closes() -> None:
    server = ServerConnection()
    client = WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="localhost", target=INGRESS + "?id=nope")))
    assert isinstance(server.next_event(), UpgradeRequested)
    server.reject_upgrade(404, {"message": "Avatar not found"})
    assert server.closed
    client.receive_data(server.data_to_send())
    events = list(client.events())
    assert isinstance(events[0], RejectConnection)
    assert events[0].status_code == 404
    body = b"".join(bytes(e.data) for e in events[1:] if isinstance(e, RejectData))
    assert json.loads(body) == {"message": "Avatar not found"}


def test_garbage_instead_of_http_gets_a_400_and_closes() -> None:
    server = ServerConnection()
    server.receive_data(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    event = server.next_event()
    assert isinstance(event, ClientProtocolViolation)
    assert (event.http_status, event.close_code) == (400, None)
    assert server.closed
    assert server.data_to_send().startswith(b"HTTP/1.1 400 ")
    server.receive_data(b"more bytes are ignored")
    assert server.next_event() is None


def test_request_body_over_the_limit_gets_a_413() -> None:
    server = ServerConnection(max_request_body=10)
    http_exchange(server, *token_post(b'{"expireAt": 1700000000000}'))
    event = server.next_event()
    assert isinstance(event, ClientProtocolViolation)
    assert event.http_status == 413
    assert server.data_to_send().startswith(b"HTTP/1.1 413 ")


def test_upgrade_without_key_is_refused_with_400_and_wrong_version_with_426() -> None:
    head = f"GET {INGRESS} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    server = ServerConnection()
    server.receive_data((head + "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    event = server.next_event()
    assert isinstance(event, ClientProtocolViolation)
    assert event.http_status == 400
    server = ServerConnection()
    server.receive_data(
        (head + "Sec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 8\r\n\r\n").encode()
    )
    event = server.next_event()
    assert isinstance(event, ClientProtocolViolation)
    assert event.http_status == 426
    assert b"Sec-WebSocket-Version: 13\r\n" in server.data_to_send()


def test_eof_before_or_during_a_request_is_connection_lost() -> None:
    for prefix in (b"", b"POST /v1/console/session-tokens HTTP/1.1\r\nHo"):
        server = ServerConnection()
        server.receive_data(prefix)
        server.receive_data(b"")
        assert server.events() == [ConnectionLost()]
        assert server.closed
        assert server.data_to_send() == b""


def test_calls_in_the_wrong_state_name_the_state() -> None:
    server = ServerConnection()
    with pytest.raises(LocalProtocolError, match="state reading_request"):
        server.confirm_session("c1")
    with pytest.raises(LocalProtocolError, match="state reading_request"):
        server.respond(200, b"")
    http_exchange(server, *token_post(b"{}"))
    assert isinstance(server.next_event(), HttpRequestReceived)
    with pytest.raises(LocalProtocolError, match=r"accept_upgrade.*state request_received"):
        server.accept_upgrade()
    server.respond(400, b"no")
    with pytest.raises(LocalProtocolError, match="state closed"):
        server.respond(200, b"again")


def test_response_headers_cannot_inject_lines() -> None:
    server = ServerConnection()
    http_exchange(server, *token_post(b"{}"))
    assert isinstance(server.next_event(), HttpRequestReceived)
    with pytest.raises(LocalProtocolError):
        server.respond(200, b"", headers={"X-A": "1\r\nSet-Cookie: x"})
    with pytest.raises(LocalProtocolError):
        server.respond(99, b"")
    assert server.state is ServerState.REQUEST_RECEIVED


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1]", b'{"expireAt": "1700000000"}', b'{"expireAt": true}', b"\xff"],
)
def test_token_request_without_integer_expire_at_is_a_remote_error(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="token request"):
        parse_token_request(body)


def test_client_flooding_before_the_upgrade_is_answered_is_closed_with_1009() -> None:
    server = ServerConnection(max_message_size=100)
    server.receive_data(upgrade_bytes(INGRESS))
    assert isinstance(server.next_event(), UpgradeRequested)
    server.receive_data(b"x" * 200)
    assert server.next_event() is None
    server.accept_upgrade()
    [event] = server.events()
    assert isinstance(event, ClientProtocolViolation)
    assert event.close_code == 1009
    assert server.closed
    assert server.data_to_send().startswith(b"HTTP/1.1 101 ")
