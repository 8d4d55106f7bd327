"""How every binding opens a session, decided once: the keywords of ``connect()``,
checked; the first token; a fresh attempt after each failure the retry policy
allows; the order token -> socket -> handshake.

A binding gives only its I/O: its ``resolve_environment``, ``fetch_token`` and
``open_session`` and how it sleeps, bundled in an :class:`AsyncOpener` (asyncio,
trio) or a :class:`BlockingOpener`. This module imports no binding.
"""

from __future__ import annotations

import dataclasses
import difflib
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypedDict, TypeVar

from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, ConfigError
from avatarwire.core.request_ids import RequestIdFactory
from avatarwire.core.retry import RetryPolicy
from avatarwire.core.steps import Timeouts

from ._common import (
    Callbacks,
    CloseCallback,
    ConnectOptions,
    ErrorCallback,
    FrameCallback,
    RetryCallback,
    delay_before_retry,
    first_token,
    new_observer,
)
from .encoding import AudioEncoder
from .observer import SessionObserver, Telemetry, observing

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = [
    "AsyncOpener",
    "Attempt",
    "BlockingOpener",
    "ConnectKeywords",
    "Opening",
    "UnknownKeywordError",
    "Unpack",
]

S = TypeVar("S")
R_co = TypeVar("R_co", covariant=True)


class ConnectKeywords(TypedDict, total=False):
    """The keywords every binding's ``connect(config, **keywords)`` takes; the defaults
    are :class:`~._common.ConnectOptions`'s (``timeouts=None`` means ``Timeouts()``)."""

    #: Open with this token instead of fetching one (not together with ``retry``).
    session_token: str | None
    #: When a fetched token expires (default: in an hour).
    expire_at: datetime | int | None
    #: TLS for ``https``/``wss`` endpoints (default: a verifying context).
    ssl_context: ssl.SSLContext | None
    #: A time limit for each step of opening, sending and closing.
    timeouts: Timeouts | None
    #: Retry the opening (each attempt with a new token); default: never retry.
    retry: RetryPolicy | None
    #: Told of each retry: ``(attempt, error, seconds to wait)``.
    on_retry: RetryCallback | None
    #: The official SDK's callbacks, called as events come.
    transport_frames: FrameCallback | None
    on_error: ErrorCallback | None
    on_close: CloseCallback | None
    #: ``False``: events go only to the callbacks, not to the queue iteration reads.
    queue_events: bool
    #: ``False``: never ask the config service for the environment's endpoints.
    environment_lookup: bool
    #: Ask this config service instead of the real one.
    config_service_url: str | None
    #: Makes request IDs (default: the official format).
    request_ids: RequestIdFactory | None
    max_message_size: int | None
    max_audio_chunk: int | None
    #: ``send_audio`` waits while more than this many bytes are unsent.
    max_buffered_audio: int
    #: Reading pauses while more than this many events wait unread.
    max_queued_events: int
    #: An ``http://[user:pass@]host:port`` proxy; ``None``: from the environment;
    #: ``False``: never a proxy.
    proxy: str | bool | None
    #: Watches each session (spans, metrics): e.g. ``otel.OpenTelemetry()``.
    telemetry: Telemetry | None
    #: Encodes the PCM the application sends: e.g. ``opus.OpusEncoder(...)``.
    encoder: AudioEncoder | None
    #: Keepalive: ping after this many silent seconds (``None``: never).
    ping_interval: float | None
    #: Keepalive: give up this many seconds after a ping (``None``: never).
    ping_timeout: float | None


#: The keywords of ``connect()`` that are not fields of ``ConnectOptions``.
_CALLBACKS = ("transport_frames", "on_error", "on_close")
_NOT_OPTIONS = frozenset({*_CALLBACKS, "retry", "on_retry"})
_OPTIONS = frozenset(field.name for field in dataclasses.fields(ConnectOptions))
assert ConnectKeywords.__optional_keys__ == _OPTIONS | _NOT_OPTIONS, "keywords out of step"


class UnknownKeywordError(ConfigError, TypeError):
    """``connect()`` was given a keyword it does not take (a ``TypeError`` too, as
    Python's own for an unexpected keyword)."""


def _check_known(keywords: Mapping[str, object]) -> None:
    for name in keywords:
        if name not in ConnectKeywords.__optional_keys__:
            allowed = sorted(ConnectKeywords.__optional_keys__)
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            # The value is not shown: a misspelt session_token would be a secret.
            raise UnknownKeywordError(
                name,
                "an unknown keyword of connect()",
                f"{hint}expected one of {', '.join(allowed)}",
            )


def _check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigError(name, type(value).__name__, "expected a callable or None")


@dataclass(frozen=True, slots=True)
class Opening:
    """What ``connect()`` was asked for, checked before anything is opened."""

    options: ConnectOptions
    retry: RetryPolicy | None = None
    on_retry: RetryCallback | None = None
    transport_frames: FrameCallback | None = None
    on_error: ErrorCallback | None = None
    on_close: CloseCallback | None = None

    @classmethod
    def from_keywords(cls, keywords: ConnectKeywords) -> Opening:
        """Check every keyword (a ``ConfigError`` names the first bad one) and build the
        options once, for whichever binding."""
        _check_known(keywords)
        options: dict[str, Any] = {k: v for k, v in keywords.items() if k in _OPTIONS}
        if options.get("timeouts", ...) is None:
            options["timeouts"] = Timeouts()
        retry = keywords.get("retry")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError("retry", type(retry).__name__, "expected a RetryPolicy or None")
        for name in ("on_retry", *_CALLBACKS):
            _check_callable(name, keywords.get(name))
        opening = cls(
            ConnectOptions(**options),
            retry,
            keywords.get("on_retry"),
            keywords.get("transport_frames"),
            keywords.get("on_error"),
            keywords.get("on_close"),
        )
        first_token(opening.options, retry)  # refuses a given token together with retries
        return opening

    def first_attempt(self) -> Attempt:
        """The first attempt: with the given token, if any."""
        return Attempt(self, 1, self.options.session_token)


@dataclass(slots=True)
class Attempt:
    """One try at opening: its token (``None``: fetch one), callbacks and observer."""

    opening: Opening
    number: int
    token: str | None
    callbacks: Callbacks = dataclasses.field(init=False)
    observer: SessionObserver | None = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        opening = self.opening
        self.callbacks = Callbacks(opening.transport_frames, opening.on_error, opening.on_close)
        self.observer = new_observer(self.opening.options)

    def delay_after(self, error: AvatarError) -> float | None:
        """Seconds to wait before the next attempt after this one failed with
        ``error`` (logged, told to ``on_retry``); ``None``: give up, raise it."""
        opening = self.opening
        return delay_before_retry(opening.retry, self.number, error, opening.on_retry)

    def next(self) -> Attempt:
        """The next attempt, which fetches a token of its own (tokens are single-use)."""
        return Attempt(self.opening, self.number + 1, None)


class OpenSession(Protocol[R_co]):
    """A binding's ``open_session``: the ingress socket and the handshake with a token."""

    def __call__(
        self,
        config: SessionConfig,
        token: str,
        options: ConnectOptions | None = None,
        callbacks: Callbacks | None = None,
        *,
        observer: SessionObserver | None = None,
    ) -> R_co: ...


@dataclass(frozen=True, slots=True)
class AsyncOpener(Generic[S]):
    """An async binding's I/O for opening; :meth:`open` is the sequence, decided here."""

    resolve_environment: Callable[[SessionConfig, ConnectOptions], Awaitable[SessionConfig]]
    fetch_token: Callable[[SessionConfig, ConnectOptions], Awaitable[str]]
    open_session: OpenSession[Awaitable[S]]
    sleep: Callable[[float], Awaitable[object]]

    async def open(self, config: SessionConfig, opening: Opening) -> S:
        """Resolve the endpoints, then token and session, retrying as the policy says."""
        config = await self.resolve_environment(config, opening.options)
        attempt = opening.first_attempt()
        while True:
            try:
                token = attempt.token
                if token is None:
                    with observing(attempt.observer, "token"):
                        token = await self.fetch_token(config, opening.options)
                return await self.open_session(
                    config, token, opening.options, attempt.callbacks, observer=attempt.observer
                )
            except AvatarError as error:
                delay = attempt.delay_after(error)
                if delay is None:
                    raise
                await self.sleep(delay)
                attempt = attempt.next()


@dataclass(frozen=True, slots=True)
class BlockingOpener(Generic[S]):
    """The blocking binding's I/O for opening: :class:`AsyncOpener`'s sequence, in the
    caller's thread."""

    resolve_environment: Callable[[SessionConfig, ConnectOptions], SessionConfig]
    fetch_token: Callable[[SessionConfig, ConnectOptions], str]
    open_session: OpenSession[S]
    sleep: Callable[[float], object]

    def open(self, config: SessionConfig, opening: Opening) -> S:
        """Resolve the endpoints, then token and session, retrying as the policy says."""
        config = self.resolve_environment(config, opening.options)
        attempt = opening.first_attempt()
        while True:
            try:
                token = attempt.token
                if token is None:
                    with observing(attempt.observer, "token"):
                        token = self.fetch_token(config, opening.options)
                return self.open_session(
                    config, token, opening.options, attempt.callbacks, observer=attempt.observer
                )
            except AvatarError as error:
                delay = attempt.delay_after(error)
                if delay is None:
                    raise
                self.sleep(delay)
                attempt = attempt.next()
