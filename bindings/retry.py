"""Opt-in retries of opening an asyncio session (token, socket, handshake), never silent.

Only the opening is retried: once a session is ready, what happens to it is the
application's to handle. Every attempt fetches a new token (tokens are single-use),
every retry is logged at WARNING with the error code and reported to ``on_retry``,
and when retrying stops the last error is raised as it is.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError
from avatarwire.core.retry import RetryPolicy, next_delay

from ._common import Callbacks, ConnectOptions, connect_options
from .asyncio import AsyncSession, fetch_token, open_session

__all__ = ["RetryCallback", "RetryPolicy", "connect_with_retry"]

logger = logging.getLogger("avatarwire.retry")

#: Called before each retry with the attempt that failed (1-based), its error and
#: the seconds about to be waited.
RetryCallback = Callable[[int, AvatarError, float], object]


async def _open_once(
    config: SessionConfig, options: ConnectOptions, callbacks: Callbacks
) -> AsyncSession:
    token = await fetch_token(config, options)
    return await open_session(config, token, options, callbacks)


@asynccontextmanager
async def connect_with_retry(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[AsyncSession]:
    """Like :func:`avatarwire.bindings.asyncio.connect`, retrying the opening per ``policy``.

    ``connect_kwargs`` are those of ``connect`` (``ssl_context``, ``timeouts``,
    ``transport_frames``, ``on_error``, ``on_close``, ``expire_at``, ...), except
    ``session_token``: each attempt needs a token of its own. An exception raised
    by ``on_retry`` stops the retries and propagates.
    """
    if "session_token" in connect_kwargs:
        raise TypeError(
            "connect_with_retry() does not take session_token: every attempt fetches "
            "a new one (tokens are single-use); use connect() to open with a given token"
        )
    frames = connect_kwargs.pop("transport_frames", None)
    on_error = connect_kwargs.pop("on_error", None)
    on_close = connect_kwargs.pop("on_close", None)
    if connect_kwargs.get("timeouts") is None:
        connect_kwargs.pop("timeouts", None)
    options = connect_options(**connect_kwargs)
    attempt = 1
    while True:
        try:
            session = await _open_once(config, options, Callbacks(frames, on_error, on_close))
            break
        except AvatarError as error:
            delay = next_delay(policy, attempt, error, random.random())
            if delay is None:
                if attempt > 1:
                    logger.warning(
                        "opening the session failed [%s] on attempt %d of %d; giving up",
                        error.code.value,
                        attempt,
                        policy.max_attempts,
                    )
                raise
            logger.warning(
                "opening the session failed [%s] on attempt %d of %d: %s; retrying in %.2f s",
                error.code.value,
                attempt,
                policy.max_attempts,
                error,
                delay,
            )
            if on_retry is not None:
                on_retry(attempt, error, delay)
            await asyncio.sleep(delay)
            attempt += 1
    try:
        yield session
    finally:
        await session.close()
