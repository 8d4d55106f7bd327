"""HTTP pieces of the service role: reading a parsed request, writing a response,
checking and answering a WebSocket upgrade, and reading a token request body."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from urllib.parse import parse_qsl

import h11

from ..errors import LocalProtocolError, RemoteProtocolError
from ..wire_constants import (
    APP_ID_HEADER,
    APP_ID_QUERY,
    AVATAR_ID_QUERY,
    EXPIRE_AT_FIELD,
    SESSION_KEY_HEADER,
    SESSION_KEY_QUERY,
)
from .events import HttpRequestReceived, UpgradeRequested

#: RFC 6455's fixed GUID, mixed into the Sec-WebSocket-Accept hash.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Body = bytes | dict[str, object] | list[object]


class UpgradeRefused(Exception):
    """An upgrade request the core cannot accept; carries the HTTP status to answer."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def split_target(target: str) -> tuple[str, dict[str, str]]:
    """Path and query parameters of a request target (first value of a repeated key wins)."""
    target = target.partition("#")[0]
    if not target.startswith("/") and "://" in target:
        after_scheme = target.partition("://")[2]
        target = "/" + after_scheme.partition("/")[2]
    path, _, query_string = target.partition("?")
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(key, value)
    return path, query


def header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers as a dict with lower-case names; repeated headers joined with ", "."""
    result: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def is_websocket_upgrade(headers: Mapping[str, str]) -> bool:
    """Whether a request asks to switch to WebSocket (``Upgrade: websocket``)."""
    tokens = headers.get("upgrade", "").split(",")
    return any(token.strip().lower() == "websocket" for token in tokens)


def plain_request(request: h11.Request, body: bytes) -> HttpRequestReceived:
    """The event for a plain HTTP request."""
    target = request.target.decode("latin-1")
    path, query = split_target(target)
    return HttpRequestReceived(
        method=request.method.decode("latin-1"),
        target=target,
        path=path,
        query=query,
        headers=header_dict(request.headers),
        body=body,
    )


def upgrade_request(request: h11.Request) -> UpgradeRequested:
    """The event for a WebSocket upgrade; raises :class:`UpgradeRefused` if malformed."""
    headers = header_dict(request.headers)
    if request.method != b"GET":
        raise UpgradeRefused("a WebSocket upgrade must be a GET request", 400)
    connection = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    if "upgrade" not in connection:
        raise UpgradeRefused("a WebSocket upgrade needs 'Connection: Upgrade'", 400)
    if headers.get("sec-websocket-version", "").strip() != "13":
        raise UpgradeRefused("only WebSocket version 13 is supported", 426)
    if not headers.get("sec-websocket-key", "").strip():
        raise UpgradeRefused("a WebSocket upgrade needs a Sec-WebSocket-Key", 400)
    path, query = split_target(request.target.decode("latin-1"))
    header_key = headers.get(SESSION_KEY_HEADER.lower(), "")
    return UpgradeRequested(
        path=path,
        query=query,
        headers=headers,
        app_id=headers.get(APP_ID_HEADER.lower(), "") or query.get(APP_ID_QUERY, ""),
        session_key=header_key or query.get(SESSION_KEY_QUERY, ""),
        avatar_id=query.get(AVATAR_ID_QUERY, ""),
        query_auth=not header_key and bool(query.get(SESSION_KEY_QUERY)),
    )


def accept_response(websocket_key: str) -> bytes:
    """The ``101 Switching Protocols`` answer to an upgrade (no extensions, no subprotocol)."""
    digest = hashlib.sha1(websocket_key.strip().encode("latin-1") + _WEBSOCKET_GUID).digest()
    accept = base64.b64encode(digest).decode("ascii")
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
        "\r\n"
    ).encode("ascii")


def response_bytes(
    status: int,
    body: Body,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A complete HTTP/1.1 response that ends the connection (``Connection: close``)."""
    if not 200 <= status <= 599:
        raise LocalProtocolError(f"HTTP status must be 200..599, got {status}")
    if isinstance(body, (dict, list)):
        try:
            payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise LocalProtocolError(f"response body is not JSON-serializable: {exc}") from exc
    elif isinstance(body, (bytes, bytearray, memoryview)):
        payload = bytes(body)
    else:
        raise LocalProtocolError(f"response body must be bytes, dict or list, got {type(body)}")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    fields = [("Content-Type", content_type), *(headers or {}).items()]
    if any(char in text for pair in fields for text in pair for char in "\r\n\0"):
        raise LocalProtocolError("response header names and values must not contain CR, LF or NUL")
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{name}: {value}" for name, value in fields)]
    lines += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
    head = "\r\n".join(lines)
    try:
        return head.encode("latin-1") + payload
    except UnicodeEncodeError as exc:
        raise LocalProtocolError("response headers must be latin-1 text") from exc


def parse_token_request(body: bytes) -> int:
    """The ``expireAt`` (unix seconds) of a session-token request body.

    Raises :class:`RemoteProtocolError` when the body is not a JSON object with an
    integer ``expireAt``; whether the value is acceptable is the application's call.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RemoteProtocolError("token request body is not JSON") from exc
    if not isinstance(document, dict):
        raise RemoteProtocolError("token request body must be a JSON object")
    expire_at = document.get(EXPIRE_AT_FIELD)
    if isinstance(expire_at, bool) or not isinstance(expire_at, int):
        raise RemoteProtocolError("token request needs an integer expireAt (unix seconds)")
    return expire_at
