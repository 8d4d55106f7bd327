"""Where a named environment (``us-west``...) lives: built-in presets, and the
config service's answer when a binding fetched it.

Callers name an environment instead of writing URLs. Today's service publishes
its environments at :data:`CONFIG_SERVICE_URL`; a binding asks once per process
(:class:`EnvironmentLookup` is that request, sans-IO) and falls back to
:data:`BUILTIN_ENVIRONMENTS` on any failure. An environment neither knows is a
:class:`~avatarwire.core.errors.ConfigError` listing the known names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .endpoints import Endpoint, parse_endpoint
from .errors import ConfigError, Phase
from .http_exchange import HttpExchange
from .wire_constants import CONFIG_SERVICE_PATH, INGRESS_PATH

__all__ = [
    "BUILTIN_ENVIRONMENTS",
    "CONFIG_SERVICE_TIMEOUT",
    "CONFIG_SERVICE_URL",
    "DEFAULT_ENVIRONMENT",
    "INGRESS_PATH",
    "Environment",
    "EnvironmentLookup",
    "resolve_environment",
]

CONFIG_SERVICE_URL = "https://config.spatialreal.cloud" + CONFIG_SERVICE_PATH
#: Seconds a binding gives the lookup before using the presets.
CONFIG_SERVICE_TIMEOUT = 3.0
DEFAULT_ENVIRONMENT = "us-west"


@dataclass(frozen=True, slots=True)
class Environment:
    """The origins of one environment: the API root (tokens) and the ingress origin."""

    api: str
    driveningress: str

    @property
    def ingress_url(self) -> str:
        """The ingress base URL: the origin plus ``/v2/driveningress``."""
        return self.driveningress.rstrip("/") + INGRESS_PATH


#: Public environments, used when the config service cannot be read.
BUILTIN_ENVIRONMENTS: Mapping[str, Environment] = {
    "us-west": Environment(
        api="https://api.spatialreal.cloud",
        driveningress="https://driven.us-west.spatialreal.cloud",
    ),
}


def resolve_environment(
    name: str, fetched: Mapping[str, Mapping[str, str]] | None = None
) -> Environment:
    """The endpoints of ``name``: the config service's where it gave them, else the
    preset's, field by field; a name neither knows is a :class:`ConfigError`."""
    fetched = fetched or {}
    preset = BUILTIN_ENVIRONMENTS.get(name)
    remote = fetched.get(name) or {}
    api = remote.get("api") or (preset.api if preset else "")
    ingress = remote.get("driveningress") or (preset.driveningress if preset else "")
    if not api or not ingress:
        known = ", ".join(repr(n) for n in sorted({*BUILTIN_ENVIRONMENTS, *fetched}))
        raise ConfigError(
            "environment",
            repr(name),
            f"known environments: {known} (or give console_url and ingress_url)",
        )
    return Environment(api=api, driveningress=ingress)


def _environments(document: object) -> dict[str, dict[str, str]]:
    """The usable entries of a config-service answer (anything malformed is left out)."""
    if not isinstance(document, dict):
        return {}
    entries = document.get("environments")
    if not isinstance(entries, dict):
        return {}
    found: dict[str, dict[str, str]] = {}
    for name, entry in entries.items():
        if isinstance(name, str) and isinstance(entry, dict):
            urls = {
                key: value
                for key in ("api", "driveningress")
                if isinstance(value := entry.get(key), str) and value
            }
            if urls:
                found[name] = urls
    return found


class EnvironmentLookup(HttpExchange):
    """``GET`` the config service's environments. Any failure leaves
    :attr:`environments` empty: the caller then uses the presets."""

    def __init__(self, url: str = CONFIG_SERVICE_URL, *, max_response_size: int = 64 * 1024):
        self.endpoint: Endpoint = parse_endpoint(url, field="config_service_url", websocket=False)
        self.environments: dict[str, dict[str, str]] = {}
        super().__init__(
            self.endpoint,
            "GET",
            (),
            phase=Phase.SESSION_TOKEN,
            max_response_size=max_response_size,
        )

    def _finish(self, status: int, body: bytes) -> None:
        if status == 200:
            try:
                self.environments = _environments(json.loads(body.decode("utf-8")))
            except (UnicodeDecodeError, ValueError, RecursionError):
                self.environments = {}
        self._succeed()
