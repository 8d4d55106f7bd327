"""What a client says to open a session: the upgrade request and the configure message.

Also names the secrets a session holds, so errors the service echoes them in can be
masked.
"""

from __future__ import annotations

from urllib.parse import urlencode

from wsproto.events import Request

from . import codec
from .audio_formats import AUDIO_FORMATS
from .config import SessionConfig
from .wire import ClientConfigureSession, Message
from .wire_constants import (
    APP_ID_HEADER,
    APP_ID_QUERY,
    EGRESS_TYPE_AGORA,
    EGRESS_TYPE_LIVEKIT,
    SESSION_KEY_HEADER,
    SESSION_KEY_QUERY,
)


def upgrade_request(config: SessionConfig, token: str) -> Request:
    """The HTTP upgrade request: header auth by default, query auth when asked; no
    extensions and no subprotocol are offered."""
    endpoint = config.ingress_endpoint
    target = endpoint.target
    headers: list[tuple[bytes, bytes]] = []
    if config.use_query_auth:
        separator = "&" if "?" in target else "?"
        target += separator + urlencode({APP_ID_QUERY: config.app_id, SESSION_KEY_QUERY: token})
    else:
        headers = [
            (APP_ID_HEADER.encode(), config.app_id.encode()),
            (SESSION_KEY_HEADER.encode(), token.encode()),
        ]
    headers.append((b"User-Agent", b"avatarwire"))
    return Request(
        host=endpoint.host_header,
        target=target,
        extra_headers=headers,
        extensions=[],
        subprotocols=[],
    )


def configure_message(config: SessionConfig) -> bytes:
    """The ``ClientConfigureSession`` message a session opens with."""
    configure = ClientConfigureSession(
        sample_rate=config.sample_rate,
        bitrate=config.bitrate,
        audio_format=AUDIO_FORMATS[config.audio_format].wire_value,  # type: ignore[arg-type]
    )
    if config.agora is not None:
        configure.egress_type = EGRESS_TYPE_AGORA  # type: ignore[assignment]
        agora = configure.agora_egress
        agora.channel_name = config.agora.channel_name
        agora.token = config.agora.token
        agora.uid = config.agora.uid
        agora.publisher_id = config.agora.publisher_id
    elif config.livekit is not None:
        configure.egress_type = EGRESS_TYPE_LIVEKIT  # type: ignore[assignment]
        livekit = configure.livekit_egress
        livekit.url = config.livekit.url
        livekit.room_name = config.livekit.room_name
        livekit.api_token = config.livekit.api_token
        livekit.api_key = config.livekit.api_key
        livekit.api_secret = config.livekit.api_secret
        livekit.publisher_id = config.livekit.publisher_id
        livekit.idle_timeout = config.livekit.idle_timeout
        livekit.extra_attributes.update(config.livekit.extra_attributes)
    configure.extra_params.update(config.extra_params)
    message = Message(type=codec.TYPE_CLIENT_CONFIGURE_SESSION)  # type: ignore[arg-type]
    message.client_configure_session.CopyFrom(configure)
    return message.SerializeToString()


def session_secrets(config: SessionConfig, token: str) -> tuple[str, ...]:
    """Everything secret this session knows, to mask wherever the service echoes it."""
    secrets = [token, config.api_key]
    if config.agora is not None:
        secrets.append(config.agora.token)
    if config.livekit is not None:
        livekit = config.livekit
        secrets += [livekit.api_token, livekit.api_key, livekit.api_secret]
    return tuple(secret for secret in secrets if secret)
