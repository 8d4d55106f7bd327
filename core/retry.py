"""When to try opening a session again, and how long to wait first: pure arithmetic.

Retrying is opt-in. Only errors whose :attr:`AvatarError.retry` says a retry can
help are retried: a new token or a new session is tried at once the first time
(that is the whole fix), a failing service is given exponential backoff, and a
concurrency limit is given at least :attr:`RetryPolicy.later_delay`. The random
part of the jitter is passed in, so the result is a function of its arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import AvatarError, ConfigError, Retry

__all__ = ["RetryPolicy", "next_delay"]

#: Beyond this many doublings every delay is capped anyway; it keeps ``2 ** n`` finite.
_MAX_DOUBLINGS = 64


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"retry.{name}", repr(value), "expected a number of seconds")
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"retry.{name}", repr(value), "expected finite seconds >= 0")
    return float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry opening a session.

    ``max_attempts`` counts every attempt, the first included (1 = never retry).
    The n-th backoff is ``base_delay * 2 ** (n - 1)``, capped at ``max_delay``, then
    spread by ``± jitter`` (a fraction of the delay) so that many clients failing
    together do not come back together. ``later_delay`` is the least wait after a
    concurrency limit; it wins over ``max_delay``.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 10.0
    jitter: float = 0.2
    later_delay: float = 5.0

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(
                "retry.max_attempts", repr(attempts), "expected an int >= 1 (1 = no retry)"
            )
        base = _check_seconds("base_delay", self.base_delay)
        cap = _check_seconds("max_delay", self.max_delay)
        _check_seconds("later_delay", self.later_delay)
        if cap < base:
            raise ConfigError(
                "retry.max_delay", repr(self.max_delay), f"must be >= base_delay ({base:g})"
            )
        jitter = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)):
            raise ConfigError("retry.jitter", repr(jitter), "expected a fraction in 0..1")
        if not 0 <= jitter <= 1:
            raise ConfigError("retry.jitter", repr(jitter), "expected a fraction in 0..1")


def _backoff(policy: RetryPolicy, doublings: int) -> float:
    return min(policy.max_delay, policy.base_delay * 2.0 ** min(doublings, _MAX_DOUBLINGS))


def next_delay(
    policy: RetryPolicy, attempt: int, error: AvatarError, random_fraction: float
) -> float | None:
    """Seconds to wait before the attempt after ``attempt`` (1-based) failed with
    ``error``, or ``None`` when retrying cannot help or the attempts are used up.

    ``random_fraction`` in ``[0, 1)`` picks the point in the jitter range
    (0.5 = no jitter).
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
    if not 0.0 <= random_fraction < 1.0:
        raise ValueError(f"random_fraction must be in [0, 1), got {random_fraction!r}")
    kind = error.retry
    if kind is Retry.NO or attempt >= policy.max_attempts:
        return None
    if kind in (Retry.NEW_TOKEN, Retry.NEW_SESSION):
        # A fresh token or session is the fix: try it at once, back off if it fails too.
        if attempt == 1:
            return 0.0
        delay = _backoff(policy, attempt - 2)
    else:
        delay = _backoff(policy, attempt - 1)
    spread = delay * (1.0 + policy.jitter * (2.0 * random_fraction - 1.0))
    spread = min(policy.max_delay, spread)
    if kind is Retry.LATER:
        return max(policy.later_delay, spread)
    return spread
