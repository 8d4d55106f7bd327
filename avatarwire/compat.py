"""A drop-in for the official ``spatialreal`` SDK (and the retired ``avatarkit``).

Change the import only: ``from avatarwire.compat import new_avatar_session``.
See :mod:`avatarwire.bindings.compat` for what differs (all of it stricter).
"""

from avatarwire.bindings.compat import (
    ACCEPTED_KEYWORDS,
    AgoraEgressConfig,
    AudioFormat,
    AvatarSDKError,
    AvatarSDKErrorCode,
    AvatarSession,
    CloseCode,
    InterruptReason,
    LiveKitEgressConfig,
    OggOpusEncoderConfig,
    PlaybackSignal,
    PlaybackState,
    PlaybackStateEvent,
    SessionConfig,
    SessionConfigBuilder,
    SessionTokenError,
    SessionUsageError,
    __version__,
    generate_log_id,
    new_avatar_session,
)

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
