"""What every binding needs besides sockets: real clocks and entropy, TLS defaults,
token expiry, and in-order callback delivery for the official SDK's callbacks."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import ssl
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from avatarwire.core.config import SessionConfig, check_header_secret, expire_at_seconds
from avatarwire.core.endpoints import Endpoint
from avatarwire.core.environments import (
    CONFIG_SERVICE_TIMEOUT,
    CONFIG_SERVICE_URL,
    EnvironmentLookup,
)
from avatarwire.core.errors import AvatarError, ConfigError, Phase
from avatarwire.core.events import AnimationFrame, Event, ServerError, SessionClosed, SessionReady
from avatarwire.core.liveness import DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT
from avatarwire.core.proxy import Proxy, TunnelExchange, proxy_for
from avatarwire.core.request_ids import RequestIdFactory, official_request_ids
from avatarwire.core.retry import RetryPolicy, next_delay
from avatarwire.core.session import (
    DEFAULT_MAX_AUDIO_CHUNK,
    DEFAULT_MAX_MESSAGE_SIZE,
    ClientSession,
)
from avatarwire.core.steps import Timeouts, check_seconds
from avatarwire.core.token import TokenExchange

from .encoding import AudioEncoder
from .masking import fastest_masker
from .observer import SessionObserver, Telemetry

__all__ = [
    "DEFAULT_MAX_BUFFERED_AUDIO",
    "DEFAULT_MAX_QUEUED_EVENTS",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_TOKEN_LIFETIME",
    "Callbacks",
    "ConnectOptions",
    "RetryCallback",
    "Timeouts",
    "delay_before_retry",
    "environment_lookup",
    "first_token",
    "forget_environments",
    "lookup_options",
    "new_client_session",
    "new_token_exchange",
    "real_request_ids",
    "remember_environments",
    "session_logger",
    "tls_context_for",
    "with_known_environments",
]

DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)
DEFAULT_MAX_BUFFERED_AUDIO = 256 * 1024
DEFAULT_MAX_QUEUED_EVENTS = 4096
READ_SIZE = 64 * 1024

logger = logging.getLogger("avatarwire.session")
retry_logger = logging.getLogger("avatarwire.retry")


def real_request_ids() -> RequestIdFactory:
    """Official-format request IDs from the wall clock and the OS's entropy."""
    return official_request_ids(lambda: datetime.now(timezone.utc), os.urandom)


def tls_context_for(secure: bool, given: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """The context to wrap a connection in: the caller's, or a verifying default."""
    if not secure:
        return None
    return given if given is not None else ssl.create_default_context()


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How a binding opens a session; the same knobs in every binding.

    ``connect()`` takes each field as a keyword argument; ``fetch_token()`` and
    ``open_session()`` take the record itself. ``queue_events=False`` keeps events
    out of the queue (for callback-only sessions that never iterate); by default
    every event goes to the callbacks *and* the queue.
    """

    session_token: str | None = field(default=None, repr=False)
    expire_at: datetime | int | None = None
    ssl_context: ssl.SSLContext | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    request_ids: RequestIdFactory | None = None
    max_message_size: int | None = None
    max_audio_chunk: int | None = None
    max_buffered_audio: int = DEFAULT_MAX_BUFFERED_AUDIO
    max_queued_events: int = DEFAULT_MAX_QUEUED_EVENTS
    queue_events: bool = True
    environment_lookup: bool = True
    config_service_url: str | None = None
    #: An ``http://[user:pass@]host:port`` proxy; ``None``: from the environment
    #: (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``); ``False``: never a proxy.
    proxy: str | bool | None = field(default=None, repr=False)
    #: Watches each session (spans, metrics): e.g. ``otel.OpenTelemetry()``.
    telemetry: Telemetry | None = None
    #: Encodes the PCM the application sends, one stream per request: e.g.
    #: ``opus.OpusEncoder(input_rate=24000)`` with ``audio_format=OGG_OPUS``.
    encoder: AudioEncoder | None = None
    ping_interval: float | None = DEFAULT_PING_INTERVAL
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT

    def __post_init__(self) -> None:
        if self.session_token is not None:
            check_header_secret(self.session_token, "session_token")
        _check_type("ssl_context", self.ssl_context, ssl.SSLContext, "an ssl.SSLContext or None")
        if not isinstance(self.timeouts, Timeouts):
            raise ConfigError("timeouts", _shown(self.timeouts), "expected a Timeouts")
        if self.request_ids is not None and not callable(self.request_ids):
            raise ConfigError(
                "request_ids", _shown(self.request_ids), "expected a callable or None"
            )
        for name, low in (("max_message_size", 2), ("max_audio_chunk", 2)):
            value = getattr(self, name)
            if value is not None:
                _check_count(name, value, low, " or None (the default)")
        _check_count("max_buffered_audio", self.max_buffered_audio, 0)
        _check_count("max_queued_events", self.max_queued_events, 1)
        if not isinstance(self.queue_events, bool):
            raise ConfigError("queue_events", _shown(self.queue_events), "expected True or False")
        check_seconds("ping_interval", self.ping_interval, optional=True)
        check_seconds("ping_timeout", self.ping_timeout, optional=True)


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:56] + "…"


def _check_type(name: str, value: object, kind: type, allowed: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise ConfigError(name, _shown(value), f"expected {allowed}")


def _check_count(name: str, value: object, low: int, alternative: str = "") -> None:
    """An int (not a bool) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(name, _shown(value), f"expected an int >= {low}{alternative}")


#: Called before each retry of opening with the attempt that failed (1-based), its
#: error and the seconds about to be waited.
RetryCallback = Callable[[int, AvatarError, float], object]


def first_token(options: ConnectOptions, retry: RetryPolicy | None) -> str | None:
    """The token the first attempt opens with (``None``: fetch one); refuses a given
    token together with retries, since every attempt needs a token of its own."""
    if retry is not None and options.session_token is not None:
        raise TypeError(
            "connect() does not take session_token together with retry: every attempt "
            "fetches a new token (tokens are single-use)"
        )
    return options.session_token


def delay_before_retry(
    policy: RetryPolicy | None, attempt: int, error: AvatarError, on_retry: RetryCallback | None
) -> float | None:
    """Seconds to wait before retrying after ``attempt`` failed with ``error``, logged
    and reported to ``on_retry``; or ``None`` (logged if it follows retries): give up.
    Without a policy, never retry."""
    if policy is None:
        return None
    delay = next_delay(policy, attempt, error, random.random())
    if delay is None:
        if attempt > 1:
            retry_logger.warning(
                "opening the session failed [%s] on attempt %d of %d; giving up",
                error.code.value,
                attempt,
                policy.max_attempts,
            )
        return None
    retry_logger.warning(
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


# --- environments: the config service, asked once per process ---------------------------

#: Set to anything but "" or "0" to never ask the config service (the presets are used).
NO_LOOKUP_ENV = "AVATARWIRE_NO_ENV_LOOKUP"
#: Ask this URL instead of the real config service (tests point it at an emulator).
CONFIG_SERVICE_ENV = "AVATARWIRE_CONFIG_SERVICE_URL"

_known_environments: dict[str, dict[str, str]] | None = None
_environments_lock = threading.Lock()


def environment_lookup(config: SessionConfig, options: ConnectOptions) -> EnvironmentLookup | None:
    """The config-service request to run before connecting, or ``None``: both URLs
    given, already asked in this process, or switched off (option or environment)."""
    if not config.needs_environment or _known_environments is not None:
        return None
    if not options.environment_lookup or os.environ.get(NO_LOOKUP_ENV, "") not in ("", "0"):
        return None
    url = options.config_service_url or os.environ.get(CONFIG_SERVICE_ENV) or CONFIG_SERVICE_URL
    return EnvironmentLookup(url)


def lookup_options(options: ConnectOptions) -> ConnectOptions:
    """The options for the lookup: no step may take longer than the lookup's limit."""
    limit = CONFIG_SERVICE_TIMEOUT
    timeouts = options.timeouts
    return dataclasses.replace(
        options,
        timeouts=dataclasses.replace(
            timeouts,
            tcp_connect=min(timeouts.tcp_connect, limit),
            tls=min(timeouts.tls, limit),
            token=min(timeouts.token, limit),
        ),
    )


def remember_environments(lookup: EnvironmentLookup) -> None:
    """Keep the config service's answer (empty after any failure) for the process."""
    global _known_environments
    if lookup.error is not None:
        logger.debug("config service unavailable (%s); using the presets", lookup.error)
    with _environments_lock:
        if _known_environments is None:
            _known_environments = dict(lookup.environments)


def forget_environments() -> None:
    """Ask the config service again on the next connect (tests, long-lived processes)."""
    global _known_environments
    with _environments_lock:
        _known_environments = None


def with_known_environments(config: SessionConfig) -> SessionConfig:
    """``config`` with its environment's endpoints from what the process knows."""
    return config.with_environments(_known_environments or {})


@dataclass(frozen=True, slots=True)
class Route:
    """How a binding reaches one endpoint: directly, or through a proxy's tunnel."""

    endpoint: Endpoint
    proxy: Proxy | None
    console: bool

    @property
    def host(self) -> str:
        """Where the TCP connection goes."""
        return self.proxy.host if self.proxy is not None else self.endpoint.host

    @property
    def port(self) -> int:
        """The port the TCP connection goes to."""
        return self.proxy.port if self.proxy is not None else self.endpoint.port

    @property
    def origin(self) -> str:
        """What errors name: the endpoint, and the proxy when there is one."""
        if self.proxy is None:
            return self.endpoint.origin
        return f"{self.endpoint.origin} through the proxy {self.proxy.origin}"

    def tunnel(self) -> TunnelExchange | None:
        """The CONNECT exchange to run first, if there is a proxy."""
        if self.proxy is None:
            return None
        phase = Phase.SESSION_TOKEN if self.console else Phase.WEBSOCKET_CONNECT
        return TunnelExchange(self.proxy, self.endpoint, phase=phase)


def route_to(endpoint: Endpoint, options: ConnectOptions, *, console: bool) -> Route:
    """The route to ``endpoint``: the ``proxy`` option, else the proxy environment."""
    return Route(endpoint, proxy_for(endpoint, explicit=options.proxy, environ=os.environ), console)


def new_observer(options: ConnectOptions) -> SessionObserver | None:
    """The observer of one session, when the options ask for telemetry."""
    return None if options.telemetry is None else options.telemetry.session()


def new_token_exchange(config: SessionConfig, options: ConnectOptions) -> TokenExchange:
    """The console exchange for a token expiring at the requested time (default: 1 h)."""
    now = datetime.now(timezone.utc)
    expire_at = options.expire_at if options.expire_at is not None else now + DEFAULT_TOKEN_LIFETIME
    return TokenExchange(
        config.console_endpoint, config.api_key, expire_at_seconds(expire_at, now=now)
    )


def new_client_session(config: SessionConfig, token: str, options: ConnectOptions) -> ClientSession:
    """The ingress core for one connection, with the options' limits."""
    if options.encoder is not None:
        options.encoder.check(config)
    if config.use_query_auth:
        logger.warning(
            "query auth puts the session token in the upgrade URL, where servers and "
            "proxies may log it; header auth (the default) keeps it out"
        )
    return ClientSession(
        config,
        token,
        request_ids=options.request_ids or real_request_ids(),
        max_message_size=options.max_message_size or DEFAULT_MAX_MESSAGE_SIZE,
        max_audio_chunk=options.max_audio_chunk or DEFAULT_MAX_AUDIO_CHUNK,
        masker=fastest_masker(),
        ping_interval=options.ping_interval,
        ping_timeout=options.ping_timeout,
    )


class SessionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Puts the connection id, and the request id where there is one, on every record."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        extra.setdefault("req_id", "-")
        kwargs["extra"] = extra
        return msg, kwargs


def session_logger(connection_id: str | None) -> SessionLog:
    """A logger whose records carry ``connection_id`` and ``req_id`` attributes."""
    return SessionLog(logger, {"connection_id": connection_id or "-"})


FrameCallback = Callable[[bytes, bool], object]
ErrorCallback = Callable[[AvatarError], object]
CloseCallback = Callable[[], object]


class Callbacks:
    """The official SDK's callbacks, called in event order, one at a time.

    They start with ``SessionReady``: a failure while opening is raised to the
    caller of the opening call, and reporting it here too would report it twice.
    ``on_close`` is called exactly once; an exception from any callback is logged
    with its traceback and does not stop the session.
    """

    def __init__(
        self,
        transport_frames: FrameCallback | None = None,
        on_error: ErrorCallback | None = None,
        on_close: CloseCallback | None = None,
    ) -> None:
        self.transport_frames = transport_frames
        self.on_error = on_error
        self.on_close = on_close
        self.ready = False
        self._closed = False

    def deliver(self, event: Event) -> None:
        """Call whichever callback this event concerns."""
        if isinstance(event, SessionReady):
            self.ready = True
        if not self.ready:
            return
        if isinstance(event, AnimationFrame):
            if self.transport_frames is not None:
                self._call("transport_frames", self.transport_frames, event.data, event.end)
        elif isinstance(event, ServerError):
            if self.on_error is not None:
                self._call("on_error", self.on_error, event.error)
        elif isinstance(event, SessionClosed) and not self._closed:
            self._closed = True
            if event.error is not None and self.on_error is not None:
                self._call("on_error", self.on_error, event.error)
            if self.on_close is not None:
                self._call("on_close", self.on_close)

    def deliver_frame(self, frame: AnimationFrame) -> None:
        """:meth:`deliver` for a frame, without asking what the event is (the receive
        lane's call; a subclass that overrides :meth:`deliver` overrides this too)."""
        callback = self.transport_frames
        if callback is None or not self.ready:
            return
        try:
            result = callback(frame.data, frame.end)
        except Exception:
            logger.exception("the %s callback raised; the session goes on", "transport_frames")
            return
        if result is not None:  # what _call checks, for a callback that returned something
            self._returned("transport_frames", result)

    @staticmethod
    def _call(name: str, callback: Callable[..., object], *args: object) -> None:
        try:
            result = callback(*args)
        except Exception:
            logger.exception("the %s callback raised; the session goes on", name)
            return
        Callbacks._returned(name, result)

    @staticmethod
    def _returned(name: str, result: object) -> None:
        """Close a coroutine a callback returned (it would never run) and say so."""
        close = getattr(result, "close", None)
        if close is not None and hasattr(result, "__await__"):
            close()
            logger.error(
                "the %s callback returned a coroutine; callbacks must be plain functions", name
            )
