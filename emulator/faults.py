"""Faults an emulator can inject, so clients can be tested against a misbehaving service.

Build them with the class methods of :class:`Fault`; give them per avatar id (or
for every avatar) in ``Emulator(faults=...)``. Console faults apply to the token
endpoint and are given instance-wide (``fault=``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from avatarwire.core.wire_constants import SERVICE_CLOSE_CODES, CloseCode

#: Reasons sent with the service's own close codes (protocol.md).
SERVICE_CLOSE_REASONS = {
    CloseCode.CREDITS_EXHAUSTED.value: "credits exhausted",
    CloseCode.SESSION_TIMEOUT.value: "maximum session duration reached",
    CloseCode.CONCURRENCY_LIMIT.value: "concurrency limit reached",
    CloseCode.AUTH_FAILED.value: "auth failed: session token expired",
    CloseCode.UPSTREAM_UNAVAILABLE.value: "upstream unavailable",
}


class FaultKind(str, Enum):
    """What goes wrong."""

    CLOSE = "close"  # close the socket with a code after N audio messages
    DROP = "drop"  # drop TCP (no close frame) after N audio messages
    STALL_CONNECT = "stall_connect"  # read the upgrade request, never answer it
    STALL_UPGRADE = "stall_upgrade"  # accept the upgrade, never answer the configure
    STALL_CONFIGURE = "stall_configure"  # confirm the session, then never send anything
    SERVER_ERROR = "server_error"  # a ServerError at the Nth client message
    REFUSE_SESSION = "refuse_session"  # answer the configure with a ServerError, then close
    END_SESSION = "end_session"  # a ServerError with a close code, then that close, at audio N
    SLOW_READS = "slow_reads"  # read the socket slowly, so the client sees backpressure
    TOKEN_STATUS = "token_status"  # the token endpoint answers an HTTP error
    TOKEN_GARBAGE = "token_garbage"  # the token endpoint answers 200 with a non-JSON body
    TOKEN_HANG = "token_hang"  # the token endpoint never answers

    def __str__(self) -> str:
        return self.value


CONSOLE_KINDS = frozenset({FaultKind.TOKEN_STATUS, FaultKind.TOKEN_GARBAGE, FaultKind.TOKEN_HANG})


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault; ``after`` counts audio messages (CLOSE, DROP) or client
    messages after the configure (SERVER_ERROR), 1-based."""

    kind: FaultKind
    after: int = 1
    code: int = 0
    text: str = ""
    bytes_per_second: int = 0
    read_delay: float = 0.0

    def __post_init__(self) -> None:
        if self.after < 1:
            raise ValueError(f"after must be >= 1, got {self.after}")
        if self.kind is FaultKind.CLOSE and not 3000 <= self.code <= 4999:
            raise ValueError(f"a CLOSE fault needs a close code in 3000..4999, got {self.code}")
        if self.kind is FaultKind.END_SESSION and self.code not in SERVICE_CLOSE_CODES:
            raise ValueError(f"an END_SESSION fault needs a code in 4000..4999, got {self.code}")
        if self.kind is FaultKind.SLOW_READS and self.bytes_per_second <= 0:
            raise ValueError("a SLOW_READS fault needs bytes_per_second > 0")

    @classmethod
    def close(
        cls,
        code: int = CloseCode.UPSTREAM_UNAVAILABLE.value,
        *,
        after_audio: int = 1,
        reason: str | None = None,
    ) -> Fault:
        """Close the socket with ``code`` once ``after_audio`` audio messages arrived."""
        text = SERVICE_CLOSE_REASONS.get(code, "closed by fault injection")
        return cls(
            FaultKind.CLOSE, after=after_audio, code=code, text=text if reason is None else reason
        )

    @classmethod
    def drop(cls, *, after_audio: int = 1) -> Fault:
        """Drop the TCP connection without a close frame after ``after_audio`` audio messages."""
        return cls(FaultKind.DROP, after=after_audio)

    @classmethod
    def stall_connect(cls) -> Fault:
        """Take the TCP connection and the upgrade request, then never answer."""
        return cls(FaultKind.STALL_CONNECT)

    @classmethod
    def stall_upgrade(cls) -> Fault:
        """Accept the upgrade (101), then never answer the configure message."""
        return cls(FaultKind.STALL_UPGRADE)

    @classmethod
    def stall_configure(cls) -> Fault:
        """Confirm the session, then never send anything (audio is read and ignored)."""
        return cls(FaultKind.STALL_CONFIGURE)

    @classmethod
    def server_error(
        cls,
        *,
        at_message: int = 1,
        code: int = 0,
        text: str = "driven server returned non-200 status code",
    ) -> Fault:
        """Send a ``ServerError`` on the ``at_message``-th client message after the
        configure; the session goes on (e.g. ``code=14`` with "inference server Animate
        failed": a relayed gRPC code, outside the close-code contract)."""
        return cls(FaultKind.SERVER_ERROR, after=at_message, code=code, text=text)

    @classmethod
    def refuse_session(
        cls, code: int = CloseCode.CONCURRENCY_LIMIT.value, text: str | None = None
    ) -> Fault:
        """Answer the configure with ``ServerError(code, text)`` and close the socket:
        with that close code when it is one of the service's (4000-4999), else 1000.

        Close-code refusals (4001 credits, 4002 duration, 4003 concurrency, 4010 auth,
        4503 upstream) take their usual text when ``text`` is ``None``.
        """
        default = SERVICE_CLOSE_REASONS.get(code, "session refused by fault injection")
        return cls(FaultKind.REFUSE_SESSION, code=code, text=default if text is None else text)

    @classmethod
    def end_session(
        cls,
        code: int = CloseCode.UPSTREAM_UNAVAILABLE.value,
        *,
        after_audio: int = 1,
        text: str | None = None,
    ) -> Fault:
        """End an open session the service's way once ``after_audio`` audio messages
        arrived: ``ServerError`` carrying the close code (4000-4999), then the close
        frame with that code (the usual text when ``text`` is ``None``)."""
        default = SERVICE_CLOSE_REASONS.get(code, "session ended by fault injection")
        return cls(
            FaultKind.END_SESSION,
            after=after_audio,
            code=code,
            text=default if text is None else text,
        )

    @classmethod
    def slow_reads(cls, bytes_per_second: int = 64 * 1024, *, read_delay: float = 0.0) -> Fault:
        """Read the client's bytes at most this fast (after ``read_delay`` seconds)."""
        return cls(FaultKind.SLOW_READS, bytes_per_second=bytes_per_second, read_delay=read_delay)

    @classmethod
    def token_status(cls, status: int = 500, text: str = "") -> Fault:
        """Answer token requests with HTTP ``status`` and the console's error body for
        it (``errors[0].code`` per status; ``text`` as the detail, else the usual one)."""
        return cls(FaultKind.TOKEN_STATUS, code=status, text=text)

    @classmethod
    def token_garbage(cls) -> Fault:
        """Answer token requests with 200 and a body that is not JSON."""
        return cls(FaultKind.TOKEN_GARBAGE)

    @classmethod
    def token_hang(cls) -> Fault:
        """Never answer token requests."""
        return cls(FaultKind.TOKEN_HANG)


def first_of(faults: tuple[Fault, ...], *kinds: FaultKind) -> Fault | None:
    """The first fault of one of ``kinds``, or ``None``."""
    return next((fault for fault in faults if fault.kind in kinds), None)
