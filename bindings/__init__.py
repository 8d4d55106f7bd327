"""I/O for the core: asyncio (``.asyncio``), trio (``.trio``) and blocking sockets (``.blocking``).

Each binding only moves bytes, keeps time and delivers events; every protocol
decision is the core's.
"""

from avatarwire.core.steps import Timeouts

from ._common import Callbacks, ConnectOptions

__all__ = ["Callbacks", "ConnectOptions", "Timeouts"]
