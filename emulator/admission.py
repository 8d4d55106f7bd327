"""Whether an ingress upgrade may proceed: path, app, token and avatar checks, each
refusal in the body and status the real service uses."""

from __future__ import annotations

from dataclasses import dataclass

from avatarwire.core.server import UpgradeRequested
from avatarwire.core.wire_constants import INGRESS_WEBSOCKET_PATH

from .settings import EmulatorSettings
from .tokens import TokenStore, TokenVerdict

_INVALID_TOKEN: dict[str, object] = {"message": "Invalid session token"}
_EXPIRED_TOKEN: dict[str, object] = {
    "errors": [{"code": "expired", "detail": "session token expired"}]
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP answer refusing the upgrade."""

    status: int
    body: dict[str, object]


def admit(
    upgrade: UpgradeRequested, settings: EmulatorSettings, tokens: TokenStore
) -> Refusal | None:
    """``None`` to accept the upgrade (its token is then used up), else the refusal."""
    if upgrade.path.rstrip("/") != INGRESS_WEBSOCKET_PATH:
        return Refusal(404, {"message": f"no route for {upgrade.path}"})
    if upgrade.app_id not in settings.apps.values():
        return Refusal(404, {"message": "app id unrecognized"})
    if upgrade.avatar_id not in settings.known_avatars:
        return Refusal(404, {"message": f"Avatar not found: {upgrade.avatar_id!r}"})
    verdict = tokens.redeem(upgrade.session_key, upgrade.app_id, now=settings.wall_clock())
    if verdict is TokenVerdict.VALID:
        return None
    if verdict is TokenVerdict.MISSING:
        return Refusal(400, {"message": "empty token: Invalid session token"})
    if verdict is TokenVerdict.EXPIRED:
        return Refusal(401, _EXPIRED_TOKEN)
    if verdict is TokenVerdict.APP_MISMATCH:
        return Refusal(400, {"message": "app id mismatch"})
    return Refusal(400, _INVALID_TOKEN)
