"""Answers to plain HTTP requests: the console's token endpoint and the emulator's
own ``GET /emulator/egress``; error bodies in the service's shapes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avatarwire.core.errors import RemoteProtocolError
from avatarwire.core.server import HttpRequestReceived, parse_token_request

from .faults import CONSOLE_KINDS, FaultKind, first_of
from .settings import EmulatorSettings
from .tokens import MAX_TOKEN_LIFETIME, TokenStore

TOKEN_PATH = "/v1/console/session-tokens"
EGRESS_PATH = "/emulator/egress"

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


def _invalid_argument(detail: str) -> HttpAnswer:
    return HttpAnswer(400, error_body(400, "INVALID_ARGUMENT", "Invalid Argument", detail))


class Console:
    """Decides the answer to each plain HTTP request."""

    def __init__(
        self,
        settings: EmulatorSettings,
        tokens: TokenStore,
        egress_report: Callable[[], dict[str, Any]],
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._egress_report = egress_report

    def answer(self, request: HttpRequestReceived) -> HttpAnswer:
        """The response to one request."""
        path = request.path.rstrip("/") or "/"
        if path == TOKEN_PATH:
            if request.method != "POST":
                return HttpAnswer(405, {"message": "method not allowed: use POST"})
            return self._issue_token(request)
        if path == EGRESS_PATH:
            if request.method != "GET":
                return HttpAnswer(405, {"message": "method not allowed: use GET"})
            return HttpAnswer(200, self._egress_report())
        return HttpAnswer(404, {"message": f"no route for {request.method} {path}"})

    def _issue_token(self, request: HttpRequestReceived) -> HttpAnswer:
        fault = first_of(self._settings.faults_for(None), *CONSOLE_KINDS)
        if fault is not None:
            return _faulty_answer(fault.kind, fault.code, fault.text)
        app_id = self._settings.apps.get(request.headers.get("x-api-key", ""))
        if app_id is None:
            detail = "missing api key" if "x-api-key" not in request.headers else "invalid api key"
            body = error_body(401, "unauthorized", "Unauthorized", detail)
            return HttpAnswer(401, body)
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
        return HttpAnswer(200, {"sessionToken": token})


def _faulty_answer(kind: FaultKind, status: int, text: str) -> HttpAnswer:
    if kind is FaultKind.TOKEN_HANG:
        return HttpAnswer(hang=True)
    if kind is FaultKind.TOKEN_GARBAGE:
        return HttpAnswer(200, b"<html>upstream proxy error</html>", content_type="text/html")
    return HttpAnswer(status, error_body(status, "INTERNAL", "Internal", text))
