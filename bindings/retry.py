"""The earlier names of opt-in retrying, kept working: retrying is now ``retry=`` of
each binding's ``connect()``.

``connect_with_retry(config, policy=p, ...)`` is ``asyncio.connect(config, retry=p,
...)``; the trio and blocking helpers likewise. Each imports only its own binding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from avatarwire.core.config import SessionConfig
from avatarwire.core.retry import RetryPolicy

from ._common import RetryCallback

if TYPE_CHECKING:
    from .asyncio import AsyncSession
    from .blocking import BlockingSession
    from .trio import TrioSession

__all__ = [
    "RetryCallback",
    "RetryPolicy",
    "connect_with_retry",
    "connect_with_retry_blocking",
    "connect_with_retry_trio",
]


def _no_token(name: str, connect_kwargs: dict[str, Any]) -> None:
    if "session_token" in connect_kwargs:
        raise TypeError(
            f"{name}() does not take session_token: every attempt fetches a new one "
            "(tokens are single-use); use connect() to open with a given token"
        )


@asynccontextmanager
async def connect_with_retry(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[AsyncSession]:
    """``avatarwire.bindings.asyncio.connect(config, retry=policy, ...)``."""
    from .asyncio import connect

    _no_token("connect_with_retry", connect_kwargs)
    async with connect(config, retry=policy, on_retry=on_retry, **connect_kwargs) as session:
        yield session


@asynccontextmanager
async def connect_with_retry_trio(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[TrioSession]:
    """``avatarwire.bindings.trio.connect(config, retry=policy, ...)``."""
    from .trio import connect

    _no_token("connect_with_retry_trio", connect_kwargs)
    async with connect(config, retry=policy, on_retry=on_retry, **connect_kwargs) as session:
        yield session


@contextmanager
def connect_with_retry_blocking(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> Iterator[BlockingSession]:
    """``avatarwire.bindings.blocking.connect(config, retry=policy, ...)``."""
    from .blocking import connect

    _no_token("connect_with_retry_blocking", connect_kwargs)
    with connect(config, retry=policy, on_retry=on_retry, **connect_kwargs) as session:
        yield session
