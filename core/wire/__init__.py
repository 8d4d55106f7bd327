"""The ingress wire schema (``avatarkit.proto``) and its generated message classes."""

from .avatarkit_pb2 import (
    AgoraEgressConfig,
    ClientAudioInput,
    ClientConfigureSession,
    ClientInterrupt,
    ClientPause,
    ClientResume,
    Flame,
    FlameAnimation,
    LiveKitEgressConfig,
    Message,
    ServerConfirmSession,
    ServerError,
    ServerPlaybackState,
    ServerResponseAnimation,
    TraceContext,
)

__all__ = [
    "AgoraEgressConfig",
    "ClientAudioInput",
    "ClientConfigureSession",
    "ClientInterrupt",
    "ClientPause",
    "ClientResume",
    "Flame",
    "FlameAnimation",
    "LiveKitEgressConfig",
    "Message",
    "ServerConfirmSession",
    "ServerError",
    "ServerPlaybackState",
    "ServerResponseAnimation",
    "TraceContext",
]
