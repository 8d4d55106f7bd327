"""A drop-in facade with the names of the official ``avatarkit`` Python SDK.

Porting is one import: ``from avatarwire.bindings.compat import new_avatar_session``.
Underneath it is the asyncio binding, so the official SDK's known faults are gone:
``on_close`` is called exactly once, a raising callback is logged instead of
swallowed, every step has a timeout, audio waits when the socket is full.

Differences a port may notice, all of them stricter:
- an unknown keyword raises ``TypeError`` (the official SDK ignores it) and a bad
  value raises :class:`ConfigError` (a ``ValueError``) from ``new_avatar_session``,
  not later from ``init()``/``start()``;
- ``expire_at`` must be timezone-aware and within 24 h; it defaults to one hour
  after ``init()``; the endpoint URLs default from ``region``;
- a session is one connection: ``init()`` then ``start()`` once; start another
  with a new ``new_avatar_session()``;
- failures while opening are raised by ``init()``/``start()`` and not also sent
  to ``on_error``/``on_close``; once ``start()`` returned they go to the callbacks.
"""

from __future__ import annotations

import difflib
import ssl
import warnings
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from avatarwire.core.config import (
    AgoraEgress,
    AudioFormat,
    LiveKitEgress,
    SessionConfig,
    expire_at_seconds,
    mask_secret,
)
from avatarwire.core.endpoints import redact_url
from avatarwire.core.errors import AvatarError, ConfigError, ErrorCode, LocalProtocolError
from avatarwire.core.events import SessionClosed
from avatarwire.core.steps import Timeouts

from ._common import Callbacks, CloseCallback, ConnectOptions, ErrorCallback, FrameCallback
from .asyncio import AsyncSession, fetch_token, open_session

__all__ = [
    "ACCEPTED_KEYWORDS",
    "AgoraEgressConfig",
    "AudioFormat",
    "AvatarSDKError",
    "AvatarSDKErrorCode",
    "AvatarSession",
    "LiveKitEgressConfig",
    "SessionTokenError",
    "SessionUsageError",
    "new_avatar_session",
]

T = TypeVar("T")

#: The official SDK's error type is ours: ``except AvatarSDKError`` keeps working.
AvatarSDKError = AvatarError


class AvatarSDKErrorCode:
    """Our :class:`ErrorCode` members under the official SDK's names, so
    ``err.code == AvatarSDKErrorCode.sessionTokenExpired`` keeps working (and ``is``)."""

    sessionTokenExpired = ErrorCode.SESSION_TOKEN_EXPIRED
    sessionTokenInvalid = ErrorCode.SESSION_TOKEN_INVALID
    appIDUnrecognized = ErrorCode.APP_ID_UNRECOGNIZED
    appIDMismatch = ErrorCode.APP_ID_MISMATCH
    avatarNotFound = ErrorCode.AVATAR_NOT_FOUND
    billingRequired = ErrorCode.BILLING_REQUIRED
    creditsExhausted = ErrorCode.CREDITS_EXHAUSTED
    sessionDurationExceeded = ErrorCode.SESSION_DURATION_EXCEEDED
    unsupportedSampleRate = ErrorCode.UNSUPPORTED_SAMPLE_RATE
    invalidEgressConfig = ErrorCode.INVALID_EGRESS_CONFIG
    egressUnavailable = ErrorCode.EGRESS_UNAVAILABLE
    idleTimeout = ErrorCode.IDLE_TIMEOUT
    upstreamError = ErrorCode.UPSTREAM_ERROR
    invalidRequest = ErrorCode.INVALID_REQUEST
    connectionFailed = ErrorCode.CONNECTION_FAILED
    connectionClosed = ErrorCode.CONNECTION_CLOSED
    protocolError = ErrorCode.PROTOCOL_ERROR
    serverError = ErrorCode.SERVER_ERROR
    unknown = ErrorCode.UNKNOWN
    concurrencyLimit = ErrorCode.CONCURRENCY_LIMIT


E = TypeVar("E", bound=AvatarError)


def _copy_error(error: AvatarError, kind: type[E]) -> E:
    """The same error under the class the official SDK would raise."""
    return kind(
        error.message,
        code=error.code,
        phase=error.phase,
        http_status=error.http_status,
        server_code=error.server_code,
        server_title=error.server_title,
        server_detail=error.server_detail,
        connection_id=error.connection_id,
        req_id=error.req_id,
        raw_body=error.raw_body,
        close_code=error.close_code,
        close_reason=error.close_reason,
    )


class SessionTokenError(AvatarError):
    """``init()`` got no session token: the console refused or could not be reached."""


class SessionUsageError(LocalProtocolError, ValueError):
    """A call out of order (``send_audio`` before ``start``, ...); a ``ValueError``,
    as the official SDK raises for these."""


# --- egress configs, as the official SDK spells them ----------------------------------


@dataclass(repr=False)
class AgoraEgressConfig:
    """Publish into an Agora channel instead of returning frames on the socket."""

    channel_name: str = ""
    token: str = ""
    uid: int = 0
    publisher_id: str = ""

    def to_core(self) -> AgoraEgress:
        """The validated core record."""
        return AgoraEgress(self.channel_name, self.token, self.uid, self.publisher_id)

    def __repr__(self) -> str:
        return (
            f"AgoraEgressConfig(channel_name={self.channel_name!r}, "
            f"token={mask_secret(self.token)}, uid={self.uid}, "
            f"publisher_id={self.publisher_id!r})"
        )


@dataclass(repr=False)
class LiveKitEgressConfig:
    """Publish into a LiveKit room; authenticate with ``api_token`` (preferred) or the
    deprecated ``api_key`` + ``api_secret``. ``idle_timeout`` is in seconds, 0 = default."""

    url: str = ""
    api_key: str = ""
    api_secret: str = ""
    api_token: str = ""
    room_name: str = ""
    publisher_id: str = ""
    extra_attributes: Mapping[str, str] | None = None
    idle_timeout: int = 0

    def __post_init__(self) -> None:
        if self.api_key or self.api_secret:
            warnings.warn(
                "LiveKitEgressConfig.api_key/api_secret are deprecated by the service; "
                "give api_token instead",
                FutureWarning,
                stacklevel=3,
            )

    def to_core(self) -> LiveKitEgress:
        """The validated core record."""
        return LiveKitEgress(
            url=self.url,
            room_name=self.room_name,
            api_token=self.api_token,
            api_key=self.api_key,
            api_secret=self.api_secret,
            publisher_id=self.publisher_id,
            extra_attributes=dict(self.extra_attributes or {}),
            idle_timeout=self.idle_timeout,
        )

    def __repr__(self) -> str:
        return (
            f"LiveKitEgressConfig(url={redact_url(self.url)!r}, room_name={self.room_name!r}, "
            f"api_token={mask_secret(self.api_token)}, api_key={mask_secret(self.api_key)}, "
            f"api_secret={mask_secret(self.api_secret)}, publisher_id={self.publisher_id!r}, "
            f"extra_attributes={sorted(self.extra_attributes or {})!r}, "
            f"idle_timeout={self.idle_timeout})"
        )


# --- the session ------------------------------------------------------------------------


class _CompatCallbacks(Callbacks):
    """The official callbacks: always in callback mode (events are never queued),
    silent while opening, ``on_close`` once however the session ends."""

    @property
    def any(self) -> bool:
        return True

    def close_once(self) -> None:
        """Call ``on_close`` unless the session's end already did."""
        self.ready = True  # the session never opened, or already ended: close it either way
        self.deliver(SessionClosed(1000, "", None))


class AvatarSession:
    """One connection to the service: ``init()``, ``start()``, send, ``close()``."""

    def __init__(
        self, config: SessionConfig, options: ConnectOptions, callbacks: _CompatCallbacks
    ) -> None:
        self._config = config
        self._options = options
        self._callbacks = callbacks
        self._token: str | None = None
        self._session: AsyncSession | None = None
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._started else "new"
        return f"<AvatarSession {state} connection_id={self.connection_id!r} {self._config!r}>"

    @property
    def config(self) -> SessionConfig:
        """The validated configuration."""
        return self._config

    @property
    def connection_id(self) -> str | None:
        """The service's id for this session, once started."""
        return self._session.connection_id if self._session is not None else None

    @property
    def native(self) -> AsyncSession:
        """The underlying asyncio session (request status, pause/resume, capabilities)."""
        if self._session is None:
            raise SessionUsageError("the session is not started: call init() and start()")
        return self._session

    async def init(self) -> None:
        """Fetch the session token (one per connection) from the console."""
        self._check_open("init")
        try:
            self._token = await fetch_token(self._config, self._options)
        except LocalProtocolError:
            raise
        except AvatarError as error:
            raise _copy_error(error, SessionTokenError) from None

    async def start(self) -> str:
        """Open the socket and run the handshake; returns the connection id."""
        self._check_open("start")
        if self._started:
            raise SessionUsageError("start() was already called: a session is one connection")
        if self._token is None:
            raise SessionUsageError("start(): the session is not initialized: call init() first")
        token, self._token = self._token, None
        self._started = True
        session = await open_session(self._config, token, self._options, self._callbacks)
        if self._closed:  # close() ran while the handshake was in flight
            await session.close()
            raise SessionUsageError("start(): the session was closed while starting")
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

    def _check_open(self, call: str) -> None:
        if self._closed:
            raise SessionUsageError(
                f"{call}(): the session is closed; open another with new_avatar_session()"
            )

    async def _call(self, name: str, call: Callable[[AsyncSession], Coroutine[Any, Any, T]]) -> T:
        self._check_open(name)
        if self._session is None:
            raise SessionUsageError(f"{name}(): the session is not started: call start() first")
        try:
            return await call(self._session)
        except LocalProtocolError as error:
            if isinstance(error, ValueError):
                raise
            raise _copy_error(error, SessionUsageError) from None


# --- the factory ------------------------------------------------------------------------

_OFFICIAL_KEYWORDS = (
    "api_key",
    "app_id",
    "avatar_id",
    "expire_at",
    "console_endpoint_url",
    "ingress_endpoint_url",
    "use_query_auth",
    "sample_rate",
    "bitrate",
    "audio_format",
    "transport_frames",
    "on_error",
    "on_close",
    "livekit_egress",
    "agora_egress",
)
_EXTRA_KEYWORDS = ("region", "ssl_context", "timeouts")

#: Every keyword ``new_avatar_session`` takes: the official ones, then ours.
ACCEPTED_KEYWORDS = _OFFICIAL_KEYWORDS + _EXTRA_KEYWORDS

#: Official keywords for client-side Opus encoding, which avatarwire does not do.
_NOT_SUPPORTED = ("ogg_opus_encoder", "on_encoded_audio")


def _reject_unknown(unknown: Mapping[str, object]) -> None:
    for name, value in unknown.items():
        if name in _NOT_SUPPORTED:
            if value is None:
                continue
            raise ConfigError(
                name,
                f"a {type(value).__name__}",
                "client-side Ogg Opus encoding is not supported: encode the audio to "
                "one Ogg Opus stream per request yourself and pass audio_format='ogg_opus'",
            )
        close = difflib.get_close_matches(name, ACCEPTED_KEYWORDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"new_avatar_session() got an unexpected keyword argument {name!r}{hint}; "
            f"accepted: {', '.join(ACCEPTED_KEYWORDS)}"
        )


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


def new_avatar_session(
    *,
    api_key: str = "",
    app_id: str = "",
    avatar_id: str = "",
    expire_at: datetime | None = None,
    console_endpoint_url: str | None = None,
    ingress_endpoint_url: str | None = None,
    use_query_auth: bool = False,
    sample_rate: int = 16000,
    bitrate: int = 0,
    audio_format: AudioFormat | str = AudioFormat.PCM_S16LE,
    transport_frames: FrameCallback | None = None,
    on_error: ErrorCallback | None = None,
    on_close: CloseCallback | None = None,
    livekit_egress: LiveKitEgressConfig | None = None,
    agora_egress: AgoraEgressConfig | None = None,
    region: str = "us-west",
    ssl_context: ssl.SSLContext | None = None,
    timeouts: Timeouts | None = None,
    **unknown: object,
) -> AvatarSession:
    """A session configured with the official SDK's keywords (plus ``region``,
    ``ssl_context``, ``timeouts``), validated now.

    Raises ``TypeError`` for a keyword not in :data:`ACCEPTED_KEYWORDS` and
    :class:`ConfigError` (a ``ValueError``) for a value that is not allowed.
    Empty endpoint URLs mean "the region's".
    """
    _reject_unknown(unknown)
    if expire_at is not None:
        expire_at_seconds(expire_at, now=datetime.now(timezone.utc))  # refuse it now
    config = SessionConfig(
        api_key=api_key,
        app_id=app_id,
        avatar_id=avatar_id,
        region=region,
        console_url=console_endpoint_url or None,
        ingress_url=ingress_endpoint_url or None,
        sample_rate=sample_rate,
        audio_format=audio_format,  # type: ignore[arg-type]  # the core accepts the str values
        bitrate=bitrate,
        agora=_egress("agora_egress", agora_egress, AgoraEgressConfig),
        livekit=_egress("livekit_egress", livekit_egress, LiveKitEgressConfig),
        use_query_auth=use_query_auth,
    )
    options = ConnectOptions(
        expire_at=expire_at, ssl_context=ssl_context, timeouts=timeouts or Timeouts()
    )
    callbacks = _CompatCallbacks(
        _callback("transport_frames", transport_frames),
        _callback("on_error", on_error),
        _callback("on_close", on_close),
    )
    return AvatarSession(config, options, callbacks)
