"""What an emulator instance accepts and how it behaves: one immutable record."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from avatarwire.core.wire_constants import (
    CAPABILITY_PLAYBACK_CONTROL,
    CAPABILITY_PLAYBACK_STATE,
    MAX_MESSAGE_SIZE,
)

from .faults import Fault

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_APP_ID = "emulator-app"
DEFAULT_AVATAR_ID = "emulator-avatar"
DEFAULT_CAPABILITIES = (CAPABILITY_PLAYBACK_CONTROL, CAPABILITY_PLAYBACK_STATE)
#: Environment names the emulator's config-service route (``GET /sdk``) resolves to itself.
DEFAULT_ENVIRONMENTS = ("us-west", "emulator")

#: Key of :attr:`EmulatorSettings.faults` whose faults apply to every avatar.
ANY_AVATAR = "*"


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """Credentials, cadence, limits and faults of one emulator.

    ``extra_apps`` maps further API keys to their app ids (tokens are bound to the
    app of the key that fetched them). ``faults`` maps an avatar id (or
    :data:`ANY_AVATAR`) to the faults its sessions suffer, ``avatar_capabilities``
    an avatar id to the capabilities its sessions declare instead of
    ``capabilities`` (``()``: an older server); avatars named in either are known
    avatars too. ``environments`` are the names ``GET /sdk`` resolves to this
    emulator.

    Egress playout: each drained request gets an end control frame, twice with
    ``repeat_drain_end``; with ``drain_end_without_req_id`` the last of them carries an
    empty ``req_id`` (the service does both). ``preempt``: audio of a new request
    interrupts the unfinished older ones (INTERRUPTED, reason ``preempted``) instead of
    queueing behind them. A pause held longer than ``pause_timeout`` seconds drops the
    request (INTERRUPTED, reason ``pause_timeout``).

    ``wall_clock`` gives unix seconds (injectable so token expiry can be tested
    without waiting).
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = DEFAULT_API_KEY
    app_id: str = DEFAULT_APP_ID
    avatar_ids: tuple[str, ...] = (DEFAULT_AVATAR_ID,)
    extra_apps: Mapping[str, str] = field(default_factory=dict)
    keyframes_per_second: int = 25
    keyframes_per_message: int = 1
    realtime: bool = True
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    avatar_capabilities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    idle_timeout: float = 60.0
    pause_timeout: float = 30.0
    repeat_drain_end: bool = True
    drain_end_without_req_id: bool = False
    preempt: bool = False
    rejected_livekit_tokens: frozenset[str] = frozenset({"invalid", "invalid-token"})
    max_message_size: int = MAX_MESSAGE_SIZE
    faults: Mapping[str, tuple[Fault, ...]] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None
    wall_clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if not self.avatar_ids:
            raise ValueError("avatar_ids: give at least one avatar id")
        if self.keyframes_per_second <= 0:
            raise ValueError(f"keyframes_per_second must be > 0, got {self.keyframes_per_second}")
        if self.keyframes_per_message <= 0:
            raise ValueError(f"keyframes_per_message must be > 0, got {self.keyframes_per_message}")
        if self.idle_timeout <= 0 or self.pause_timeout <= 0:
            raise ValueError("idle_timeout and pause_timeout must be > 0 seconds")

    @property
    def apps(self) -> dict[str, str]:
        """Every accepted API key with the app id it belongs to."""
        return {**self.extra_apps, self.api_key: self.app_id}

    @property
    def known_avatars(self) -> frozenset[str]:
        """Avatar ids the ingress accepts: the configured ones and those given faults."""
        named = {*self.faults, *self.avatar_capabilities} - {ANY_AVATAR}
        return frozenset(self.avatar_ids) | named

    def capabilities_for(self, avatar_id: str) -> tuple[str, ...]:
        """The capabilities a session of ``avatar_id`` declares in its confirm."""
        return tuple(self.avatar_capabilities.get(avatar_id, self.capabilities))

    def faults_for(self, avatar_id: str | None) -> tuple[Fault, ...]:
        """Faults that apply to a session of ``avatar_id`` (``None``: instance-wide only)."""
        shared = self.faults.get(ANY_AVATAR, ())
        if avatar_id is None or avatar_id == ANY_AVATAR:
            return shared
        return shared + self.faults.get(avatar_id, ())
