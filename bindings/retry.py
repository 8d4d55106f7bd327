"""Opt-in retries of opening a session (token, socket, handshake), never silent.

Only the opening is retried: once a session is ready, what happens to it is the
application's to handle. Every attempt fetches a new token (tokens are single-use),
every retry is logged at WARNING with the error code and reported to ``on_retry``,
and when retrying stops the last error is raised as it is. There is one helper
per binding; whether and how long to wait is decided once, in ``_wait_before_retry``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import trio

from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError
from avatarwire.core.retry import RetryPolicy, next_delay

from . import asyncio as asyncio_binding
from . import blocking as blocking_binding
from . import trio as trio_binding
from ._common import Callbacks, ConnectOptions, connect_options

__all__ = [
    "RetryCallback",
    "RetryPolicy",
    "connect_with_retry",
    "connect_with_retry_blocking",
    "connect_with_retry_trio",
]

logger = logging.getLogger("avatarwire.retry")

#: Called before each retry with the attempt that failed (1-based), its error and
#: the seconds about to be waited.
RetryCallback = Callable[[int, AvatarError, float], object]


def _retry_options(
    name: str, connect_kwargs: dict[str, Any]
) -> tuple[ConnectOptions, Callable[[], Callbacks]]:
    """The options every attempt opens with, and a maker of fresh callbacks per attempt."""
    if "session_token" in connect_kwargs:
        raise TypeError(
            f"{name}() does not take session_token: every attempt fetches a new one "
            "(tokens are single-use); use connect() to open with a given token"
        )
    frames = connect_kwargs.pop("transport_frames", None)
    on_error = connect_kwargs.pop("on_error", None)
    on_close = connect_kwargs.pop("on_close", None)
    if connect_kwargs.get("timeouts") is None:
        connect_kwargs.pop("timeouts", None)
    return connect_options(**connect_kwargs), partial(Callbacks, frames, on_error, on_close)


def _wait_before_retry(
    policy: RetryPolicy, attempt: int, error: AvatarError, on_retry: RetryCallback | None
) -> float | None:
    """Seconds to wait before retrying after ``attempt`` failed with ``error``, logged
    and reported to ``on_retry``; or ``None`` (logged if it follows retries): give up."""
    delay = next_delay(policy, attempt, error, random.random())
    if delay is None:
        if attempt > 1:
            logger.warning(
                "opening the session failed [%s] on attempt %d of %d; giving up",
                error.code.value,
                attempt,
                policy.max_attempts,
            )
        return None
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
    return delay


@asynccontextmanager
async def connect_with_retry(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[asyncio_binding.AsyncSession]:
    """Like :func:`avatarwire.bindings.asyncio.connect`, retrying the opening per ``policy``.

    ``connect_kwargs`` are those of ``connect`` (``ssl_context``, ``timeouts``,
    ``transport_frames``, ``on_error``, ``on_close``, ``expire_at``, ...), except
    ``session_token``: each attempt needs a token of its own. An exception raised
    by ``on_retry`` stops the retries and propagates.
    """
    options, new_callbacks = _retry_options("connect_with_retry", connect_kwargs)
    attempt = 1
    while True:
        try:
            token = await asyncio_binding.fetch_token(config, options)
            session = await asyncio_binding.open_session(config, token, options, new_callbacks())
            break
        except AvatarError as error:
            delay = _wait_before_retry(policy, attempt, error, on_retry)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            attempt += 1
    try:
        yield session
    finally:
        await session.close()


async def _open_trio(
    config: SessionConfig,
    options: ConnectOptions,
    new_callbacks: Callable[[], Callbacks],
    policy: RetryPolicy,
    on_retry: RetryCallback | None,
    nursery: trio.Nursery,
) -> trio_binding.TrioSession:
    attempt = 1
    while True:
        try:
            token = await trio_binding.fetch_token(config, options)
            return await trio_binding.open_session(
                config, token, options, new_callbacks(), nursery=nursery
            )
        except AvatarError as error:
            delay = _wait_before_retry(policy, attempt, error, on_retry)
            if delay is None:
                raise
            await trio.sleep(delay)
            attempt += 1


@asynccontextmanager
async def connect_with_retry_trio(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[trio_binding.TrioSession]:
    """:func:`connect_with_retry` for trio: like :func:`avatarwire.bindings.trio.connect`."""
    options, new_callbacks = _retry_options("connect_with_retry_trio", connect_kwargs)
    # As in trio.connect: errors leave the nursery first, so they are raised as
    # themselves, not in an exception group; cancellation goes through it.
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        try:
            session = await _open_trio(config, options, new_callbacks, policy, on_retry, nursery)
        except Exception as exc:
            failure = exc
        else:
            try:
                yield session
            except Exception as exc:
                failure = exc
            finally:
                await session.close()
    if failure is not None:
        raise failure


@contextmanager
def connect_with_retry_blocking(
    config: SessionConfig,
    *,
    policy: RetryPolicy,
    on_retry: RetryCallback | None = None,
    **connect_kwargs: Any,
) -> Iterator[blocking_binding.BlockingSession]:
    """:func:`connect_with_retry` for blocking sockets: like
    :func:`avatarwire.bindings.blocking.connect`, sleeping in the caller's thread."""
    options, new_callbacks = _retry_options("connect_with_retry_blocking", connect_kwargs)
    attempt = 1
    while True:
        try:
            token = blocking_binding.fetch_token(config, options)
            session = blocking_binding.open_session(config, token, options, new_callbacks())
            break
        except AvatarError as error:
            delay = _wait_before_retry(policy, attempt, error, on_retry)
            if delay is None:
                raise
            time.sleep(delay)
            attempt += 1
    try:
        yield session
    except BaseException as exc:
        if not isinstance(exc, Exception):  # Ctrl-C: drop the socket, as connect() does
            session._abort()
        raise
    finally:
        session.close()
