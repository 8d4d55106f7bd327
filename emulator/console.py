"""Answers to plain HTTP requests: the console's token routes (the primary one and the
older alias), the config service's environment lookup, and the emulator's own
``GET /emulator/egress``; error bodies in the service's shapes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avatarwire.core.errors import RemoteProtocolError
from avatarwire.core.server import HttpRequestReceived, parse_token_request
from avatarwire.core.wire_constants import (
    API_KEY_HEADER,
    CONFIG_SERVICE_PATH,
    TOKEN_ALIAS_PATH,
    TOKEN_FIELDS,
    TOKEN_PATH,
)

from .faults import CONSOLE_KINDS, FaultKind, first_of
from .settings import EmulatorSettings
from .tokens import MAX_TOKEN_LIFETIME, TokenStore

#: The emulator's own route: what egress sessions would have published.
EGRESS_PATH = "/emulator/egress"

#: ``errors[0]`` of the console's refusals per HTTP status: server code (a string, the
#: emulator's own spelling in the gRPC-gateway style of ``INVALID_ARGUMENT``), title,
#: and the detail used when a fault gives none. Section 3 of protocol.md maps the
#: statuses: 401 bad API key, 402 billing, 403 app id, 404 avatar, 429 concurrency.
CONSOLE_REFUSALS: dict[int, tuple[str, str, str]] = {
    400: ("INVALID_ARGUMENT", "Invalid Argument", "invalid request"),
    401: ("unauthorized", "Unauthorized", "invalid api key"),
    402: ("PAYMENT_REQUIRED", "Payment Required", "session denied: credits exhausted"),
    403: ("PERMISSION_DENIED", "Forbidden", "app id unrecognized"),
    404: ("NOT_FOUND", "Not Found", "avatar not found"),
    429: ("RESOURCE_EXHAUSTED", "Too Many Requests", "concurrency limit reached"),
    500: ("INTERNAL", "Internal", "internal error"),
    502: ("UNAVAILABLE", "Bad Gateway", "upstream unavailable"),
    503: ("UNAVAILABLE", "Service Unavailable", "upstream unavailable"),
    504: ("DEADLINE_EXCEEDED", "Gateway Timeout", "upstream timed out"),
}

Body = bytes | dict[str, object]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP response to send; ``hang`` means never answer."""

    status: int = 200
    body: Body = b""
    content_type: str = "application/json"
    hang: bool = False


def error_body(status: int, code: str, title: str, detail: str) -> dict[str, object]:
    """The console's ``{"errors": [...]}`` error shape."""
    error = {"id": str(uuid.uuid4()), "status": status, "code": code, "title": title}
    return {"errors": [{**error, "detail": detail}]}


def refusal_body(status: int, detail: str | None = None) -> dict[str, object]:
    """The console's error body for ``status`` (see :data:`CONSOLE_REFUSALS`)."""
    default = ("INTERNAL", "Internal", "internal error") if status >= 500 else None
    code, title, text = CONSOLE_REFUSALS.get(status) or default or CONSOLE_REFUSALS[400]
    return error_body(status, code, title, text if detail is None else detail)


def _invalid_argument(detail: str) -> HttpAnswer:
    return HttpAnswer(400, refusal_body(400, detail))


class Console:
    """Decides the answer to each plain HTTP request."""

    def __init__(
        self,
        settings: EmulatorSettings,
        tokens: TokenStore,
        egress_report: Callable[[], dict[str, Any]],
        origin: Callable[[], str] = lambda: "",
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._egress_report = egress_report
        self._origin = origin

    def answer(self, request: HttpRequestReceived) -> HttpAnswer:
        """The response to one request."""
        path = request.path.rstrip("/") or "/"
        if path in (TOKEN_PATH, TOKEN_ALIAS_PATH):
            if request.method != "POST":
                return HttpAnswer(405, {"message": "method not allowed: use POST"})
            return self._issue_token(request, alias=path == TOKEN_ALIAS_PATH)
        if path in (CONFIG_SERVICE_PATH, EGRESS_PATH):
            if request.method != "GET":
                return HttpAnswer(405, {"message": "method not allowed: use GET"})
            if path == CONFIG_SERVICE_PATH:
                return HttpAnswer(200, self._environments(request))
            return HttpAnswer(200, self._egress_report())
        return HttpAnswer(404, {"message": f"no route for {request.method} {path}"})

    def _environments(self, request: HttpRequestReceived) -> dict[str, object]:
        """The config service's answer: every environment name served by this emulator.

        The origin is the one the client reached (its ``Host`` header), so the answer
        stays right behind port forwarding; the emulator's own origin otherwise.
        """
        host = request.headers.get("host", "")
        scheme = "https" if self._settings.ssl_context else "http"
        origin = f"{scheme}://{host}" if host else self._origin()
        endpoints = {"api": origin, "driveningress": origin}
        return {"environments": {name: dict(endpoints) for name in self._settings.environments}}

    def _issue_token(self, request: HttpRequestReceived, *, alias: bool) -> HttpAnswer:
        fault = first_of(self._settings.faults_for(None), *CONSOLE_KINDS)
        if fault is not None:
            return _faulty_answer(fault.kind, fault.code, fault.text)
        header = API_KEY_HEADER.lower()
        app_id = self._settings.apps.get(request.headers.get(header, ""))
        if app_id is None:
            detail = "missing api key" if header not in request.headers else "invalid api key"
            return HttpAnswer(401, refusal_body(401, detail))
        try:
            expire_at = parse_token_request(request.body)
        except RemoteProtocolError as exc:
            return _invalid_argument(str(exc))
        now = self._settings.wall_clock()
        if expire_at <= now:
            return _invalid_argument("expire_at must be in the future")
        if expire_at > now + MAX_TOKEN_LIFETIME:
            return _invalid_argument("expire_at must be at most 24 hours in the future")
        token = self._tokens.issue(app_id, expire_at, now=now)
        # The older route answers both spellings (old callers read the older one).
        fields = TOKEN_FIELDS if alias else TOKEN_FIELDS[:1]
        return HttpAnswer(200, dict.fromkeys(fields, token))


def _faulty_answer(kind: FaultKind, status: int, text: str) -> HttpAnswer:
    if kind is FaultKind.TOKEN_HANG:
        return HttpAnswer(hang=True)
    if kind is FaultKind.TOKEN_GARBAGE:
        return HttpAnswer(200, b"<html>upstream proxy error</html>", content_type="text/html")
    return HttpAnswer(status, refusal_body(status, text or None))
