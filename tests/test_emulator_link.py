"""The emulator's link: frames made in one turn of its loop leave in one write."""

from __future__ import annotations

import asyncio
import socket

from core_pair import confirmed_by_server, offline_config

from avatarwire.core.events import AnimationFrame
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession
from avatarwire.emulator.link import Link


def test_frames_queued_in_one_turn_leave_in_one_write_in_order() -> None:
    async def scenario() -> tuple[list[int], list[str]]:
        client = ClientSession(offline_config(), "token", request_ids=sequential_request_ids())
        server, _ = confirmed_by_server(client)
        ours, theirs = socket.socketpair()
        with ours, theirs:
            _, writer = await asyncio.open_connection(sock=ours)
            link = Link(server, writer)
            writes: list[int] = []
            write = writer.write

            def counted(data: bytes) -> None:
                writes.append(len(data))
                write(data)

            writer.write = counted  # type: ignore[method-assign]
            for index in range(3):
                server.send_animation(f"req-{index}", end=False, connection_id="conn-1")
                link.flush_soon()
            assert writes == []  # not before the loop's turn is over
            await asyncio.sleep(0)
            theirs.setblocking(False)
            client.receive_data(theirs.recv(65536))
            writer.close()
        frames = [event for event in client.events() if isinstance(event, AnimationFrame)]
        return writes, [frame.req_id for frame in frames]

    writes, req_ids = asyncio.run(scenario())
    assert len(writes) == 1
    assert req_ids == ["req-0", "req-1", "req-2"]
