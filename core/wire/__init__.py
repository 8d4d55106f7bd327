"""The ingress wire schema (``avatarkit.proto``) and its generated message classes."""

import warnings

# The committed gencode is the oldest the declared protobuf range accepts (see
# regenerate.py); runtimes 6.30 and 6.31 warn about it although it works there, and a
# user cannot act on that warning, so it is silenced while this module loads.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"Protobuf gencode version .* is exactly one major version older",
        category=UserWarning,
    )
    from .avatarkit_pb2 import (
        AgoraEgressConfig,
        AudioFormat,
        ClientAudioInput,
        ClientConfigureSession,
        ClientInterrupt,
        ClientPause,
        ClientResume,
        EgressType,
        Flame,
        FlameAnimation,
        LiveKitEgressConfig,
        Message,
        MessageType,
        PlaybackStateKind,
        ServerConfirmSession,
        ServerError,
        ServerPlaybackState,
        ServerResponseAnimation,
        TraceContext,
        TransportCompression,
    )

__all__ = [
    "AgoraEgressConfig",
    "AudioFormat",
    "ClientAudioInput",
    "ClientConfigureSession",
    "ClientInterrupt",
    "ClientPause",
    "ClientResume",
    "EgressType",
    "Flame",
    "FlameAnimation",
    "LiveKitEgressConfig",
    "Message",
    "MessageType",
    "PlaybackStateKind",
    "ServerConfirmSession",
    "ServerError",
    "ServerPlaybackState",
    "ServerResponseAnimation",
    "TraceContext",
    "TransportCompression",
]
