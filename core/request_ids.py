"""Request IDs in the official SDKs' format: ``YYYYMMDDHHMMSS_`` and a 12-character nanoid.

The core reads no clock and draws no random numbers, so the time and the entropy
are injected; bindings pass the real ones, tests pass fixed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

#: The nanoid alphabet: 64 URL-safe characters, so one byte picks one by its low 6 bits.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
SUFFIX_LENGTH = 12

RequestIdFactory = Callable[[], str]


def format_request_id(when: datetime, entropy: bytes) -> str:
    """Build one ID from a UTC time and at least 12 random bytes."""
    if when.tzinfo is None:
        raise ValueError("request id time must be timezone-aware")
    if len(entropy) < SUFFIX_LENGTH:
        raise ValueError(f"request id needs {SUFFIX_LENGTH} bytes of entropy")
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    suffix = "".join(ALPHABET[byte & 63] for byte in entropy[:SUFFIX_LENGTH])
    return f"{stamp}_{suffix}"


def official_request_ids(
    clock: Callable[[], datetime], entropy: Callable[[int], bytes]
) -> RequestIdFactory:
    """A factory of official-format IDs from a UTC clock and an entropy source."""

    def next_id() -> str:
        return format_request_id(clock(), entropy(SUFFIX_LENGTH))

    return next_id


def sequential_request_ids(prefix: str = "req") -> RequestIdFactory:
    """Deterministic IDs (``req-1``, ``req-2``, ...) for tests and replays."""
    counter = 0

    def next_id() -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}-{counter}"

    return next_id
