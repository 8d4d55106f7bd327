"""avatarwire: a sans-IO client for the AvatarKit real-time avatar service.

Everything an application needs is here::

    import avatarwire

    async with avatarwire.connect(config) as session:  # asyncio
        ...

``avatarwire.trio.connect`` and ``avatarwire.blocking.connect`` are the same call
for trio and for plain blocking sockets. The protocol lives in ``avatarwire.core``;
``avatarwire.bindings`` gives it sockets; ``avatarwire.emulator`` is a local service.
Importing this package loads only the core's records: the bindings and the
emulator are imported on first use.

This folder holds only the package root and the short per-binding modules: the
subpackages are the repository's top-level folders, linked here so type checkers
and a plain checkout see them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from avatarwire.core.config import AgoraEgress, AudioFormat, LiveKitEgress, SessionConfig
from avatarwire.core.errors import (
    AvatarError,
    ConfigError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
    Retry,
)
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.retry import RetryPolicy
from avatarwire.core.steps import Timeouts

if TYPE_CHECKING:
    from avatarwire import asyncio, blocking, trio
    from avatarwire.bindings._common import ConnectOptions, RetryCallback
    from avatarwire.bindings.asyncio import connect
    from avatarwire.bindings.opening import ConnectKeywords
    from avatarwire.bindings.session import Session, SessionView, SyncSession
    from avatarwire.emulator import Emulator, EmulatorThread, Fault

__version__ = "0.1.0"

__all__ = [
    "AgoraEgress",
    "AnimationFrame",
    "AudioFormat",
    "AvatarError",
    "ConfigError",
    "ConnectKeywords",
    "ConnectOptions",
    "Emulator",
    "EmulatorThread",
    "ErrorCode",
    "Event",
    "Fault",
    "LiveKitEgress",
    "LocalProtocolError",
    "Phase",
    "PlaybackState",
    "PlaybackStateKind",
    "RemoteProtocolError",
    "RequestFinished",
    "Retry",
    "RetryCallback",
    "RetryPolicy",
    "ServerError",
    "Session",
    "SessionClosed",
    "SessionConfig",
    "SessionReady",
    "SessionView",
    "SyncSession",
    "Timeouts",
    "__version__",
    "asyncio",
    "blocking",
    "connect",
    "trio",
]

#: Names imported on first use, and the module each comes from.
_LAZY = {
    "connect": "avatarwire.bindings.asyncio",
    "ConnectKeywords": "avatarwire.bindings.opening",
    "ConnectOptions": "avatarwire.bindings._common",
    "RetryCallback": "avatarwire.bindings._common",
    "Session": "avatarwire.bindings.session",
    "SessionView": "avatarwire.bindings.session",
    "SyncSession": "avatarwire.bindings.session",
    "Emulator": "avatarwire.emulator",
    "EmulatorThread": "avatarwire.emulator",
    "Fault": "avatarwire.emulator",
}
_SUBMODULES = ("asyncio", "blocking", "trio")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"avatarwire.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'avatarwire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
