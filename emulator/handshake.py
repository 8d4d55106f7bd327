"""Validation of a ``ClientConfigureSession``: the refusal the service would send, or
the accepted session parameters."""

from __future__ import annotations

from dataclasses import dataclass

from avatarwire.core.audio_formats import AudioFormatSpec, format_for_wire_value
from avatarwire.core.server import ConfigureReceived
from avatarwire.core.wire import AgoraEgressConfig, LiveKitEgressConfig
from avatarwire.core.wire_constants import (
    EGRESS_TYPE_AGORA,
    EGRESS_TYPE_LIVEKIT,
    EGRESS_TYPE_NONE,
    GRPC_INVALID_ARGUMENT,
    GRPC_UNAUTHENTICATED,
    TRANSPORT_COMPRESSION_NONE,
)

#: gRPC-style codes the service puts in ``ServerError.code``.
CODE_UNSET = 0
CODE_INVALID_ARGUMENT = GRPC_INVALID_ARGUMENT
CODE_UNAUTHENTICATED = GRPC_UNAUTHENTICATED


@dataclass(frozen=True, slots=True)
class HandshakeRefusal:
    """A ``ServerError`` to send before closing the socket."""

    code: int
    text: str


@dataclass(frozen=True, slots=True)
class NegotiatedSession:
    """What an accepted configure settled; ``egress`` is ``"agora"``, ``"livekit"`` or ``None``."""

    sample_rate: int
    audio_format: AudioFormatSpec
    bitrate: int
    egress: str | None
    agora: AgoraEgressConfig | None
    livekit: LiveKitEgressConfig | None

    @property
    def audio_bytes_per_second(self) -> float:
        """How many audio bytes make one second (PCM exact; compressed from the bitrate)."""
        exact = self.audio_format.bytes_per_second(self.sample_rate)
        return self.bitrate / 8 if exact is None else float(exact)


def negotiate(
    configure: ConfigureReceived, rejected_livekit_tokens: frozenset[str]
) -> NegotiatedSession | HandshakeRefusal:
    """Check a configure message as the service does."""
    audio_format = _check_audio(configure)
    if isinstance(audio_format, HandshakeRefusal):
        return audio_format
    egress = _check_egress(configure, rejected_livekit_tokens)
    if isinstance(egress, HandshakeRefusal):
        return egress
    return NegotiatedSession(
        sample_rate=configure.sample_rate,
        audio_format=audio_format,
        bitrate=configure.bitrate,
        egress=egress,
        agora=configure.agora if egress == "agora" else None,
        livekit=configure.livekit if egress == "livekit" else None,
    )


def _check_audio(configure: ConfigureReceived) -> AudioFormatSpec | HandshakeRefusal:
    audio_format = format_for_wire_value(configure.audio_format)
    if audio_format is None:
        return HandshakeRefusal(
            CODE_INVALID_ARGUMENT, f"unsupported audio format: {configure.audio_format}"
        )
    if configure.transport_compression != TRANSPORT_COMPRESSION_NONE:
        text = f"unsupported transport compression: {configure.transport_compression}"
        return HandshakeRefusal(CODE_INVALID_ARGUMENT, text)
    if configure.sample_rate not in audio_format.sample_rates:
        return HandshakeRefusal(CODE_UNSET, f"unsupported sample rate: {configure.sample_rate}")
    if audio_format.bitrate is not None and configure.bitrate <= 0:
        text = f"{audio_format.title.lower()} audio needs a bitrate"
        return HandshakeRefusal(CODE_INVALID_ARGUMENT, text)
    return audio_format


def _invalid_egress(text: str) -> HandshakeRefusal:
    return HandshakeRefusal(CODE_INVALID_ARGUMENT, f"invalid egress config: {text}")


def _check_egress(
    configure: ConfigureReceived, rejected_livekit_tokens: frozenset[str]
) -> str | HandshakeRefusal | None:
    agora, livekit, kind = configure.agora, configure.livekit, configure.egress_type
    if agora is not None and livekit is not None:
        return _invalid_egress("set at most one of agora egress and livekit egress")
    if kind == EGRESS_TYPE_NONE:
        if agora is not None or livekit is not None:
            return _invalid_egress("an egress config needs egress_type agora or livekit")
        return None
    if kind == EGRESS_TYPE_AGORA:
        if agora is None:
            return _invalid_egress("egress_type agora needs an agora egress config")
        if not agora.channel_name:
            return _invalid_egress("agora channel_name is empty")
        return "agora"
    if kind == EGRESS_TYPE_LIVEKIT:
        if livekit is None:
            return _invalid_egress("egress_type livekit needs a livekit egress config")
        return _check_livekit(livekit, rejected_livekit_tokens)
    return _invalid_egress(f"unknown egress_type {kind}")


def _check_livekit(
    livekit: LiveKitEgressConfig, rejected_tokens: frozenset[str]
) -> str | HandshakeRefusal:
    if not livekit.url:
        return _invalid_egress("livekit url is empty")
    if not livekit.room_name:
        return _invalid_egress("livekit room_name is empty")
    if not livekit.api_token and not (livekit.api_key and livekit.api_secret):
        return _invalid_egress("livekit needs api_token (or api_key and api_secret)")
    if livekit.api_token in rejected_tokens or (
        not livekit.api_token and livekit.api_secret in rejected_tokens
    ):
        text = "failed to connect to livekit room: unauthorized: invalid token"
        return HandshakeRefusal(CODE_UNAUTHENTICATED, text)
    return "livekit"
