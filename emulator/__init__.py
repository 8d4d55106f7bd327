"""avatarwire.emulator: a local AvatarKit service on loopback, for tests, demos and
benchmarks without a cloud account.

``async with Emulator() as emu:`` (asyncio), ``with EmulatorThread() as emu:``
(anything else), or ``python -m avatarwire.emulator``.
"""

from .faults import Fault, FaultKind
from .service import Emulator, build_settings
from .settings import (
    ANY_AVATAR,
    DEFAULT_API_KEY,
    DEFAULT_APP_ID,
    DEFAULT_AVATAR_ID,
    DEFAULT_CAPABILITIES,
    EmulatorSettings,
)
from .sink import EgressSink
from .thread import EmulatorThread

__all__ = [
    "ANY_AVATAR",
    "DEFAULT_API_KEY",
    "DEFAULT_APP_ID",
    "DEFAULT_AVATAR_ID",
    "DEFAULT_CAPABILITIES",
    "EgressSink",
    "Emulator",
    "EmulatorSettings",
    "EmulatorThread",
    "Fault",
    "FaultKind",
    "build_settings",
]
