"""The console leg, client role: trade the API key for a session token over HTTP/1.1.

Sans-IO over h11: the POST is queued at construction, response bytes go in with
:meth:`TokenExchange.receive_data` in any chunking, and the outcome is a token or an
:class:`~avatarwire.core.errors.AvatarError`. Only this package's errors ever leave
it; the API key and the token never appear in an error message or a repr.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .endpoints import Endpoint
from .errors import (
    AvatarError,
    ConfigError,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
    error_from_http,
)
from .http_exchange import ExchangeState as TokenExchangeState
from .http_exchange import HttpExchange
from .wire_constants import API_KEY_HEADER, EXPIRE_AT_FIELD, TOKEN_FIELDS

__all__ = ["TOKEN_KEYS", "TokenExchange", "TokenExchangeState"]

#: Response keys that carry the token (newer and older backends).
TOKEN_KEYS = TOKEN_FIELDS

_PHASE = Phase.SESSION_TOKEN


def _is_header_safe(value: str) -> bool:
    """Printable ASCII with no surrounding spaces: survives a header unchanged."""
    return bool(value) and value == value.strip(" ") and all(" " <= ch <= "~" for ch in value)


class TokenExchange(HttpExchange):
    """Client side of ``POST {api root}/v1/auth/session-token``: queue it, read the answer.

    Outcomes, all with phase ``SESSION_TOKEN``: EOF before the response ends is
    ``connectionClosed`` (the request may have been served: retry with backoff);
    malformed HTTP, a 101, a response over ``max_response_size`` bytes or a 200
    without a usable token is a ``RemoteProtocolError``; a refusal is named by its
    HTTP status (:func:`~avatarwire.core.errors.error_from_http`).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        api_key: str,
        expire_at: int,
        *,
        max_response_size: int = 64 * 1024,
    ) -> None:
        if not isinstance(api_key, str) or not _is_header_safe(api_key):
            given = "an empty value" if not api_key else "a value that is not header-safe"
            raise ConfigError("api_key", given, "printable ASCII with no surrounding spaces")
        if not isinstance(expire_at, int) or isinstance(expire_at, bool) or expire_at <= 0:
            raise ConfigError("expire_at", repr(expire_at), "unix seconds as a positive int")
        self._token: str | None = None
        body = json.dumps({EXPIRE_AT_FIELD: expire_at}, separators=(",", ":")).encode("ascii")
        headers = [("Content-Type", "application/json"), (API_KEY_HEADER, api_key)]
        super().__init__(
            endpoint,
            "POST",
            headers,
            body,
            phase=_PHASE,
            secrets=(api_key,),
            max_response_size=max_response_size,
        )

    @property
    def token(self) -> str:
        """The session token; raises the exchange's error if it failed, or if not done yet."""
        if self._token is not None:
            return self._token
        if self.error is not None:
            raise self.error
        raise LocalProtocolError("no session token yet: the response is not complete", phase=_PHASE)

    def _finish(self, status: int, body: bytes) -> None:
        if status != 200:
            self._fail(error_from_http(status, body, phase=_PHASE))
            return
        document = _json_object(body)
        candidate = _token_candidate(document) if document is not None else None
        errors = document.get("errors") if document is not None else None
        if isinstance(errors, list) and errors:
            self._fail(error_from_http(200, body, phase=_PHASE), token=candidate)
        elif candidate is None:
            what = "no session token" if document is not None else "a body that is not JSON"
            self._fail(
                RemoteProtocolError(
                    f"HTTP 200 with {what}", phase=_PHASE, http_status=200, raw_body=body
                )
            )
        elif not _is_header_safe(candidate):
            self._fail(
                RemoteProtocolError(
                    "HTTP 200 with a session token that is not printable ASCII "
                    "(control characters or surrounding spaces)",
                    phase=_PHASE,
                    http_status=200,
                ),
                token=candidate,
            )
        else:
            self._token = candidate
            self._succeed()

    def _fail(
        self, error: AvatarError, *, secrets: Iterable[str | None] = (), token: str | None = None
    ) -> None:
        if token is not None:
            error.raw_body = None  # it holds the token, perhaps escaped beyond recognition
        super()._fail(error, secrets=(*secrets, token))


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` if it is anything else."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _token_candidate(document: dict[str, Any]) -> str | None:
    """The first non-empty string under a token key, before any validation."""
    for key in TOKEN_KEYS:
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    return None
