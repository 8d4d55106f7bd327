"""The session API on plain blocking sockets in the caller's thread, no event loop."""

from avatarwire.bindings.blocking import BlockingSession, connect, fetch_token, open_session

__all__ = ["BlockingSession", "connect", "fetch_token", "open_session"]
