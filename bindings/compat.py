"""A drop-in for the official ``spatialreal`` 0.2.x SDK (and the retired ``avatarkit``).

Porting is one import: ``from avatarwire.compat import new_avatar_session`` (this
module is ``avatarwire.compat``'s implementation). The names, keywords, callbacks,
properties, exceptions and error codes are the official SDK's, and each wire event
gets the code and ``retryable`` that SDK gives it. Underneath is the asyncio binding,
so the official SDK's faults are gone: ``on_close`` is called exactly once, a raising
callback is logged, every step has a timeout, audio waits when the socket is full.

Differences a port may notice, all of them stricter or safer:
- a bad value raises :class:`ConfigError` (a ``ValueError``) when the session is
  made, not later from ``init()``/``start()``;
- ``expire_at`` must be timezone-aware and within 24 h; it defaults to one hour
  after ``init()``;
- a session is one connection: ``init()`` then ``start()`` once;
- ``pause()``/``resume()`` on a server without ``playback_control`` send nothing
  (the server would ignore them) and log a warning;
- failures while opening are raised by ``init()``/``start()`` and not also sent
  to ``on_error``; once ``start()`` returned they go to the callbacks.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from typing import Any, TypeVar

from avatarwire.core.config import SessionConfig as CoreSessionConfig
from avatarwire.core.config import expire_at_seconds
from avatarwire.core.errors import AvatarError, ConfigError, LocalProtocolError
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.events import (
    PlaybackState as CorePlaybackState,
)
from avatarwire.core.steps import Timeouts
from avatarwire.core.wire_constants import CAPABILITY_PLAYBACK_CONTROL

from ._common import Callbacks, ConnectOptions, real_request_ids
from ._compat_errors import (
    AvatarSDKError,
    AvatarSDKErrorCode,
    CloseCode,
    SessionTokenError,
    SessionUsageError,
    to_sdk_error,
)
from ._compat_types import (
    SESSION_KEYWORDS,
    AgoraEgressConfig,
    AudioFormat,
    InterruptReason,
    LiveKitEgressConfig,
    OggOpusEncoderConfig,
    PlaybackSignal,
    PlaybackState,
    PlaybackStateEvent,
    SessionConfig,
    SessionConfigBuilder,
)
from .asyncio import AsyncSession, fetch_token, open_session

__all__ = [
    "ACCEPTED_KEYWORDS",
    "AgoraEgressConfig",
    "AudioFormat",
    "AvatarSDKError",
    "AvatarSDKErrorCode",
    "AvatarSession",
    "CloseCode",
    "InterruptReason",
    "LiveKitEgressConfig",
    "OggOpusEncoderConfig",
    "PlaybackSignal",
    "PlaybackState",
    "PlaybackStateEvent",
    "SessionConfig",
    "SessionConfigBuilder",
    "SessionTokenError",
    "SessionUsageError",
    "__version__",
    "generate_log_id",
    "new_avatar_session",
]

#: The official SDK release whose surface this facade reproduces.
__version__ = "0.2.2"

#: Every keyword ``new_avatar_session`` takes: the official ones, then ours.
ACCEPTED_KEYWORDS = SESSION_KEYWORDS

logger = logging.getLogger("avatarwire.compat")

T = TypeVar("T")


def generate_log_id() -> str:
    """A new request id in the official format: ``YYYYMMDDHHMMSS_`` and a 12-char nanoid."""
    return real_request_ids()()


# --- from the official config to the core's ------------------------------------------------


def _callback(name: str, value: object) -> Any:
    if value is not None and not callable(value):
        raise ConfigError(name, f"a {type(value).__name__}", "expected a callable or None")
    return value


def _egress(name: str, value: object, kind: type[Any]) -> Any:
    if value is None:
        return None
    if not isinstance(value, kind):
        raise ConfigError(name, f"a {type(value).__name__}", f"expected {kind.__name__} or None")
    return value.to_core()


def _refuse_encoder(config: SessionConfig) -> None:
    for name in ("ogg_opus_encoder", "on_encoded_audio"):
        value = getattr(config, name)
        if value is not None:
            raise ConfigError(
                name,
                f"a {type(value).__name__}",
                "client-side Ogg Opus encoding is not supported: encode the audio to "
                "one Ogg Opus stream per request yourself and pass audio_format='ogg_opus'",
            )


def core_config(config: SessionConfig) -> CoreSessionConfig:
    """The validated core record for an official config (a ``ConfigError`` names the field)."""
    if not isinstance(config, SessionConfig):
        raise ConfigError("config", f"a {type(config).__name__}", "expected a SessionConfig")
    _refuse_encoder(config)
    for name in ("on_playback", "on_playback_state", "transport_frames", "on_error", "on_close"):
        _callback(name, getattr(config, name))
    if config.expire_at is not None:
        expire_at_seconds(config.expire_at, now=datetime.now(timezone.utc))  # refuse it now
    return CoreSessionConfig(
        api_key=config.api_key,
        app_id=config.app_id,
        avatar_id=config.avatar_id,
        region=config.environment,
        console_url=config.console_endpoint_url or None,
        ingress_url=config.ingress_endpoint_url or None,
        sample_rate=config.sample_rate,
        audio_format=config.audio_format,
        bitrate=config.bitrate,
        agora=_egress("agora_egress", config.agora_egress, AgoraEgressConfig),
        livekit=_egress("livekit_egress", config.livekit_egress, LiveKitEgressConfig),
        use_query_auth=config.use_query_auth,
    )


def _connect_options(config: SessionConfig) -> ConnectOptions:
    timeouts = config.timeouts or Timeouts()
    if config.timeouts is None or config.token_request_timeout != 30.0:
        timeouts = dataclasses.replace(timeouts, token=config.token_request_timeout)
    return ConnectOptions(
        expire_at=config.expire_at,
        ssl_context=config.ssl_context,
        timeouts=timeouts,
        queue_events=False,  # the callbacks are the only way out: nothing takes the queue
    )


# --- callbacks ------------------------------------------------------------------------------


class _CompatCallbacks(Callbacks):
    """The official callbacks, in event order: ``on_playback`` then ``transport_frames``
    per frame, ``on_playback_state``, ``on_error`` with official codes, ``on_close``
    exactly once; silent while opening."""

    def __init__(self, config: SessionConfig) -> None:
        super().__init__(config.transport_frames, config.on_error, config.on_close)
        self.on_playback = config.on_playback
        self.on_playback_state = config.on_playback_state
        self.connection_id = ""
        self._ended = False

    def deliver(self, event: Event) -> None:
        if isinstance(event, SessionReady):
            self.ready = True
            self.connection_id = event.connection_id
        if not self.ready or self._ended:
            return
        if isinstance(event, AnimationFrame):
            self._frame(event)
        elif isinstance(event, CorePlaybackState):
            if self.on_playback_state is not None:
                self._call("on_playback_state", self.on_playback_state, self._state(event))
        elif isinstance(event, ServerError):
            if self.on_error is not None:
                self._call("on_error", self.on_error, to_sdk_error(event.error, AvatarSDKError))
        elif isinstance(event, SessionClosed):
            self._ended = True
            if event.error is not None and self.on_error is not None:
                self._call("on_error", self.on_error, to_sdk_error(event.error, AvatarSDKError))
            if self.on_close is not None:
                self._call("on_close", self.on_close)

    def deliver_frame(self, frame: AnimationFrame) -> None:
        self.deliver(frame)

    def _frame(self, frame: AnimationFrame) -> None:
        if self.on_playback is not None:
            signal = PlaybackSignal(
                req_id=frame.req_id,
                end=frame.end,
                connection_id=self.connection_id,
                avatar_id=frame.avatar_id,
                has_animation=frame.has_animation,
            )
            self._call("on_playback", self.on_playback, signal)
        if self.transport_frames is not None:
            self._call("transport_frames", self.transport_frames, frame.data, frame.end)

    def _state(self, event: CorePlaybackState) -> PlaybackStateEvent:
        return PlaybackStateEvent(
            req_id=event.req_id,
            state=PlaybackState[event.state.name],
            played_ms=event.played_ms,
            reason=event.reason,
            connection_id=str(getattr(event, "connection_id", "") or self.connection_id),
        )

    def close_once(self) -> None:
        """Call ``on_close`` unless the session's end already did."""
        self.ready = True  # the session never opened, or already ended: close it either way
        self.deliver(SessionClosed(1000, "", None))


# --- the session ----------------------------------------------------------------------------


class AvatarSession:
    """One connection to the service: ``init()``, ``start()``, send, ``close()``."""

    def __init__(self, config: SessionConfig) -> None:
        self._core_config = core_config(config)
        self._config = config
        self._options = _connect_options(config)
        self._callbacks = _CompatCallbacks(config)
        self._token: str | None = None
        self._session: AsyncSession | None = None
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._started else "new"
        return f"<AvatarSession {state} connection_id={self.connection_id!r} {self._core_config!r}>"

    @property
    def config(self) -> SessionConfig:
        """The configuration the session was made with."""
        return self._config

    @property
    def native_config(self) -> CoreSessionConfig:
        """The validated core configuration (endpoints resolved)."""
        return self._core_config

    @property
    def connection_id(self) -> str | None:
        """The service's id for this session, once started."""
        return self._session.connection_id if self._session is not None else None

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What the server announced (``playback_control``, ``playback_state``); empty
        before ``start()`` and on older servers: feature-detect with it."""
        return tuple(sorted(self._session.capabilities)) if self._session is not None else ()

    @property
    def native(self) -> AsyncSession:
        """The underlying asyncio session (request status, events)."""
        if self._session is None:
            raise SessionUsageError("the session is not started: call init() and start()")
        return self._session

    async def init(self) -> None:
        """Fetch the session token (one per connection) from the console."""
        self._check_open("init")
        try:
            self._token = await fetch_token(self._core_config, self._options)
        except LocalProtocolError:
            raise
        except AvatarError as error:
            raise to_sdk_error(error, SessionTokenError) from None

    async def start(self) -> str:
        """Open the socket and run the handshake; returns the connection id."""
        self._check_open("start")
        if self._started:
            raise SessionUsageError("start() was already called: a session is one connection")
        if self._token is None:
            raise SessionUsageError("start(): the session is not initialized: call init() first")
        token, self._token = self._token, None
        self._started = True
        try:
            session = await open_session(self._core_config, token, self._options, self._callbacks)
        except LocalProtocolError:
            raise
        except AvatarError as error:
            raise to_sdk_error(error, AvatarSDKError) from None
        if self._closed:  # close() ran while the handshake was in flight
            await session.close()
            raise SessionUsageError("start(): the session was closed while starting")
        # The official SDK hands on every frame it reads, also those of a request
        # interrupted while they were in flight: so does the facade.
        session._core.drop_interrupted_frames = False
        self._session = session
        connection_id = session.connection_id
        assert connection_id is not None
        return connection_id

    async def send_audio(self, audio: bytes, end: bool = False) -> str:
        """Send audio for the current request (``end=True`` closes it); returns its req_id."""
        return await self._call("send_audio", lambda session: session.send_audio(audio, end))

    async def interrupt(self) -> str:
        """Interrupt the most recent request; returns its req_id."""
        return await self._call("interrupt", lambda session: session.interrupt())

    async def pause(self) -> str:
        """Hold playout of the most recent request; keep sending its audio meanwhile."""
        return await self._playback_control("pause")

    async def resume(self) -> str:
        """Resume playout held by :meth:`pause`; returns the request's id."""
        return await self._playback_control("resume")

    async def close(self) -> None:
        """Close the connection; ``on_close`` has been called exactly once afterwards."""
        if self._closed:
            return
        self._closed = True
        self._token = None
        try:
            if self._session is not None:
                await self._session.close()
        finally:
            self._callbacks.close_once()

    async def _playback_control(self, name: str) -> str:
        session = self._require_started(name)
        if CAPABILITY_PLAYBACK_CONTROL in session.capabilities:
            if name == "pause":
                return await self._call(name, lambda session: session.pause())
            return await self._call(name, lambda session: session.resume())
        latest = session._core.requests.latest
        if latest is None:
            raise SessionUsageError(f"{name}(): no request to {name}")
        logger.warning(
            "%s(): the server did not announce %r, so it would ignore it; nothing was sent",
            name,
            CAPABILITY_PLAYBACK_CONTROL,
        )
        return latest.req_id

    def _check_open(self, call: str) -> None:
        if self._closed:
            raise SessionUsageError(
                f"{call}(): the session is closed; open another with new_avatar_session()"
            )

    def _require_started(self, call: str) -> AsyncSession:
        self._check_open(call)
        if self._session is None:
            raise SessionUsageError(f"{call}(): the session is not started: call start() first")
        return self._session

    async def _call(self, name: str, call: Callable[[AsyncSession], Coroutine[Any, Any, T]]) -> T:
        session = self._require_started(name)
        try:
            return await call(session)
        except LocalProtocolError as error:
            if isinstance(error, ValueError):
                raise
            raise SessionUsageError(
                f"{name}(): {error.message}", phase=error.phase, req_id=error.req_id
            ) from None
        except AvatarError as error:
            if session.state.ended:
                # The official SDK answers any call on an ended session with a
                # ValueError; the error that ended it has gone to on_error already.
                raise SessionUsageError(
                    f"{name}(): the session is closed ({error.code}); "
                    "open another with new_avatar_session()",
                    phase=error.phase,
                ) from None
            raise to_sdk_error(error, AvatarSDKError) from None


# --- the factory ----------------------------------------------------------------------------


def _reject_unknown(unknown: set[str]) -> None:
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, ACCEPTED_KEYWORDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"new_avatar_session() got an unexpected keyword argument {name!r}{hint}; "
            f"accepted: {', '.join(ACCEPTED_KEYWORDS)}"
        )


def new_avatar_session(**kwargs: Any) -> AvatarSession:
    """A session configured with the official SDK's keywords (the fields of
    :class:`SessionConfig`), validated now.

    Raises ``TypeError`` naming a keyword that is not a field, and
    :class:`ConfigError` (a ``ValueError``) naming a value that is not allowed.
    """
    _reject_unknown(set(kwargs) - set(ACCEPTED_KEYWORDS))
    return AvatarSession(SessionConfig(**kwargs))
