"""Small loopback clients for the emulator tests: raw HTTP, a raw WebSocket that can
send anything (garbage, text, wrong messages), and helpers around the asyncio binding."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from avatarwire.bindings.asyncio import AsyncSession
from avatarwire.core.config import SessionConfig
from avatarwire.core.events import Event, SessionClosed
from avatarwire.core.wire import ClientConfigureSession, Message
from avatarwire.core.wire import avatarkit_pb2 as pb
from avatarwire.emulator import Emulator

T = TypeVar("T")
TEST_DEADLINE = 20.0


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test function on a fresh event loop, under a deadline."""

    @wraps(test)
    def runner(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), TEST_DEADLINE))

    return runner


def config_for(emu: Emulator, **overrides: Any) -> SessionConfig:
    """A client config pointing at the emulator with its credentials."""
    return emu.session_config(**overrides)


async def http(
    emu: Emulator,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """One plain HTTP request; status and body (the emulator closes after each answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{emu.port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", "", ""]
    writer.write("\r\n".join(lines).encode() + body)
    response = await reader.read()
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


async def fetch_token(emu: Emulator, *, api_key: str | None = None, lifetime: int = 3600) -> str:
    """A session token from the emulator's console."""
    body = json.dumps({"expireAt": int(time.time()) + lifetime}).encode()
    status, payload = await http(
        emu,
        "POST",
        "/v1/auth/session-token",
        headers={"X-Api-Key": api_key or emu.api_key, "Content-Type": "application/json"},
        body=body,
    )
    assert status == 200, payload
    token: str = json.loads(payload)["session_token"]
    return token


def configure_bytes(**fields: Any) -> bytes:
    """A serialized ``ClientConfigureSession`` message."""
    configure = ClientConfigureSession(**fields)
    return Message(
        type=pb.MESSAGE_CLIENT_CONFIGURE_SESSION, client_configure_session=configure
    ).SerializeToString()


class RawIngress:
    """A WebSocket client that sends whatever a test wants."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.status: int | None = None
        self.body = b""
        self.closed: CloseConnection | None = None
        self._pending: list[object] = []

    @classmethod
    async def open(
        cls,
        emu: Emulator,
        *,
        token: str | None = None,
        app_id: str | None = None,
        avatar_id: str | None = None,
        path: str = "/v2/driveningress/websocket",
        query_auth: bool = False,
    ) -> RawIngress:
        """Connect and send the upgrade; read the answer (``status`` 101 when accepted)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        client = cls(reader, writer)
        token = await fetch_token(emu) if token is None else token
        app = emu.app_id if app_id is None else app_id
        target = f"{path}?id={avatar_id or emu.avatar_id}"
        headers: list[tuple[bytes, bytes]] = []
        if query_auth:
            target += f"&appId={app}&sessionKey={token}"
        else:
            headers = [(b"X-App-ID", app.encode()), (b"X-Session-Key", token.encode())]
        writer.write(
            client.ws.send(Request(host="127.0.0.1", target=target, extra_headers=headers))
        )
        await client._read_upgrade()
        return client

    async def _read_upgrade(self) -> None:
        while self.status is None or (self.status != 101 and not self._body_done):
            data = await self.reader.read(65536)
            self.ws.receive_data(data or None)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self.status = 101
                elif isinstance(event, RejectConnection):
                    self.status = event.status_code
                    self._body_done = not event.has_body
                elif isinstance(event, RejectData):
                    self.body += event.data
                    self._body_done = event.body_finished
                else:
                    self._pending.append(event)
            if not data:
                return

    _body_done = False

    def send(self, data: bytes | str) -> None:
        """Send one binary (bytes) or text (str) message."""
        message = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        self.writer.write(self.ws.send(message))

    def send_raw(self, data: bytes) -> None:
        """Send bytes outside WebSocket framing."""
        self.writer.write(data)

    async def receive(self, timeout: float = 5.0) -> bytes | str | CloseConnection | None:
        """The next message, the close frame, or ``None`` at EOF."""
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if isinstance(event, BytesMessage):
                    return bytes(event.data)
                if isinstance(event, TextMessage):
                    return event.data
                if isinstance(event, CloseConnection):
                    self.closed = event
                    return event
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.ws.receive_data(data)
            self._pending.extend(self.ws.events())

    async def receive_message(self, timeout: float = 5.0) -> Message:
        """The next message, decoded; fails on anything else."""
        data = await self.receive(timeout)
        assert isinstance(data, bytes), data
        return Message.FromString(data)

    def close(self) -> None:
        """Drop the TCP connection."""
        self.writer.close()


async def events_until(
    session: AsyncSession, stop: Callable[[Event], bool], timeout: float = 10.0
) -> list[Event]:
    """Events of ``session`` up to and including the first that satisfies ``stop``."""
    seen: list[Event] = []

    async def collect() -> None:
        async for event in session:
            seen.append(event)
            if stop(event) or isinstance(event, SessionClosed):
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


async def within(awaitable: Awaitable[T], timeout: float = 5.0) -> T:
    """Await under a deadline."""
    return await asyncio.wait_for(awaitable, timeout)
