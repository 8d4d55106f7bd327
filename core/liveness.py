"""Keepalive: notice a connection that went silent (a NAT or load balancer dropped it).

A pure schedule over a clock the binding reads: after ``interval`` seconds without
a byte from the server a ping goes out; if still nothing at all has come
``timeout`` seconds later, the connection is dead. Any byte received counts as
life (a pong, a frame, anything), so a busy session never pings. A dead
connection is therefore noticed at most ``interval + timeout`` seconds after the
last byte arrived.
"""

from __future__ import annotations

from .steps import check_seconds

#: The defaults websockets uses for its keepalive ping.
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0


class Keepalive:
    """When to ping, and when silence means the connection is gone."""

    def __init__(self, interval: float | None, timeout: float | None) -> None:
        check_seconds("ping_interval", interval, optional=True)
        check_seconds("ping_timeout", timeout, optional=True)
        self.interval = interval
        self.timeout = timeout
        self._heard = False
        self._last_heard: float | None = None
        self._ping_sent_at: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether pings go out at all (``ping_interval=None`` turns them off)."""
        return self.interval is not None

    def heard(self) -> None:
        """Bytes came from the server (the time is taken at the next :meth:`due`)."""
        self._heard = True

    def due(self, now: float, *, reading: bool = True) -> str | None:
        """``"ping"`` when a ping should go out now, ``"dead"`` when the server has been
        silent past the deadline, else ``None``. ``reading=False`` says the binding is
        not reading (its event queue is full): silence then proves nothing."""
        if self.interval is None:
            return None
        if self._heard or not reading or self._last_heard is None:
            self._heard = False
            self._last_heard = now
            self._ping_sent_at = None
            return None
        if self._ping_sent_at is not None:
            if self.timeout is not None and now >= self._ping_sent_at + self.timeout:
                return "dead"
            return None
        if now >= self._last_heard + self.interval:
            self._ping_sent_at = now
            return "ping"
        return None

    def next_deadline(self) -> float | None:
        """When :meth:`due` should be asked next (``None``: no need)."""
        if self.interval is None or self._last_heard is None:
            return None
        if self._ping_sent_at is not None:
            return None if self.timeout is None else self._ping_sent_at + self.timeout
        return self._last_heard + self.interval

    @property
    def silence_limit(self) -> float:
        """The longest silence tolerated (interval + timeout), for error messages."""
        return (self.interval or 0.0) + (self.timeout or 0.0)
