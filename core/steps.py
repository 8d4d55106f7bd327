"""The steps of opening a session, their time limits, and the errors that name them.

Bindings own the clocks and sockets; what a step is called, which protocol phase it
belongs to and what its failure is classified as are decided here, once, for all
of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from .errors import AvatarError, ConfigError, ErrorCode, Phase


class Step(str, Enum):
    """One step of a session's life that a binding waits on."""

    TOKEN = "token"
    TCP_CONNECT = "tcp_connect"
    PROXY_CONNECT = "proxy_connect"
    TLS = "tls"
    UPGRADE = "upgrade"
    HANDSHAKE = "handshake"
    SEND = "send"
    CLOSE = "close"

    def __str__(self) -> str:
        return self.value


#: The protocol phase each step belongs to (connect steps differ per leg: see below).
STEP_PHASE: dict[Step, Phase] = {
    Step.TOKEN: Phase.SESSION_TOKEN,
    Step.TCP_CONNECT: Phase.WEBSOCKET_CONNECT,
    Step.PROXY_CONNECT: Phase.WEBSOCKET_CONNECT,
    Step.TLS: Phase.WEBSOCKET_CONNECT,
    Step.UPGRADE: Phase.WEBSOCKET_CONNECT,
    Step.HANDSHAKE: Phase.WEBSOCKET_HANDSHAKE,
    Step.SEND: Phase.WEBSOCKET_SEND,
    Step.CLOSE: Phase.WEBSOCKET_RUNTIME,
}

_DESCRIPTION: dict[Step, str] = {
    Step.TOKEN: "fetching the session token",
    Step.TCP_CONNECT: "opening the TCP connection",
    Step.PROXY_CONNECT: "opening the tunnel through the proxy (HTTP CONNECT)",
    Step.TLS: "the TLS handshake",
    Step.UPGRADE: "the WebSocket upgrade",
    Step.HANDSHAKE: "the session handshake (configure / confirm)",
    Step.SEND: "sending (the server is not reading)",
    Step.CLOSE: "the closing handshake",
}


def check_seconds(name: str, value: object, *, optional: bool = False) -> None:
    """Refuse anything but a finite number of seconds > 0 (or ``None`` if optional)."""
    if value is None and optional:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        allowed = "a finite number of seconds > 0" + (", or None (off)" if optional else "")
        raise ConfigError(name, repr(value), f"expected {allowed}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each step may take before it fails with an error that names it."""

    token: float = 10.0
    tcp_connect: float = 10.0
    proxy_connect: float = 10.0
    tls: float = 10.0
    upgrade: float = 10.0
    handshake: float = 10.0
    send: float = 30.0
    close: float = 5.0

    def __post_init__(self) -> None:
        for step in Step:
            check_seconds(f"Timeouts.{step.value}", getattr(self, step.value))

    def of(self, step: Step) -> float:
        """The limit for one step."""
        value: float = getattr(self, step.value)
        return value


def _phase(step: Step, console: bool) -> Phase:
    return Phase.SESSION_TOKEN if console else STEP_PHASE[step]


def step_timed_out(
    step: Step, seconds: float, *, origin: str, console: bool = False
) -> AvatarError:
    """The error for a step that took longer than its limit."""
    code = ErrorCode.CONNECTION_FAILED if step is not Step.SEND else ErrorCode.CONNECTION_CLOSED
    return AvatarError(
        f"timed out after {seconds:g} s during {_DESCRIPTION[step]} with {origin}",
        code=code,
        phase=_phase(step, console),
    )


def step_failed(
    step: Step, exc: BaseException, *, origin: str, console: bool = False
) -> AvatarError:
    """The error for a step whose socket operation failed (refused, reset, bad certificate)."""
    detail = str(exc) or type(exc).__name__
    code = (
        ErrorCode.CONNECTION_FAILED
        if step in (Step.TOKEN, Step.TCP_CONNECT, Step.PROXY_CONNECT, Step.TLS, Step.UPGRADE)
        else ErrorCode.CONNECTION_CLOSED
    )
    return AvatarError(
        f"{_DESCRIPTION[step]} with {origin} failed: {detail}",
        code=code,
        phase=_phase(step, console),
    )
