"""The error classification table, row by row, and the shapes errors arrive in."""

from __future__ import annotations

import pytest

from avatarwire.core.errors import (
    AvatarError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
    Retry,
    classify,
    error_from_close,
    error_from_http,
    error_from_server_message,
    parse_error_body,
)

E = ErrorCode
RUNTIME = Phase.WEBSOCKET_RUNTIME


@pytest.mark.parametrize(
    ("server_code", "text", "expected"),
    [
        (3, "bad livekit url", E.INVALID_EGRESS_CONFIG),
        (3, "Agora channel is empty", E.INVALID_EGRESS_CONFIG),
        (3, "egress type mismatch", E.INVALID_EGRESS_CONFIG),
        (3, "sample rate is odd", E.INVALID_REQUEST),
        ("INVALID_ARGUMENT", "expire_at must be in the future", E.INVALID_REQUEST),
        (3, "credits exhausted", E.INVALID_REQUEST),  # the code rules come first
        (16, "unauthorized: invalid token", E.INVALID_EGRESS_CONFIG),
        ("UNAUTHENTICATED", "", E.INVALID_EGRESS_CONFIG),
        (14, "", E.EGRESS_UNAVAILABLE),
        ("UNAVAILABLE", "", E.EGRESS_UNAVAILABLE),
        (4001, "", E.CREDITS_EXHAUSTED),
        (4002, "", E.SESSION_DURATION_EXCEEDED),
        (4003, "", E.CONCURRENCY_LIMIT),
        (4010, "", E.SESSION_TOKEN_INVALID),
        (4503, "", E.UPSTREAM_ERROR),
    ],
)
def test_server_code_rules(server_code: int | str, text: str, expected: ErrorCode) -> None:
    assert classify(phase=RUNTIME, server_code=server_code, text=text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Credits Exhausted for this account", E.CREDITS_EXHAUSTED),
        ("session denied: credits exhausted", E.CREDITS_EXHAUSTED),
        ("session time limit reached", E.SESSION_DURATION_EXCEEDED),
        ("maximum session duration exceeded", E.SESSION_DURATION_EXCEEDED),
        ("session denied", E.BILLING_REQUIRED),
        ("Invalid session token", E.SESSION_TOKEN_INVALID),
        ("empty token", E.SESSION_TOKEN_INVALID),
        ("token is expired", E.SESSION_TOKEN_EXPIRED),
        ("session token expired", E.SESSION_TOKEN_EXPIRED),
        ("app id mismatch", E.APP_ID_MISMATCH),
        ("app id unrecognized", E.APP_ID_UNRECOGNIZED),
        ("Avatar not found", E.AVATAR_NOT_FOUND),
        ("unsupported sample rate: 11025", E.UNSUPPORTED_SAMPLE_RATE),
        ("livekit silence timeout", E.IDLE_TIMEOUT),
        ("no audio input for 60 seconds", E.IDLE_TIMEOUT),
        ("egress client is not configured on server", E.EGRESS_UNAVAILABLE),
        ("failed to create egress connection", E.EGRESS_UNAVAILABLE),
        ("driven server returned non-200 status code", E.UPSTREAM_ERROR),
        ("driven server request failed", E.UPSTREAM_ERROR),
        ("expected ClientConfigureSession message", E.PROTOCOL_ERROR),
        ("unexpected message type", E.PROTOCOL_ERROR),
        ("failed to unmarshal initial message", E.PROTOCOL_ERROR),
    ],
)
def test_text_rules_are_case_insensitive(text: str, expected: ErrorCode) -> None:
    assert classify(phase=RUNTIME, text=text) is expected
    assert classify(phase=RUNTIME, server_code=0 or None, text=text.upper()) is expected


@pytest.mark.parametrize(
    ("status", "phase", "text", "expected"),
    [
        (401, Phase.SESSION_TOKEN, "", E.SESSION_TOKEN_EXPIRED),
        (404, Phase.WEBSOCKET_CONNECT, "", E.APP_ID_UNRECOGNIZED),
        (404, Phase.WEBSOCKET_CONNECT, "Avatar not found", E.AVATAR_NOT_FOUND),
        (402, Phase.WEBSOCKET_CONNECT, "", E.BILLING_REQUIRED),
        (400, Phase.WEBSOCKET_CONNECT, "app id mismatch", E.APP_ID_MISMATCH),
        (400, Phase.WEBSOCKET_CONNECT, "", E.SESSION_TOKEN_INVALID),
        (400, Phase.SESSION_TOKEN, "", E.INVALID_REQUEST),
        (403, Phase.WEBSOCKET_CONNECT, "", E.INVALID_REQUEST),
        (429, Phase.SESSION_TOKEN, "", E.INVALID_REQUEST),
        (500, Phase.SESSION_TOKEN, "", E.SERVER_ERROR),
        (503, Phase.WEBSOCKET_CONNECT, "", E.SERVER_ERROR),
        (302, Phase.WEBSOCKET_CONNECT, "", E.UNKNOWN),
    ],
)
def test_http_status_rules(status: int, phase: Phase, text: str, expected: ErrorCode) -> None:
    assert classify(phase=phase, http_status=status, text=text) is expected


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (Phase.WEBSOCKET_HANDSHAKE, E.SERVER_ERROR),
        (Phase.WEBSOCKET_RUNTIME, E.SERVER_ERROR),
        (Phase.WEBSOCKET_SEND, E.SERVER_ERROR),
        (Phase.SESSION_TOKEN, E.UNKNOWN),
        (Phase.WEBSOCKET_CONNECT, E.UNKNOWN),
    ],
)
def test_otherwise_server_error_on_the_socket_and_unknown_elsewhere(
    phase: Phase, expected: ErrorCode
) -> None:
    assert classify(phase=phase, text="something odd") is expected


def test_every_code_of_the_protocol_is_defined() -> None:
    names = {code.value for code in ErrorCode}
    assert names == {
        "sessionTokenExpired", "sessionTokenInvalid", "appIDUnrecognized", "appIDMismatch",
        "avatarNotFound", "billingRequired", "creditsExhausted", "sessionDurationExceeded",
        "unsupportedSampleRate", "invalidEgressConfig", "egressUnavailable", "idleTimeout",
        "upstreamError", "invalidRequest", "connectionFailed", "connectionClosed",
        "protocolError", "serverError", "unknown", "concurrencyLimit",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            b'{"errors": [{"id": "e1", "status": 400, "code": "INVALID_ARGUMENT",'
            b' "title": "Invalid Argument", "detail": "expire_at must be in the future"}]}',
            {"status": 400, "code": "INVALID_ARGUMENT", "title": "Invalid Argument",
             "detail": "expire_at must be in the future"},
        ),
        (
            b'{"errors": [{"id": "not-found", "message": "gone"}]}',
            {"status": None, "code": "not-found", "title": None, "detail": "gone"},
        ),
        (
            b'{"status": 404, "error": "NOT_FOUND", "title": "Not Found", "message": "x"}',
            {"status": 404, "code": "NOT_FOUND", "title": "Not Found", "detail": "x"},
        ),
        (b'{"message": "Invalid session token"}',
         {"status": None, "code": None, "title": None, "detail": "Invalid session token"}),
        (b"plain text", {}),
        (b"", {}),
        (b"[1, 2]", {}),
        (b'{"errors": ["not an object"]}', {}),
        (b"\xff\xfe", {}),
    ],
)  # fmt: skip
def test_both_body_shapes_are_read(body: bytes, fields: dict[str, object]) -> None:
    assert parse_error_body(body) == fields


def test_error_from_http_takes_the_status_from_the_errors_list() -> None:
    body = b'{"errors": [{"status": 402, "code": "x", "detail": "pay up"}]}'
    error = error_from_http(200, body, phase=Phase.SESSION_TOKEN)
    assert error.http_status == 402
    assert error.code is E.BILLING_REQUIRED
    assert error.server_detail == "pay up"
    assert error.raw_body == body
    assert "pay up" in str(error) and "HTTP 402" in str(error)


def test_error_from_http_with_plain_text_keeps_it_in_the_message() -> None:
    error = error_from_http(503, b"upstream down\n", phase=Phase.WEBSOCKET_CONNECT)
    assert error.code is E.CONNECTION_FAILED
    assert error.message == "HTTP 503: upstream down"


def test_server_message_with_code_zero_is_classified_by_text() -> None:
    error = error_from_server_message(
        0, "Avatar not found", phase=RUNTIME, connection_id="c", req_id="r"
    )
    assert error.code is E.AVATAR_NOT_FOUND
    assert error.official_code is E.SERVER_ERROR
    assert error.server_code == "0"
    assert error.close_code is None
    assert (error.connection_id, error.req_id) == ("c", "r")


@pytest.mark.parametrize(
    ("code", "expected", "retry"),
    [
        (4001, E.CREDITS_EXHAUSTED, Retry.NO),
        (4002, E.SESSION_DURATION_EXCEEDED, Retry.NEW_SESSION),
        (4003, E.CONCURRENCY_LIMIT, Retry.LATER),
        (4010, E.SESSION_TOKEN_INVALID, Retry.NEW_TOKEN),
        (4503, E.UPSTREAM_ERROR, Retry.BACKOFF),
        (4000, E.CONNECTION_CLOSED, Retry.NO),
        (4499, E.CONNECTION_CLOSED, Retry.NO),
        (4500, E.CONNECTION_CLOSED, Retry.BACKOFF),
        (4999, E.CONNECTION_CLOSED, Retry.BACKOFF),
        (1011, E.CONNECTION_CLOSED, Retry.BACKOFF),
        (None, E.CONNECTION_CLOSED, Retry.BACKOFF),
    ],
)
def test_close_codes(code: int | None, expected: ErrorCode, retry: Retry) -> None:
    error = error_from_close(code, "why", phase=RUNTIME)
    assert error is not None
    assert error.code is expected
    assert error.retry is retry
    assert error.retryable is (retry is not Retry.NO)
    assert error.close_code == code


@pytest.mark.parametrize("code", [1000, 1001])
def test_normal_closes_are_not_errors(code: int) -> None:
    assert error_from_close(code, "", phase=RUNTIME) is None


def test_a_refused_api_key_is_not_retryable_though_its_code_says_new_token() -> None:
    error = error_from_http(401, b"", phase=Phase.SESSION_TOKEN)
    assert error.code is E.SESSION_TOKEN_INVALID
    assert error.retry is Retry.NO
    upgrade = error_from_http(401, b"", phase=Phase.WEBSOCKET_CONNECT)
    assert upgrade.code is E.SESSION_TOKEN_INVALID
    assert upgrade.retry is Retry.NEW_TOKEN


def test_local_and_remote_errors_default_their_codes() -> None:
    assert LocalProtocolError("x").code is E.INVALID_REQUEST
    assert RemoteProtocolError("y").code is E.PROTOCOL_ERROR
    assert isinstance(LocalProtocolError("x"), AvatarError)
    assert "protocolError" in repr(RemoteProtocolError("y"))


# --- today's contract (protocol.md section 3) ------------------------------------------

#: close code -> (code, our retry advice, the official SDK's retryable)
CONTRACT_ROWS = [
    (4001, E.CREDITS_EXHAUSTED, Retry.NO, False),
    (4002, E.SESSION_DURATION_EXCEEDED, Retry.NEW_SESSION, True),
    (4003, E.CONCURRENCY_LIMIT, Retry.LATER, False),
    (4010, E.SESSION_TOKEN_INVALID, Retry.NEW_TOKEN, False),
    (4503, E.UPSTREAM_ERROR, Retry.BACKOFF, True),
    (4004, E.CONNECTION_CLOSED, Retry.NO, False),
    (4600, E.CONNECTION_CLOSED, Retry.BACKOFF, True),
]


@pytest.mark.parametrize(("close_code", "expected", "retry", "official"), CONTRACT_ROWS)
def test_a_contract_code_means_the_same_in_a_server_error_and_a_close_frame(
    close_code: int, expected: ErrorCode, retry: Retry, official: bool
) -> None:
    relayed = error_from_server_message(
        close_code, "whatever the text says", phase=RUNTIME, connection_id="c", req_id=""
    )
    closed = error_from_close(close_code, "bye", phase=RUNTIME)
    assert closed is not None
    for error in (relayed, closed):
        assert (error.code, error.official_code, error.close_code) == (
            expected,
            expected,
            close_code,
        )
        assert (error.retry, error.official_retryable) == (retry, official)
    assert relayed.server_code == str(close_code)


@pytest.mark.parametrize(
    ("code", "text", "retry"),
    [
        (14, "inference server Animate failed", Retry.BACKOFF),
        (13, "internal", Retry.BACKOFF),
        (3, "bad livekit url", Retry.NO),
        (16, "unauthorized: invalid token", Retry.NO),
        (3999, "credits exhausted", Retry.BACKOFF),  # a code outranks the text
        (5000, "", Retry.BACKOFF),
        (-1, "", Retry.BACKOFF),
    ],
)
def test_any_other_server_code_is_a_server_error_without_a_close_code(
    code: int, text: str, retry: Retry
) -> None:
    error = error_from_server_message(code, text, phase=RUNTIME, connection_id=None, req_id="r")
    assert (error.code, error.official_code) == (E.SERVER_ERROR, E.SERVER_ERROR)
    assert error.server_code == str(code)
    assert isinstance(error.server_code, str)
    assert error.close_code is None
    assert error.retry is retry
    assert error.official_retryable is False


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, E.SESSION_TOKEN_INVALID),
        (402, E.BILLING_REQUIRED),
        (403, E.APP_ID_UNRECOGNIZED),
        (404, E.AVATAR_NOT_FOUND),
        (429, E.CONCURRENCY_LIMIT),
        (400, E.INVALID_REQUEST),
        (409, E.INVALID_REQUEST),
        (500, E.SERVER_ERROR),
        (503, E.SERVER_ERROR),
        (302, E.INVALID_REQUEST),
    ],
)
def test_console_status_mapping(status: int, expected: ErrorCode) -> None:
    body = b'{"errors": [{"code": "some_code", "title": "T", "detail": "D"}]}'
    error = error_from_http(status, body, phase=Phase.SESSION_TOKEN)
    assert (error.code, error.official_code) == (expected, expected)
    assert (error.server_code, error.server_detail, error.server_title) == ("some_code", "D", "T")


def test_console_detail_falls_back_to_title_and_a_numeric_code_becomes_a_string() -> None:
    error = error_from_http(
        500, b'{"errors": [{"code": 13, "title": "Internal"}]}', phase=Phase.SESSION_TOKEN
    )
    assert error.server_code == "13"
    assert "Internal" in error.message


@pytest.mark.parametrize(
    ("status", "body", "expected", "official", "retry"),
    [
        (401, b"", E.SESSION_TOKEN_INVALID, E.SESSION_TOKEN_INVALID, Retry.NEW_TOKEN),
        (403, b"", E.SESSION_TOKEN_INVALID, E.SESSION_TOKEN_INVALID, Retry.NEW_TOKEN),
        (404, b"Avatar not found", E.AVATAR_NOT_FOUND, E.CONNECTION_FAILED, Retry.NO),
        (404, b"", E.CONNECTION_FAILED, E.CONNECTION_FAILED, Retry.NO),
        (429, b"", E.CONNECTION_FAILED, E.CONNECTION_FAILED, Retry.BACKOFF),
        (502, b"bad gateway", E.CONNECTION_FAILED, E.CONNECTION_FAILED, Retry.BACKOFF),
        (
            401,
            b'{"errors":[{"code":"expired","detail":"session token expired"}]}',
            E.SESSION_TOKEN_EXPIRED,
            E.SESSION_TOKEN_INVALID,
            Retry.NEW_TOKEN,
        ),
    ],
)
def test_refused_upgrades(
    status: int, body: bytes, expected: ErrorCode, official: ErrorCode, retry: Retry
) -> None:
    error = error_from_http(status, body, phase=Phase.WEBSOCKET_CONNECT)
    assert (error.code, error.official_code, error.retry) == (expected, official, retry)
    assert error.official_retryable is (official is E.CONNECTION_FAILED)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (E.CONNECTION_FAILED, True),
        (E.CONNECTION_CLOSED, True),
        (E.UPSTREAM_ERROR, True),
        (E.SERVER_ERROR, False),
        (E.PROTOCOL_ERROR, False),
        (E.SESSION_TOKEN_EXPIRED, False),
    ],
)
def test_official_retryable_without_a_close_code_follows_the_code(
    code: ErrorCode, retryable: bool
) -> None:
    assert AvatarError("x", code=code).official_retryable is retryable
