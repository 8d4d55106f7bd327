"""Our client against a service built on another WebSocket stack (websockets).

The server pings as soon as it accepts (its ping may share a read with the 101),
sends the confirmation and frames as fragmented messages, and pings between
frames: every binding must take all of it the way the protocol says.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from binding_adapters import BINDINGS, Api, api_for

from avatarwire.core.config import SessionConfig
from avatarwire.core.events import AnimationFrame, RequestFinished, SessionReady
from avatarwire.core.wire import Message

websockets_server = pytest.importorskip(
    "websockets.asyncio.server", reason="websockets is not installed (extras 'test'/'fast')"
)

FRAMES_PER_REQUEST = 5


def _confirm() -> bytes:
    message = Message(type=2)  # type: ignore[arg-type]
    message.server_confirm_session.connection_id = "foreign-1"
    return message.SerializeToString()


def _animation(req_id: str, number: int, end: bool) -> bytes:
    message = Message(type=5)  # type: ignore[arg-type]
    message.server_response_animation.connection_id = "foreign-1"
    message.server_response_animation.req_id = req_id
    message.server_response_animation.end = end
    message.server_response_animation.avatar_id = f"frame-{number}" + "x" * 300
    return message.SerializeToString()


def _fragments(data: bytes) -> list[bytes]:
    third = max(1, len(data) // 3)
    return [data[:third], data[third : 2 * third], data[2 * third :]]


async def _serve_one(connection: Any) -> None:
    await connection.ping(b"hello")  # right after the 101, before the client spoke
    configure = Message.FromString(await connection.recv())
    assert configure.type == 1
    await connection.send(_fragments(_confirm()))
    async for raw in connection:
        message = Message.FromString(raw)
        audio = message.client_audio_input
        if message.type == 3 and audio.end:
            for number in range(FRAMES_PER_REQUEST):
                last = number == FRAMES_PER_REQUEST - 1
                await connection.send(_fragments(_animation(audio.req_id, number, last)))
                await connection.ping(f"between-{number}".encode())


class ForeignService:
    """The websockets server on a loopback port, in a thread of its own."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="foreign-service", daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = self._loop.create_future()
        async with websockets_server.serve(_serve_one, "127.0.0.1", 0, compression=None) as srv:
            self.port = next(iter(srv.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def __enter__(self) -> ForeignService:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self._stop
        assert stop is not None
        self._loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
        self._thread.join(10)

    def config(self) -> SessionConfig:
        return SessionConfig(
            api_key="unused",
            app_id="app",
            avatar_id="avatar",
            console_url=f"http://127.0.0.1:{self.port}/v1/console",
            ingress_url=f"ws://127.0.0.1:{self.port}/v2/driveningress",
        )


@pytest.fixture(scope="module")
def service() -> Iterator[ForeignService]:
    with ForeignService() as running:
        yield running


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_websockets_server_that_pings_and_fragments_is_understood(
    binding: str, service: ForeignService
) -> None:
    api: Api = api_for(binding)

    async def scenario(api: Api) -> tuple[str, list[AnimationFrame]]:
        async with api.connect(service.config(), session_token="token-1234") as session:
            assert session.connection_id == "foreign-1"
            req_id = await session.send_audio(b"\x00\x01" * 800, end=True)
            frames: list[AnimationFrame] = []
            while True:
                event = await session.next_event()
                assert not isinstance(event, SessionReady)
                if isinstance(event, AnimationFrame):
                    frames.append(event)
                elif isinstance(event, RequestFinished):
                    assert not event.interrupted
                    return req_id, frames

    req_id, frames = api.run(scenario)
    assert [f.data for f in frames] == [
        _animation(req_id, number, number == FRAMES_PER_REQUEST - 1)
        for number in range(FRAMES_PER_REQUEST)
    ]
