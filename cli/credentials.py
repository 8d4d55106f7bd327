"""Where the service credentials and endpoints come from: flags first, then the
``AVATARKIT_*`` environment variables, then their ``SPATIALREAL_*`` fallbacks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from avatarwire.core.config import mask_secret

__all__ = ["CREDENTIAL_FIELDS", "Credentials", "MissingCredentials", "resolve_credentials"]

#: Field name -> (flag, environment variable suffix). Endpoints are optional.
CREDENTIAL_FIELDS: Mapping[str, tuple[str, str]] = {
    "api_key": ("--api-key", "API_KEY"),
    "app_id": ("--app-id", "APP_ID"),
    "avatar_id": ("--avatar-id", "AVATAR_ID"),
    "console_url": ("--console-endpoint", "CONSOLE_ENDPOINT"),
    "ingress_url": ("--ingress-endpoint", "INGRESS_ENDPOINT"),
    "region": ("--region", "REGION"),
}
REQUIRED = ("api_key", "app_id", "avatar_id")
ENV_PREFIXES = ("AVATARKIT_", "SPATIALREAL_")


class MissingCredentials(ValueError):
    """Some credentials were given but not all that a session needs."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What identifies us to the service; the API key never shows in a repr."""

    api_key: str = field(repr=False)
    app_id: str
    avatar_id: str
    console_url: str | None = None
    ingress_url: str | None = None
    region: str | None = None

    def __repr__(self) -> str:
        return (
            f"Credentials(api_key={mask_secret(self.api_key)}, app_id={self.app_id!r}, "
            f"avatar_id={self.avatar_id!r}, console_url={self.console_url!r}, "
            f"ingress_url={self.ingress_url!r}, region={self.region!r})"
        )


def env_names(suffix: str) -> tuple[str, ...]:
    """The environment variables read for one field, in order of preference."""
    return tuple(prefix + suffix for prefix in ENV_PREFIXES)


def _lookup(name: str, flags: Mapping[str, str | None], environ: Mapping[str, str]) -> str | None:
    given = flags.get(name)
    if given:
        return given
    for variable in env_names(CREDENTIAL_FIELDS[name][1]):
        value = environ.get(variable)
        if value:
            return value
    return None


def resolve_credentials(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    *,
    required: tuple[str, ...] = REQUIRED,
) -> Credentials | None:
    """The credentials from ``flags`` (by field name) and ``environ``.

    ``None`` when nothing at all is given (the caller may then use the emulator);
    :class:`MissingCredentials`, naming the flags and variables, when one of
    ``required`` is missing. Fields not required may come back empty.
    """
    values = {name: _lookup(name, flags, environ) for name in CREDENTIAL_FIELDS}
    if not any(value for name, value in values.items() if name != "region"):
        return None  # a region alone identifies no one
    missing = [name for name in required if not values[name]]
    if missing:
        wanted = "; ".join(
            f"{CREDENTIAL_FIELDS[name][0]} or {' / '.join(env_names(CREDENTIAL_FIELDS[name][1]))}"
            for name in missing
        )
        raise MissingCredentials(f"missing credential: {wanted}")
    return Credentials(
        api_key=values["api_key"] or "",
        app_id=values["app_id"] or "",
        avatar_id=values["avatar_id"] or "",
        console_url=values["console_url"],
        ingress_url=values["ingress_url"],
        region=values["region"],
    )
