"""The earlier names of opt-in retrying, kept working: retrying is now ``retry=`` of
each binding's ``connect()``.

``connect_with_retry(config, policy=p, ...)`` is ``asyncio.connect(config, retry=p,
...)``; the trio and blocking helpers likewise. Each binding is imported only when
its helper is called, and none of them is known here beyond its name.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, TypeVar

from avatarwire.core.config import SessionConfig
from avatarwire.core.retry import RetryPolicy

from ._common import RetryCallback
from .session import Session, SyncSession

__all__ = [
    "RetryCallback",
    "RetryPolicy",
    "connect_with_retry",
    "connect_with_retry_blocking",
    "connect_with_retry_trio",
]


R_co = TypeVar("R_co", covariant=True)


class _Helper(Protocol[R_co]):
    """``connect_with_retry(config, policy=..., on_retry=..., **connect_keywords)``."""

    def __call__(
        self,
        config: SessionConfig,
        *,
        policy: RetryPolicy,
        on_retry: RetryCallback | None = None,
        **connect_kwargs: Any,
    ) -> R_co: ...


def _helper(binding: str, name: str) -> Any:
    """The helper that calls ``connect(config, retry=policy, ...)`` of the named binding."""

    def helper(
        config: SessionConfig,
        *,
        policy: RetryPolicy,
        on_retry: RetryCallback | None = None,
        **connect_kwargs: Any,
    ) -> Any:
        if "session_token" in connect_kwargs:
            raise TypeError(
                f"{name}() does not take session_token: every attempt fetches a new one "
                "(tokens are single-use); use connect() to open with a given token"
            )
        connect = importlib.import_module(f"avatarwire.bindings.{binding}").connect
        return connect(config, retry=policy, on_retry=on_retry, **connect_kwargs)

    helper.__name__ = helper.__qualname__ = name
    helper.__doc__ = f"``avatarwire.bindings.{binding}.connect(config, retry=policy, ...)``."
    return helper


connect_with_retry: _Helper[AbstractAsyncContextManager[Session]] = _helper(
    "asyncio", "connect_with_retry"
)
connect_with_retry_trio: _Helper[AbstractAsyncContextManager[Session]] = _helper(
    "trio", "connect_with_retry_trio"
)
connect_with_retry_blocking: _Helper[AbstractContextManager[SyncSession]] = _helper(
    "blocking", "connect_with_retry_blocking"
)
