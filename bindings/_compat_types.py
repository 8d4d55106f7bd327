"""The official SDK's records: configs as it spells them, and its playback events.

They are plain, mutable (configs) or frozen (events) dataclasses with the official
field names, order and defaults; secrets never show in a ``repr``. The configs are
turned into the core's validated records when a session is made.
"""

from __future__ import annotations

import contextlib
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from typing import Any

from avatarwire.core.config import AgoraEgress, AudioFormat, LiveKitEgress, mask_secret
from avatarwire.core.endpoints import redact_url
from avatarwire.core.environments import DEFAULT_ENVIRONMENT
from avatarwire.core.steps import Timeouts

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "AgoraEgressConfig",
    "AudioFormat",
    "InterruptReason",
    "LiveKitEgressConfig",
    "OggOpusEncoderConfig",
    "PlaybackSignal",
    "PlaybackState",
    "PlaybackStateEvent",
    "SessionConfig",
    "SessionConfigBuilder",
]


# --- playback events ----------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybackSignal:
    """One animation message, parsed: without egress ``end`` means generation complete;
    with egress the frames are empty control signals and ``end`` means playout drained."""

    req_id: str
    end: bool
    connection_id: str = ""
    avatar_id: str = ""
    has_animation: bool = False


class PlaybackState(str, Enum):
    """A playout state the service reports (``playback_state`` servers only)."""

    UNSPECIFIED = "unspecified"
    PLAYING = "playing"
    PAUSED = "paused"
    ENDED = "ended"
    INTERRUPTED = "interrupted"


class InterruptReason(str, Enum):
    """Why a request was INTERRUPTED: an interrupt, a newer request, or a pause held too long."""

    EXPLICIT = "explicit"
    PREEMPTED = "preempted"
    PAUSE_TIMEOUT = "pause_timeout"


@dataclass(frozen=True)
class PlaybackStateEvent:
    """Where playout of a request stands: a reply to each pause/resume, or the server's
    own PLAYING / ENDED / INTERRUPTED; ``played_ms`` stands still while paused."""

    req_id: str
    state: PlaybackState
    played_ms: int = 0
    reason: str = ""
    connection_id: str = ""


# --- egress ---------------------------------------------------------------------------------


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
    api_token: str = ""
    room_name: str = ""
    publisher_id: str = ""
    extra_attributes: dict[str, str] = field(default_factory=dict)
    idle_timeout: int = 0
    api_key: str = ""
    api_secret: str = ""

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


@dataclass
class OggOpusEncoderConfig:
    """The retired SDK's client-side Opus encoder settings; avatarwire does not encode,
    so a session given one is refused (send Ogg Opus you encoded yourself)."""

    frame_duration_ms: int = 20
    application: str = "audio"


# --- the session config ---------------------------------------------------------------------


@dataclass(repr=False)
class SessionConfig:
    """Everything an :class:`AvatarSession` needs, under the official SDK's names.

    ``environment`` names the deployment (endpoints follow from it); an explicit
    ``console_endpoint_url`` / ``ingress_endpoint_url`` overrides it. After the
    official fields come the retired SDK's encoder options (refused when set) and
    avatarwire's own: ``ssl_context`` and per-step ``timeouts``.
    """

    avatar_id: str = ""
    api_key: str = ""
    app_id: str = ""
    use_query_auth: bool = False
    expire_at: datetime | None = None
    sample_rate: int = 16000
    bitrate: int = 0
    audio_format: AudioFormat = AudioFormat.PCM_S16LE
    environment: str = DEFAULT_ENVIRONMENT
    console_endpoint_url: str = ""
    ingress_endpoint_url: str = ""
    livekit_egress: LiveKitEgressConfig | None = None
    agora_egress: AgoraEgressConfig | None = None
    on_playback: Callable[[PlaybackSignal], object] | None = None
    on_playback_state: Callable[[PlaybackStateEvent], object] | None = None
    transport_frames: Callable[[bytes, bool], object] | None = None
    on_error: Callable[[Exception], object] | None = None
    on_close: Callable[[], object] | None = None
    token_request_timeout: float = 30.0
    ogg_opus_encoder: OggOpusEncoderConfig | None = None
    on_encoded_audio: Callable[[str, bytes], object] | None = None
    ssl_context: ssl.SSLContext | None = None
    timeouts: Timeouts | None = None

    def __post_init__(self) -> None:
        with contextlib.suppress(ValueError):  # else refused when the session is made
            self.audio_format = AudioFormat(self.audio_format)

    def __repr__(self) -> str:
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "api_key":
                shown.append(f"api_key={mask_secret(value)}")
            elif callable(value) and not isinstance(value, Enum):
                shown.append(f"{item.name}=<callable>")
            elif item.name.endswith("_url") and value:
                shown.append(f"{item.name}={redact_url(value)!r}")
            else:
                shown.append(f"{item.name}={value!r}")
        return f"SessionConfig({', '.join(shown)})"


#: The keywords ``new_avatar_session`` takes: every :class:`SessionConfig` field.
SESSION_KEYWORDS = tuple(item.name for item in fields(SessionConfig))


class SessionConfigBuilder:
    """The retired SDK's fluent builder: ``SessionConfigBuilder().with_avatar_id(...).build()``."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Callable[[Any], SessionConfigBuilder]:
        field_name = name.removeprefix("with_")
        if not name.startswith("with_") or field_name not in SESSION_KEYWORDS:
            raise AttributeError(f"SessionConfigBuilder has no method {name!r}")

        def setter(value: Any = None) -> SessionConfigBuilder:
            if field_name == "ogg_opus_encoder" and value is None:
                value = OggOpusEncoderConfig()
            self._values[field_name] = value
            return self

        return setter

    def build(self) -> SessionConfig:
        """The config with every value given so far."""
        return SessionConfig(**self._values)
