"""What a session is configured with: immutable records, validated when built.

Every refusal is a :class:`ConfigError` naming the field, what was given (secrets
masked) and what is allowed, so a user can fix it without reading the protocol.
No secret (API key, Agora token, LiveKit credentials) ever shows in a ``repr``.
Checks that depend on the current time take ``now`` as an argument: the core reads
no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from .audio_formats import AUDIO_FORMATS, AudioFormat, AudioFormatSpec
from .endpoints import Endpoint, parse_endpoint, redact_url
from .environments import BUILTIN_ENVIRONMENTS, DEFAULT_ENVIRONMENT, resolve_environment
from .errors import ConfigError
from .wire_constants import (
    AVATAR_ID_QUERY,
    LEGACY_CONSOLE_SUFFIX,
    TOKEN_ROUTE,
    WEBSOCKET_SEGMENT,
)

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "OPUS_BITRATE_RANGE",
    "OPUS_DEFAULT_BITRATE",
    "OPUS_SAMPLE_RATES",
    "PCM_SAMPLE_RATES",
    "REGIONS",
    "TOKEN_ROUTE",
    "AgoraEgress",
    "AudioFormat",
    "FrozenStrMapping",
    "LiveKitEgress",
    "RegionEndpoints",
    "SessionConfig",
    "expire_at_seconds",
    "mask_secret",
]


_PCM = AUDIO_FORMATS[AudioFormat.PCM_S16LE]
_OPUS = AUDIO_FORMATS[AudioFormat.OGG_OPUS]
_OPUS_BITRATE = _OPUS.bitrate
assert _OPUS_BITRATE is not None

#: The rates each format takes (from :data:`~.audio_formats.AUDIO_FORMATS`).
PCM_SAMPLE_RATES = _PCM.sample_rates
OPUS_SAMPLE_RATES = _OPUS.sample_rates

#: Ogg Opus bitrate used when none is given, and the range the Opus codec supports.
OPUS_DEFAULT_BITRATE = _OPUS_BITRATE.default
OPUS_BITRATE_RANGE = (_OPUS_BITRATE.low, _OPUS_BITRATE.high)


@dataclass(frozen=True, slots=True)
class RegionEndpoints:
    """The base URLs of one environment (the console URL is the API root)."""

    console_url: str
    ingress_url: str


#: Known environments by name, from the built-in presets (``region`` is the old
#: name of ``environment``); the config service may know more at connect time.
REGIONS: Mapping[str, RegionEndpoints] = {
    name: RegionEndpoints(console_url=env.api, ingress_url=env.ingress_url)
    for name, env in BUILTIN_ENVIRONMENTS.items()
}

#: The longest a session token may live (the service refuses later expiries).
MAX_TOKEN_LIFETIME = timedelta(hours=24)

_UINT32_MAX = 2**32 - 1
_INT32_MAX = 2**31 - 1

#: Agora channel names: ASCII letters, digits, space and this punctuation, 1..64 bytes.
_AGORA_CHANNEL = re.compile(r"[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]{1,64}")

_MAX_SHOWN = 80


# --- showing values in errors and reprs ------------------------------------------------


def mask_secret(value: object) -> str:
    """How a secret appears in an error: its length, never its text (``'***' (12 chars)``)."""
    if isinstance(value, str):
        return "''" if not value else f"'***' ({len(value)} chars)"
    return f"a {type(value).__name__}"


def _masked(value: str) -> str:
    """How a secret appears in a repr: whether it is set, nothing more."""
    return "'***'" if value else "''"


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 4] + "…'"


def _given(value: object, *, secret: bool) -> str:
    return mask_secret(value) if secret else _shown(value)


# --- checks shared by the records --------------------------------------------------------


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def _check_str(value: object, name: str, *, secret: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigError(name, _given(value, secret=secret), "expected a str")
    return value


def _check_identifier(value: object, name: str, *, secret: bool = False, header: bool) -> str:
    """A non-empty str that is safe to put in a header (``header``) or a query string.

    Control characters would split a header (CR/LF injection); surrounding spaces
    are stripped by HTTP, so the service would see another value than given.
    """
    text = _check_str(value, name, secret=secret)
    given = _given(text, secret=secret)
    if not text:
        raise ConfigError(name, given, "expected a non-empty str")
    if any(map(_is_control, text)):
        raise ConfigError(name, given, "control characters (CR, LF, NUL, ...) are not allowed")
    if text != text.strip():
        raise ConfigError(name, given, "leading or trailing whitespace is not allowed")
    if header and not text.isascii():
        raise ConfigError(name, given, "only ASCII is allowed (the value goes into an HTTP header)")
    return text


def check_header_secret(value: object, name: str) -> str:
    """A secret that goes into an HTTP header (a session token): non-empty, ASCII, no
    control characters, no surrounding whitespace; errors never show the value."""
    return _check_identifier(value, name, secret=True, header=True)


def _check_secret(value: object, name: str) -> str:
    """A str that may be empty but, when given, is safe to send (no CR/LF/NUL, no
    surrounding whitespace, as a token read from a file with its newline would have)."""
    text = _check_str(value, name, secret=True)
    if text and (any(map(_is_control, text)) or text != text.strip()):
        raise ConfigError(
            name,
            _given(text, secret=True),
            "control characters and leading or trailing whitespace are not allowed",
        )
    return text


def _check_int(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(name, _shown(value), f"expected an int in {low}..{high}")
    if not low <= value <= high:
        raise ConfigError(name, _shown(value), f"allowed: {low}..{high}")
    return value


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, _shown(value), "expected a bool")
    return value


class FrozenStrMapping(Mapping[str, str]):
    """An immutable, hashable ``str -> str`` mapping, so frozen records stay frozen."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items) if items is not None else {}

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenStrMapping({self._items!r})"


def _check_str_mapping(value: object, name: str) -> FrozenStrMapping:
    if not isinstance(value, Mapping):
        raise ConfigError(name, _shown(value), "expected a mapping of str to str")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ConfigError(f"{name}[{key!r}]", _shown(item), "keys and values must both be str")
    return value if isinstance(value, FrozenStrMapping) else FrozenStrMapping(value)


# --- egress ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class AgoraEgress:
    """Have the service publish audio and animation into an Agora channel.

    ``token`` is the Agora RTC token (may be empty for test projects); ``uid`` 0
    lets Agora assign the publisher's UID.
    """

    channel_name: str
    token: str = ""
    uid: int = 0
    publisher_id: str = ""

    def __post_init__(self) -> None:
        name = _check_str(self.channel_name, "agora.channel_name")
        if not _AGORA_CHANNEL.fullmatch(name):
            raise ConfigError(
                "agora.channel_name",
                _shown(name),
                "expected 1..64 characters: ASCII letters, digits, space and "
                "!#$%&()+-:;<=.>?@[]^_{}|~,",
            )
        _check_secret(self.token, "agora.token")
        _check_int(self.uid, "agora.uid", 0, _UINT32_MAX)
        _check_str(self.publisher_id, "agora.publisher_id")

    def __repr__(self) -> str:
        return (
            f"AgoraEgress(channel_name={self.channel_name!r}, token={_masked(self.token)}, "
            f"uid={self.uid}, publisher_id={self.publisher_id!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class LiveKitEgress:
    """Have the service publish audio and animation into a LiveKit room.

    Authenticate with ``api_token`` (a LiveKit access token, preferred) or with the
    deprecated ``api_key`` + ``api_secret`` pair; at least one of the two forms must
    be complete. When both are given the service uses the token, so both are sent.
    ``idle_timeout`` is in seconds, 0 meaning the service's default.
    """

    url: str
    room_name: str
    api_token: str = ""
    api_key: str = ""
    api_secret: str = ""
    publisher_id: str = ""
    extra_attributes: Mapping[str, str] = field(default_factory=FrozenStrMapping)
    idle_timeout: int = 0

    def __post_init__(self) -> None:
        parse_endpoint(self.url, field="livekit.url", websocket=True)
        _check_identifier(self.room_name, "livekit.room_name", header=False)
        token = _check_secret(self.api_token, "livekit.api_token")
        key = _check_secret(self.api_key, "livekit.api_key")
        secret = _check_secret(self.api_secret, "livekit.api_secret")
        if not token and not (key and secret):
            missing = "api_secret" if key else "api_key" if secret else "api_token"
            raise ConfigError(
                f"livekit.{missing}",
                "''",
                "give api_token (preferred), or both api_key and api_secret (deprecated)",
            )
        _check_str(self.publisher_id, "livekit.publisher_id")
        attributes = _check_str_mapping(self.extra_attributes, "livekit.extra_attributes")
        object.__setattr__(self, "extra_attributes", attributes)
        _check_int(self.idle_timeout, "livekit.idle_timeout", 0, _INT32_MAX)

    def __repr__(self) -> str:
        return (
            f"LiveKitEgress(url={redact_url(self.url)!r}, room_name={self.room_name!r}, "
            f"api_token={_masked(self.api_token)}, api_key={_masked(self.api_key)}, "
            f"api_secret={_masked(self.api_secret)}, publisher_id={self.publisher_id!r}, "
            f"extra_attributes={sorted(self.extra_attributes)!r}, "
            f"idle_timeout={self.idle_timeout})"
        )


# --- the session ------------------------------------------------------------------------


def _check_audio_format(value: object) -> AudioFormat:
    if isinstance(value, AudioFormat):
        return value
    if isinstance(value, str):
        for member in AudioFormat:
            if value == member.value:
                return member
    allowed = ", ".join(repr(member.value) for member in AudioFormat)
    raise ConfigError("audio_format", _shown(value), f"allowed: AudioFormat or one of {allowed}")


def _check_bitrate(value: object, spec: AudioFormatSpec) -> int:
    rule = spec.bitrate
    if rule is None:
        if not isinstance(value, int) or isinstance(value, bool) or value != 0:
            raise ConfigError(
                "bitrate", _shown(value), f"{spec.title} is uncompressed: bitrate must be 0"
            )
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return rule.default
    return _check_int(value, "bitrate", rule.low, rule.high)


@dataclass(frozen=True, slots=True, repr=False)
class SessionConfig:
    """Everything needed to open one session: credentials, endpoints, audio and egress.

    Endpoints come from ``environment`` (default ``us-west``): its API root (tokens
    are posted to ``{root}/v1/auth/session-token``) and ingress origin (``/v2/driveningress``
    appended). ``console_url`` / ``ingress_url``, when given, override it one by one;
    a console URL ending in ``/v1/console`` is read as the API root. Bindings look
    environments up at the config service once per process (presets otherwise), so
    a name only the service knows resolves at connect time. ``region`` is the old
    name of ``environment`` and is read as it. At most one of ``agora`` / ``livekit``
    may be set. For Ogg Opus a ``bitrate`` of 0 becomes :data:`OPUS_DEFAULT_BITRATE`;
    PCM requires 0.
    """

    api_key: str
    app_id: str
    avatar_id: str
    region: str | None = None
    console_url: str | None = None
    ingress_url: str | None = None
    sample_rate: int = 16000
    audio_format: AudioFormat = AudioFormat.PCM_S16LE
    bitrate: int = 0
    agora: AgoraEgress | None = None
    livekit: LiveKitEgress | None = None
    use_query_auth: bool = False
    extra_params: Mapping[str, str] = field(default_factory=FrozenStrMapping)
    environment: str = DEFAULT_ENVIRONMENT
    _console_endpoint: Endpoint | None = field(init=False, compare=False)
    _ingress_endpoint: Endpoint | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        _check_identifier(self.api_key, "api_key", secret=True, header=True)
        _check_identifier(self.app_id, "app_id", header=True)
        avatar_id = _check_identifier(self.avatar_id, "avatar_id", header=False)
        self._resolve_endpoints(avatar_id)

        audio_format = _check_audio_format(self.audio_format)
        object.__setattr__(self, "audio_format", audio_format)
        spec = AUDIO_FORMATS[audio_format]
        rates = spec.sample_rates
        if not isinstance(self.sample_rate, int) or isinstance(self.sample_rate, bool):
            raise ConfigError("sample_rate", _shown(self.sample_rate), "expected an int (Hz)")
        if self.sample_rate not in rates:
            raise ConfigError(
                "sample_rate",
                _shown(self.sample_rate),
                f"allowed for {audio_format.value}: {', '.join(map(str, rates))}",
            )
        object.__setattr__(self, "bitrate", _check_bitrate(self.bitrate, spec))

        if self.agora is not None and not isinstance(self.agora, AgoraEgress):
            raise ConfigError("agora", _shown(type(self.agora)), "expected AgoraEgress or None")
        if self.livekit is not None and not isinstance(self.livekit, LiveKitEgress):
            raise ConfigError(
                "livekit", _shown(type(self.livekit)), "expected LiveKitEgress or None"
            )
        if self.agora is not None and self.livekit is not None:
            raise ConfigError(
                "agora/livekit", "both", "at most one egress (Agora or LiveKit) per session"
            )
        _check_bool(self.use_query_auth, "use_query_auth")
        params = _check_str_mapping(self.extra_params, "extra_params")
        object.__setattr__(self, "extra_params", params)

    def _resolve_endpoints(self, avatar_id: str) -> None:
        environment = self._environment_name()
        console_url, ingress_url = self.console_url, self.ingress_url
        if (console_url is None or ingress_url is None) and environment in BUILTIN_ENVIRONMENTS:
            preset = resolve_environment(environment)
            console_url = preset.api if console_url is None else console_url
            ingress_url = preset.ingress_url if ingress_url is None else ingress_url
        # A name the presets lack waits for the binding's lookup (see with_environments).
        console = ingress = None
        if console_url is not None:
            parsed = parse_endpoint(console_url, field="console_url", websocket=False)
            console = _api_root(parsed).with_path(TOKEN_ROUTE)
        if ingress_url is not None:
            parsed = parse_endpoint(ingress_url, field="ingress_url", websocket=True)
            ingress = parsed.with_path(WEBSOCKET_SEGMENT).with_query([(AVATAR_ID_QUERY, avatar_id)])
        object.__setattr__(self, "_console_endpoint", console)
        object.__setattr__(self, "_ingress_endpoint", ingress)

    def _environment_name(self) -> str:
        """The environment, with ``region`` (its old name) read as it."""
        environment, region = self.environment, self.region
        for name, value in (("environment", environment), ("region", region)):
            if value is not None and (not isinstance(value, str) or not value):
                known = ", ".join(repr(n) for n in BUILTIN_ENVIRONMENTS)
                raise ConfigError(
                    name, _shown(value), f"expected an environment name such as {known}"
                )
        if region is None or region == environment:
            return environment
        if environment != DEFAULT_ENVIRONMENT:
            raise ConfigError(
                "region",
                _shown(region),
                f"region is the old name of environment ({environment!r}); give only one",
            )
        object.__setattr__(self, "environment", region)
        return region

    @property
    def needs_environment(self) -> bool:
        """Whether an endpoint comes from the environment (not both URLs given)."""
        return self.console_url is None or self.ingress_url is None

    def with_environments(self, fetched: Mapping[str, Mapping[str, str]]) -> SessionConfig:
        """This config with the endpoints it takes from its environment resolved against
        the config service's answer (``{name: {"api": .., "driveningress": ..}}``), the
        presets filling what it lacks; an unknown name is a :class:`ConfigError`."""
        if not self.needs_environment:
            return self
        found = resolve_environment(self.environment, fetched)
        return replace(
            self,
            region=None,
            console_url=found.api if self.console_url is None else self.console_url,
            ingress_url=found.ingress_url if self.ingress_url is None else self.ingress_url,
        )

    @property
    def console_endpoint(self) -> Endpoint:
        """Where to POST for a session token (``{api root}/v1/auth/session-token``)."""
        if self._console_endpoint is None:
            resolve_environment(self.environment)  # raises: the name is unknown so far
        assert self._console_endpoint is not None
        return self._console_endpoint

    @property
    def ingress_endpoint(self) -> Endpoint:
        """The WebSocket to open (``.../websocket?...&id=<avatar_id>``), without auth yet."""
        if self._ingress_endpoint is None:
            resolve_environment(self.environment)  # raises: the name is unknown so far
        assert self._ingress_endpoint is not None
        return self._ingress_endpoint

    @property
    def egress(self) -> AgoraEgress | LiveKitEgress | None:
        """The one egress of this session, or ``None`` when frames come back on the socket."""
        return self.agora if self.agora is not None else self.livekit

    def __repr__(self) -> str:
        return (
            f"SessionConfig(app_id={self.app_id!r}, avatar_id={self.avatar_id!r}, "
            f"environment={self.environment!r}, console={_shown_endpoint(self._console_endpoint)}, "
            f"ingress={_shown_endpoint(self._ingress_endpoint)}, "
            f"audio_format={self.audio_format.value!r}, sample_rate={self.sample_rate}, "
            f"bitrate={self.bitrate}, egress={self.egress!r}, "
            f"use_query_auth={self.use_query_auth}, "
            f"extra_params={sorted(self.extra_params)!r}, api_key={_masked(self.api_key)})"
        )


def _api_root(console: Endpoint) -> Endpoint:
    """The API root of a console URL: an older URL's ``/v1/console`` suffix stripped."""
    path = console.path.rstrip("/")
    if path.endswith(LEGACY_CONSOLE_SUFFIX):
        path = path[: -len(LEGACY_CONSOLE_SUFFIX)]
    query = console.query
    target = (path or "/") + (f"?{query}" if query else "")
    return Endpoint(console.secure, console.host, console.port, target, console.websocket)


def _shown_endpoint(endpoint: Endpoint | None) -> str:
    return repr(endpoint.redacted_url) if endpoint is not None else "'(from the environment)'"


# --- token expiry ---------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)


def _unix_seconds(expire_at: object) -> int:
    """Whole unix seconds (rounded down) of an aware datetime or a number of seconds."""
    if isinstance(expire_at, datetime):
        if expire_at.tzinfo is None or expire_at.utcoffset() is None:
            raise ConfigError(
                "expire_at",
                _shown(expire_at),
                "a naive datetime is not read as local time: give a timezone-aware one "
                "(e.g. datetime.now(timezone.utc) + timedelta(hours=1))",
            )
        return (expire_at - _EPOCH) // _SECOND
    if isinstance(expire_at, int) and not isinstance(expire_at, bool):
        return expire_at
    if isinstance(expire_at, float) and math.isfinite(expire_at):
        return math.floor(expire_at)
    raise ConfigError(
        "expire_at", _shown(expire_at), "expected an aware datetime or finite unix seconds"
    )


def expire_at_seconds(expire_at: datetime | int | float, *, now: datetime) -> int:
    """The ``expireAt`` to send (unix seconds), checked to lie in ``(now, now + 24 h]``.

    Seconds are rounded down, and the rounded value is what must be in the window,
    since that is what the service compares.
    """
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ConfigError("now", _shown(now), "expected a timezone-aware datetime")
    seconds = _unix_seconds(expire_at)
    now_us = (now - _EPOCH) // _MICROSECOND
    latest_us = now_us + MAX_TOKEN_LIFETIME // _MICROSECOND
    if not now_us < seconds * 1_000_000 <= latest_us:
        raise ConfigError(
            "expire_at",
            f"{_shown(expire_at)} ({_iso(_EPOCH, seconds)})",
            f"allowed: after now ({now.isoformat()}) and at most 24 h later "
            f"({_iso(now, MAX_TOKEN_LIFETIME)})",
        )
    return seconds


def _iso(start: datetime, offset: timedelta | int) -> str:
    """``start + offset`` in ISO 8601, or a note when it falls outside what datetime holds."""
    try:
        return (
            start + timedelta(seconds=offset) if isinstance(offset, int) else start + offset
        ).isoformat()
    except OverflowError:
        return "out of datetime range"
