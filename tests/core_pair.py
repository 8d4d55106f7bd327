"""A client core and our server core talked into READY by each other, bytes only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from avatarwire.core.config import SessionConfig
from avatarwire.core.server import ConfigureReceived, ServerConnection, UpgradeRequested
from avatarwire.core.session import ClientSession, SessionState


def offline_config(**changes: Any) -> SessionConfig:
    """A configuration for cores that only talk to each other: nothing listens at its
    addresses (port 1 of loopback)."""
    fields: dict[str, Any] = {
        "api_key": "key",
        "app_id": "app",
        "avatar_id": "avatar",
        "console_url": "http://127.0.0.1:1/v1/console",
        "ingress_url": "ws://127.0.0.1:1/v2/driveningress",
    }
    return SessionConfig(**{**fields, **changes})


def confirmed_by_server(
    client: ClientSession, capabilities: Sequence[str] = ()
) -> tuple[ServerConnection, ConfigureReceived]:
    """Run the opening between ``client`` and a fresh server core until the client is
    READY; the server and the configure message it received."""
    server = ServerConnection()
    configure: ConfigureReceived | None = None
    while client.state is not SessionState.READY:
        server.receive_data(client.data_to_send())
        for event in server.events():
            if isinstance(event, UpgradeRequested):
                server.accept_upgrade()
            elif isinstance(event, ConfigureReceived):
                configure = event
                server.confirm_session("conn-1", capabilities)
        client.receive_data(server.data_to_send())
    assert configure is not None
    return server, configure
