"""The session API on asyncio (also ``avatarwire.connect``)."""

from avatarwire.bindings.asyncio import AsyncSession, connect, fetch_token, open_session

__all__ = ["AsyncSession", "connect", "fetch_token", "open_session"]
