"""The AvatarKit protocol as pure state machines: bytes in, bytes and events out.

Nothing here opens a socket, starts a thread, reads a clock or draws a random
number; bindings supply all of that.
"""
