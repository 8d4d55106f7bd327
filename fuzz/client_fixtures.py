"""Client sessions for the harnesses: a few configs, small limits, and a valid handshake.

Limits are small so that the fuzzer reaches the oversize paths (messages, rejection
bodies, audio splitting) with inputs of a few hundred bytes.
"""

from __future__ import annotations

from fuzz_input import server_frame, switching_protocols, websocket_accept

from avatarwire.core.config import AgoraEgress, AudioFormat, LiveKitEgress, SessionConfig
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession
from avatarwire.core.wire import Message

SESSION_TOKEN = "tok-FUZZ-secret-7781"
MAX_MESSAGE_SIZE = 2048
MAX_AUDIO_CHUNK = 64
MAX_REJECTION_BODY = 256

_BASE = {
    "api_key": "key-FUZZ-secret-1",
    "app_id": "app-fuzz",
    "avatar_id": "avatar-fuzz",
    "ingress_url": "ws://127.0.0.1:9000/v2/driveningress",
    "console_url": "http://127.0.0.1:9000/v1/console",
}

#: Selected by the low two bits of a harness's config byte.
CONFIGS = (
    SessionConfig(**_BASE),  # type: ignore[arg-type]
    SessionConfig(**_BASE, agora=AgoraEgress("room-1", token="agora-secret", uid=7)),  # type: ignore[arg-type]
    SessionConfig(
        **_BASE,  # type: ignore[arg-type]
        livekit=LiveKitEgress("wss://lk.example.test", "room-2", api_token="lk-secret"),
    ),
    SessionConfig(
        **_BASE,  # type: ignore[arg-type]
        audio_format=AudioFormat.OGG_OPUS,
        sample_rate=24000,
        use_query_auth=True,
    ),
)

CAPABILITY_SETS = (
    (),
    ("playback_control",),
    ("playback_state",),
    ("playback_control", "playback_state"),
)


def new_session(selector: int) -> ClientSession:
    """A fresh session (upgrade request queued) for config ``selector & 3``."""
    return ClientSession(
        CONFIGS[selector & 3],
        SESSION_TOKEN,
        request_ids=sequential_request_ids(),
        max_message_size=MAX_MESSAGE_SIZE,
        max_audio_chunk=MAX_AUDIO_CHUNK,
        max_rejection_body=MAX_REJECTION_BODY,
    )


def confirm_message(capabilities: tuple[str, ...], connection_id: str = "conn-fuzz") -> bytes:
    """A ``ServerConfirmSession`` message."""
    message = Message(type=2)  # type: ignore[arg-type]
    message.server_confirm_session.connection_id = connection_id
    message.server_confirm_session.capabilities.extend(capabilities)
    return message.SerializeToString()


def upgrade_accept(session: ClientSession) -> tuple[bytes, bytes]:
    """Drain the session's upgrade request; returns (request, the accept value for it)."""
    request = session.data_to_send()
    return request, websocket_accept(request)


def accept_and_confirm(session: ClientSession, capabilities: tuple[str, ...]) -> bytes:
    """The bytes a valid service sends first: the 101, then a confirm frame."""
    _, accept = upgrade_accept(session)
    return switching_protocols(accept) + server_frame(confirm_message(capabilities))
