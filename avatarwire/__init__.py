"""avatarwire: a sans-IO client for the AvatarKit real-time avatar service.

The protocol lives in ``avatarwire.core``; ``avatarwire.bindings`` gives it
sockets (asyncio, trio, blocking); ``avatarwire.emulator`` is a local service.
This folder holds only the package root: the subpackages are the repository's
top-level folders, linked here so type checkers and a plain checkout see them.
"""

__version__ = "0.1.0"
