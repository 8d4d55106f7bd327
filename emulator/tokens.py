"""Session tokens: issued by the console for an app, single-use at the ingress."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum

#: The service's accepted token lifetime window, in seconds after "now".
MAX_TOKEN_LIFETIME = 24 * 60 * 60


class TokenVerdict(str, Enum):
    """What the ingress makes of a presented token."""

    VALID = "valid"
    MISSING = "missing"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    APP_MISMATCH = "app_mismatch"


@dataclass(slots=True)
class _Issued:
    app_id: str
    expire_at: int
    used: bool = False


class TokenStore:
    """Tokens this emulator issued; each opens at most one WebSocket connection."""

    def __init__(self) -> None:
        self._issued: dict[str, _Issued] = {}

    def __repr__(self) -> str:
        return f"<TokenStore issued={len(self._issued)}>"

    def issue(self, app_id: str, expire_at: int, *, now: float) -> str:
        """A new token for ``app_id`` valid until ``expire_at`` (unix seconds)."""
        self._forget_stale(now)
        token = "emu-" + secrets.token_urlsafe(24)
        self._issued[token] = _Issued(app_id, expire_at)
        return token

    def redeem(self, token: str, app_id: str, *, now: float) -> TokenVerdict:
        """Check a token presented with ``app_id``; a valid one is used up."""
        if not token:
            return TokenVerdict.MISSING
        issued = self._issued.get(token)
        if issued is None:
            return TokenVerdict.UNKNOWN
        if issued.used:
            return TokenVerdict.USED
        if now >= issued.expire_at:
            return TokenVerdict.EXPIRED
        if issued.app_id != app_id:
            return TokenVerdict.APP_MISMATCH
        issued.used = True
        return TokenVerdict.VALID

    def _forget_stale(self, now: float) -> None:
        """Drop tokens expired for a day, so a long-running emulator stays small."""
        if len(self._issued) < 10_000:
            return
        horizon = now - MAX_TOKEN_LIFETIME
        stale = [token for token, issued in self._issued.items() if issued.expire_at < horizon]
        for token in stale:
            del self._issued[token]
