"""What the service role reports to its application: small, frozen, slotted records.

The core decides nothing about keys, tokens or avatars: it reports what arrived
and leaves the answer to the application. Fields that may hold secrets (headers,
query strings, tokens, egress configs) are kept out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..wire import AgoraEgressConfig, LiveKitEgressConfig


class ServerEvent:
    """Base of every event the service-role core emits."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HttpRequestReceived(ServerEvent):
    """A plain HTTP request (not an upgrade), body complete; answer with ``respond()``."""

    method: str
    target: str = field(repr=False)
    path: str
    query: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class UpgradeRequested(ServerEvent):
    """A WebSocket upgrade; answer with ``accept_upgrade()`` or ``reject_upgrade()``.

    ``app_id`` / ``session_key`` come from the ``X-App-ID`` / ``X-Session-Key``
    headers, else from the ``appId`` / ``sessionKey`` query parameters
    (``query_auth`` says the session key came from the query). Missing ones are "".
    """

    path: str
    query: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    app_id: str
    session_key: str = field(repr=False)
    avatar_id: str
    query_auth: bool


@dataclass(frozen=True, slots=True)
class ConfigureReceived(ServerEvent):
    """The client's first message, a ``ClientConfigureSession``; answer with
    ``confirm_session()`` or ``send_error()`` + ``close()``.

    Enum fields are the wire's integer values (``audio_format``: 0 PCM s16le,
    1 Ogg Opus; ``egress_type``: 0 none, 1 LiveKit, 2 Agora). ``agora`` /
    ``livekit`` are the egress configs when present on the wire, else ``None``.
    """

    sample_rate: int
    bitrate: int
    audio_format: int
    transport_compression: int
    egress_type: int
    agora: AgoraEgressConfig | None = field(repr=False)
    livekit: LiveKitEgressConfig | None = field(repr=False)
    extra_params: dict[str, str]
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class AudioReceived(ServerEvent):
    """One ``ClientAudioInput`` message; ``end`` closes its request."""

    req_id: str
    audio: bytes = field(repr=False)
    end: bool
    traceparent: str = ""
    tracestate: str = ""


@dataclass(frozen=True, slots=True)
class InterruptReceived(ServerEvent):
    """A ``ClientInterrupt`` for ``req_id``."""

    req_id: str


@dataclass(frozen=True, slots=True)
class PauseReceived(ServerEvent):
    """A ``ClientPause`` for ``req_id`` (``playback_control`` capability)."""

    req_id: str


@dataclass(frozen=True, slots=True)
class ResumeReceived(ServerEvent):
    """A ``ClientResume`` for ``req_id`` (``playback_control`` capability)."""

    req_id: str


@dataclass(frozen=True, slots=True)
class UnexpectedMessageReceived(ServerEvent):
    """A decodable message after the first one whose type a client should not send
    (unknown, server-side, or a second configure); safe to ignore."""

    message_type: int
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientClosed(ServerEvent):
    """The client sent a close frame (the core already queued the reply).

    ``code`` is ``None`` when the close frame carried no code.
    """

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionLost(ServerEvent):
    """The TCP connection ended (EOF) without a closing handshake."""


@dataclass(frozen=True, slots=True)
class ClientProtocolViolation(ServerEvent):
    """The client broke the protocol.

    ``http_status``: the core answered with this HTTP error and is closed.
    ``close_code``: the core sent this WebSocket close code and is closed.
    Both ``None``: the first ingress message was not a configure message; the
    connection stays open so the application can answer as the service does,
    ``send_error(code, reason)`` then ``close()``; ``reason`` is then the
    service's own text ("expected clientconfiguresession message" or
    "failed to unmarshal initial message").
    """

    reason: str
    close_code: int | None = None
    http_status: int | None = None
