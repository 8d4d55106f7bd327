"""The session API on trio; the session's tasks live in a nursery of ``async with``."""

from avatarwire.bindings.trio import TrioSession, connect, fetch_token, open_session

__all__ = ["TrioSession", "connect", "fetch_token", "open_session"]
