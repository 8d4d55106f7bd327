"""The console token exchange: the request it writes and every response it must read."""

from __future__ import annotations

import itertools
import json

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatarwire import __version__
from avatarwire.core.endpoints import Endpoint
from avatarwire.core.errors import (
    AvatarError,
    ConfigError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
)
from avatarwire.core.token import TokenExchange, TokenExchangeState

API_KEY = "sk-test-Zq8vXk3LmW9pRt"
TOKEN = "st-Hj4kP9wQx2Lm7Nb5Vc"
EXPIRE_AT = 1_900_000_000
ENDPOINT = Endpoint(
    secure=True,
    host="console.us-west.spatialwalk.cloud",
    port=443,
    target="/v1/console/session-tokens",
)


def exchange(max_response_size: int = 64 * 1024) -> TokenExchange:
    return TokenExchange(ENDPOINT, API_KEY, EXPIRE_AT, max_response_size=max_response_size)


def response(status: int, body: bytes, *, reason: bytes = b"X", headers: bytes = b"") -> bytes:
    head = b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (status, reason, len(body))
    return head + headers + b"\r\n" + body


def chunked_response(status: int, body: bytes, piece: int = 7) -> bytes:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece])
        for i in range(0, len(body), piece)
    )
    return b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n" % (status, chunks)


def json_body(document: object) -> bytes:
    return json.dumps(document).encode()


def run(data: bytes, *, eof: bool = False, max_response_size: int = 64 * 1024) -> TokenExchange:
    ex = exchange(max_response_size)
    ex.data_to_send()
    ex.receive_data(data)
    if eof:
        ex.receive_data(b"")
    return ex


def failure(ex: TokenExchange) -> AvatarError:
    assert ex.done
    assert ex.state is TokenExchangeState.FAILED
    error = ex.error
    assert error is not None
    assert error.phase is Phase.SESSION_TOKEN
    with pytest.raises(AvatarError) as raised:
        _ = ex.token
    assert raised.value is error
    return error


def assert_no_secrets(ex: TokenExchange, *secrets: str) -> None:
    error = ex.error
    shown = [repr(ex), str(ex)]
    if error is not None:
        shown += [str(error), repr(error), error.message, *map(str, error.args)]
        shown += [error.server_detail or "", error.server_title or ""]
        shown.append((error.raw_body or b"").decode("latin-1"))
    for secret in secrets:
        for text in shown:
            assert secret not in text


# --- the request ------------------------------------------------------------------------


def parse_request(data: bytes) -> tuple[h11.Request, bytes]:
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    request = server.next_event()
    assert isinstance(request, h11.Request)
    body = b""
    while True:
        event = server.next_event()
        if isinstance(event, h11.EndOfMessage):
            return request, body
        assert isinstance(event, h11.Data)
        body += event.data


def test_request_is_a_post_with_key_json_expiry_and_close() -> None:
    ex = exchange()
    request, body = parse_request(ex.data_to_send())
    headers = {name.decode(): value.decode() for name, value in request.headers}
    assert request.method == b"POST"
    assert request.target == b"/v1/console/session-tokens"
    assert request.http_version == b"1.1"
    assert headers["host"] == "console.us-west.spatialwalk.cloud"
    assert headers["x-api-key"] == API_KEY
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    assert headers["connection"] == "close"
    assert headers["user-agent"] == f"avatarwire/{__version__}"
    assert json.loads(body) == {"expireAt": EXPIRE_AT}


def test_request_is_sent_once() -> None:
    ex = exchange()
    assert ex.data_to_send()
    assert ex.data_to_send() == b""
    ex.receive_data(response(200, json_body({"sessionToken": TOKEN})))
    assert ex.data_to_send() == b""


def test_host_header_carries_a_non_default_port() -> None:
    endpoint = Endpoint(
        secure=False, host="127.0.0.1", port=8080, target="/v1/console/session-tokens"
    )
    request, _ = parse_request(TokenExchange(endpoint, API_KEY, EXPIRE_AT).data_to_send())
    assert (b"host", b"127.0.0.1:8080") in request.headers


@pytest.mark.parametrize("bad_key", ["", "key\r\nX-Evil: 1", "key\x00", " padded ", "kéy"])
def test_unsendable_api_key_is_a_config_error_that_does_not_echo_it(bad_key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        TokenExchange(ENDPOINT, bad_key, EXPIRE_AT)
    assert raised.value.field == "api_key"
    if bad_key:
        assert bad_key not in str(raised.value)


@pytest.mark.parametrize("bad_expiry", [True, 0, -5, 1.5, "1900000000"])
def test_expiry_must_be_positive_int_seconds(bad_expiry: object) -> None:
    with pytest.raises(ConfigError):
        TokenExchange(ENDPOINT, API_KEY, bad_expiry)  # type: ignore[arg-type]


# --- success ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sessionToken", "session_token"])
def test_token_is_read_in_either_spelling(key: str) -> None:
    ex = run(response(200, json_body({key: TOKEN}), reason=b"OK"))
    assert ex.done
    assert ex.state is TokenExchangeState.SUCCEEDED
    assert ex.token == TOKEN
    assert ex.error is None


def test_empty_first_spelling_falls_back_to_the_second() -> None:
    ex = run(response(200, json_body({"sessionToken": "", "session_token": TOKEN})))
    assert ex.token == TOKEN


def test_token_arrives_over_chunked_transfer_encoding() -> None:
    ex = run(chunked_response(200, json_body({"sessionToken": TOKEN}), piece=3))
    assert ex.token == TOKEN


def test_token_in_a_body_delimited_by_close() -> None:
    data = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + json_body({"sessionToken": TOKEN})
    ex = run(data)
    assert not ex.done
    ex.receive_data(b"")
    assert ex.token == TOKEN


def test_informational_responses_are_skipped() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    ex = run(data + response(200, json_body({"sessionToken": TOKEN})))
    assert ex.token == TOKEN


def test_token_is_not_available_before_the_response_ends() -> None:
    full = response(200, json_body({"sessionToken": TOKEN}))
    ex = run(full[:-1])
    assert not ex.done
    assert ex.state is TokenExchangeState.READING_BODY
    assert ex.error is None
    with pytest.raises(LocalProtocolError):
        _ = ex.token
    ex.receive_data(full[-1:])
    assert ex.token == TOKEN


def test_bytes_after_the_outcome_are_ignored() -> None:
    ex = run(response(200, json_body({"sessionToken": TOKEN})) + b"\x00garbage\r\n\r\n")
    ex.receive_data(b"HTTP/1.1 500 Oops\r\n\r\n")
    ex.receive_data(b"")
    assert ex.token == TOKEN


def test_repr_shows_endpoint_and_state_but_no_secret() -> None:
    ex = exchange()
    assert "awaiting_response" in repr(ex)
    assert "console.us-west.spatialwalk.cloud" in repr(ex)
    ex.receive_data(response(200, json_body({"sessionToken": TOKEN})))
    assert "succeeded" in repr(ex)
    assert_no_secrets(ex, API_KEY, TOKEN)


# --- failures -----------------------------------------------------------------------------

INVALID_ARGUMENT = {
    "errors": [
        {
            "id": "e1",
            "status": 400,
            "code": "INVALID_ARGUMENT",
            "title": "Invalid Argument",
            "detail": "expire_at must be in the future",
        }
    ]
}

FAILURES = [
    pytest.param(
        400, json_body(INVALID_ARGUMENT), ErrorCode.INVALID_REQUEST, 400, id="errors-list"
    ),
    pytest.param(
        400,
        json_body(
            {"errors": [{"id": "INVALID_ARGUMENT", "status": 400, "message": "bad expireAt"}]}
        ),
        ErrorCode.INVALID_REQUEST,
        400,
        id="errors-list-id-and-message-fallbacks",
    ),
    pytest.param(
        402,
        json_body(
            {"status": 402, "error": "payment", "message": "session denied: credits exhausted"}
        ),
        ErrorCode.BILLING_REQUIRED,  # the console is read by its status, not its text
        402,
        id="flat-object",
    ),
    pytest.param(
        403,
        json_body({"code": "FORBIDDEN", "detail": "no"}),
        ErrorCode.APP_ID_UNRECOGNIZED,
        403,
        id="flat-4xx",
    ),
    pytest.param(402, b"session denied", ErrorCode.BILLING_REQUIRED, 402, id="plain-text-402"),
    pytest.param(500, b"internal error", ErrorCode.SERVER_ERROR, 500, id="plain-text-500"),
    pytest.param(503, b"", ErrorCode.SERVER_ERROR, 503, id="empty-503"),
    pytest.param(400, b"", ErrorCode.INVALID_REQUEST, 400, id="empty-400"),
    pytest.param(
        200, json_body(INVALID_ARGUMENT), ErrorCode.INVALID_REQUEST, 400, id="200-with-errors"
    ),
    pytest.param(
        200,
        json_body({"errors": [{"code": "INVALID_ARGUMENT", "detail": "x"}], "sessionToken": TOKEN}),
        ErrorCode.INVALID_REQUEST,
        200,
        id="200-with-errors-and-a-token",
    ),
    pytest.param(200, b"<html>ok</html>", ErrorCode.PROTOCOL_ERROR, 200, id="200-not-json"),
    pytest.param(200, b"[1, 2]", ErrorCode.PROTOCOL_ERROR, 200, id="200-json-array"),
    pytest.param(200, b"\xff\xfe", ErrorCode.PROTOCOL_ERROR, 200, id="200-not-utf8"),
    pytest.param(200, b"", ErrorCode.PROTOCOL_ERROR, 200, id="200-empty-body"),
    pytest.param(
        200, json_body({"sessionToken": ""}), ErrorCode.PROTOCOL_ERROR, 200, id="200-empty-token"
    ),
    pytest.param(200, json_body({}), ErrorCode.PROTOCOL_ERROR, 200, id="200-missing-token"),
    pytest.param(
        200, json_body({"sessionToken": 42}), ErrorCode.PROTOCOL_ERROR, 200, id="200-number-token"
    ),
    pytest.param(
        200,
        json_body({"message": "credits exhausted"}),
        ErrorCode.PROTOCOL_ERROR,  # a 200 without a token, whatever it says
        200,
        id="200-flat-error",
    ),
]


@pytest.mark.parametrize(("status", "body", "code", "http_status"), FAILURES)
def test_failure_shapes_are_classified(
    status: int, body: bytes, code: ErrorCode, http_status: int
) -> None:
    for data in (response(status, body), chunked_response(status, body)):
        error = failure(run(data))
        assert error.code is code
        assert error.http_status == http_status


def test_errors_list_keeps_the_service_context() -> None:
    error = failure(run(response(400, json_body(INVALID_ARGUMENT))))
    assert error.server_code == "INVALID_ARGUMENT"
    assert error.server_title == "Invalid Argument"
    assert error.server_detail == "expire_at must be in the future"
    assert "expire_at must be in the future" in str(error)


@pytest.mark.parametrize("bad", ["a\r\nb", "tok\n", "\x00tok", "tok\x7f", "tok\x1b[0m", "tökén"])
def test_token_that_could_inject_a_header_is_a_protocol_error(bad: str) -> None:
    secret_part = "Yy7Uu6Ii5Oo4"
    ex = run(response(200, json_body({"sessionToken": secret_part + bad + secret_part})))
    error = failure(ex)
    assert isinstance(error, RemoteProtocolError)
    assert error.code is ErrorCode.PROTOCOL_ERROR
    assert_no_secrets(ex, secret_part, API_KEY)


@pytest.mark.parametrize("padded", [" " + TOKEN, TOKEN + " "])
def test_token_with_surrounding_spaces_is_a_protocol_error(padded: str) -> None:
    ex = run(response(200, json_body({"sessionToken": padded})))
    assert isinstance(failure(ex), RemoteProtocolError)
    assert_no_secrets(ex, TOKEN)


def test_switching_protocols_is_an_error() -> None:
    ex = run(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    error = failure(ex)
    assert isinstance(error, RemoteProtocolError)


@pytest.mark.parametrize(
    "data",
    [b"garbage\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n"],
)
def test_malformed_http_is_a_remote_protocol_error(data: bytes) -> None:
    error = failure(run(data))
    assert isinstance(error, RemoteProtocolError)
    assert error.code is ErrorCode.PROTOCOL_ERROR


@pytest.mark.parametrize(
    ("data", "http_status"),
    [
        (b"", None),
        (b"HTTP/1.1 200 OK\r\nContent-Le", None),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"sessionTo', 200),
        (b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 500),
    ],
)
def test_eof_before_the_response_ends_is_connection_closed(
    data: bytes, http_status: int | None
) -> None:
    error = failure(run(data, eof=True))
    assert error.code is ErrorCode.CONNECTION_CLOSED
    assert error.http_status == http_status
    assert error.retryable


# --- size bound ---------------------------------------------------------------------------


def test_response_of_exactly_the_bound_succeeds() -> None:
    data = response(200, json_body({"sessionToken": TOKEN}))
    assert run(data, max_response_size=len(data)).token == TOKEN


def test_response_one_byte_over_the_bound_fails_whatever_the_chunking() -> None:
    data = response(200, json_body({"sessionToken": TOKEN}))
    whole = failure(run(data, max_response_size=len(data) - 1))
    ex = exchange(len(data) - 1)
    for byte in data:
        ex.receive_data(bytes([byte]))
    assert isinstance(whole, RemoteProtocolError)
    assert (type(failure(ex)), failure(ex).message) == (type(whole), whole.message)


def test_endless_headers_hit_the_bound() -> None:
    ex = exchange(1024)
    ex.receive_data(b"HTTP/1.1 200 OK\r\n")
    for _ in range(200):
        ex.receive_data(b"X-Filler: 0123456789\r\n")
    assert isinstance(failure(ex), RemoteProtocolError)


def test_declared_length_over_the_bound_fails_at_the_headers() -> None:
    ex = run(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", max_response_size=1024)
    assert isinstance(failure(ex), RemoteProtocolError)


def test_endless_chunked_body_hits_the_bound() -> None:
    ex = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", max_response_size=4096)
    for _ in range(1000):
        ex.receive_data(b"10\r\n0123456789abcdef\r\n")
    assert isinstance(failure(ex), RemoteProtocolError)


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        response(401, f"invalid api key {API_KEY}".encode()),
        response(
            401, json_body({"errors": [{"status": 401, "title": API_KEY, "detail": API_KEY}]})
        ),
        response(200, json_body({"message": f"key {API_KEY} unknown"})),
        f"HTTP/1.1 200 OK\r\n{API_KEY}\r\n\r\n".encode(),
        f"HTTP/1.1 {API_KEY}\r\n\r\n".encode(),
    ],
)
def test_api_key_echoed_by_the_console_is_masked(data: bytes) -> None:
    ex = run(data, eof=True)
    failure(ex)
    assert_no_secrets(ex, API_KEY)


def test_token_next_to_errors_does_not_leak() -> None:
    body = json_body({"errors": [{"status": 400, "detail": f"bad {TOKEN}"}], "sessionToken": TOKEN})
    ex = run(response(200, body))
    failure(ex)
    assert_no_secrets(ex, API_KEY, TOKEN)


# --- properties ---------------------------------------------------------------------------

SAMPLES = [
    response(200, json_body({"sessionToken": TOKEN})),
    response(200, json_body({"session_token": TOKEN}), headers=b"X-Extra: 1\r\n"),
    chunked_response(200, json_body({"sessionToken": TOKEN}), piece=2),
    b"HTTP/1.1 100 Continue\r\n\r\n" + response(200, json_body({"sessionToken": TOKEN})),
    response(400, json_body(INVALID_ARGUMENT)),
    chunked_response(502, b"bad gateway"),
    response(200, b"not json"),
    response(200, json_body({"sessionToken": "a\nb"})),
    b"HTTP/1.1 200 OK\r\n\r\n" + json_body({"sessionToken": TOKEN}),
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
    b"nonsense\r\n\r\n",
    response(200, json_body({"sessionToken": TOKEN})) + b"trailing junk",
]


def outcome(ex: TokenExchange) -> object:
    if ex.error is not None:
        e = ex.error
        return (type(e), e.code, e.phase, e.http_status, e.message, e.server_code, e.raw_body)
    return ("token", ex.token) if ex.done else ("pending",)


def feed_in_pieces(ex: TokenExchange, data: bytes, cuts: list[int], eof: bool) -> None:
    edges = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    for start, end in itertools.pairwise(edges):
        if end > start:
            ex.receive_data(data[start:end])
    if eof:
        ex.receive_data(b"")


@settings(max_examples=300, deadline=None)
@given(
    data=st.sampled_from(SAMPLES),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    eof=st.booleans(),
    limit=st.sampled_from([30, 60, 90, 64 * 1024]),
)
def test_any_chunking_gives_the_same_outcome(
    data: bytes, cuts: list[int], eof: bool, limit: int
) -> None:
    whole = exchange(limit)
    feed_in_pieces(whole, data, [], eof)
    pieces = exchange(limit)
    feed_in_pieces(pieces, data, cuts, eof)
    assert outcome(pieces) == outcome(whole)
    if eof:
        assert pieces.done


prefixes = st.sampled_from(
    [b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]
)


@settings(max_examples=400, deadline=None)
@given(
    prefix=prefixes,
    junk=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    eof=st.booleans(),
)
def test_arbitrary_bytes_give_only_avatar_errors(
    prefix: bytes, junk: bytes, cuts: list[int], eof: bool
) -> None:
    ex = exchange(256)
    feed_in_pieces(ex, prefix + junk, cuts, eof)  # must not raise anything
    if eof:
        assert ex.done
    if ex.done:
        try:
            token = ex.token
        except AvatarError:
            assert ex.error is not None
        else:
            assert token
    else:
        with pytest.raises(LocalProtocolError):
            _ = ex.token
    assert_no_secrets(ex, API_KEY)


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(min_value=200, max_value=599),
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["errors", "status", "code", "id", "detail", "message", "sessionToken", "x"]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    ),
)
def test_any_json_body_gives_a_token_or_an_avatar_error(status: int, document: object) -> None:
    ex = run(response(status, json_body(document)))
    assert ex.done
    if ex.error is None:
        assert status == 200
        assert ex.token.isprintable() and ex.token.isascii()
    else:
        assert ex.error.phase is Phase.SESSION_TOKEN
