"""Bad clients, many clients, TLS and clean shutdown: the emulator keeps serving."""

from __future__ import annotations

import asyncio
import ssl

import trustme
from emulator_client import RawIngress, config_for, configure_bytes, events_until, run_async
from wsproto.events import CloseConnection

from avatarwire.bindings.asyncio import connect
from avatarwire.core.codec import encode_audio_input
from avatarwire.core.events import AnimationFrame, RequestFinished
from avatarwire.emulator import Emulator

CHUNK = bytes(3200)


async def _configured(emu: Emulator) -> RawIngress:
    raw = await RawIngress.open(emu)
    raw.send(configure_bytes(sample_rate=16000))
    assert (await raw.receive_message()).server_confirm_session.connection_id
    return raw


async def _misbehave(emu: Emulator, how: str) -> object:
    """One misbehaving client; returns what the emulator answered."""
    if how == "not-http":
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        writer.write(b"\x16\x03\x01 garbage that is not HTTP\r\n\r\n")
        response = await reader.read()
        writer.close()
        return response.split(b" ", 2)[1]
    raw = await _configured(emu)
    if how == "garbage-frames":
        raw.send_raw(b"\x00\xff" * 64)
    elif how == "text":
        raw.send("hello")
    elif how == "huge":
        raw.send(encode_audio_input("r", bytes(70_000), False))
    elif how == "undecodable":
        raw.send(b"\xff\xff\xff\xff")
    elif how == "odd-audio":
        raw.send(encode_audio_input("r", b"\x01", False))  # half a sample is fine mid-request
        raw.send(encode_audio_input("r", b"\x02\x03", True))  # ending on one is not
        return (await raw.receive_message()).server_error.code
    while True:
        answer = await raw.receive()
        if answer is None or isinstance(answer, CloseConnection):
            return answer.code if answer is not None else None


@run_async
async def test_bad_clients_get_their_answer_and_never_disturb_a_live_session() -> None:
    async with (
        Emulator(realtime=False, max_message_size=64 * 1024) as emu,
        connect(config_for(emu)) as session,
    ):
        await session.send_audio(CHUNK)
        answers = await asyncio.gather(
            *(
                _misbehave(emu, how)
                for how in (
                    "not-http",
                    "garbage-frames",
                    "text",
                    "huge",
                    "undecodable",
                    "odd-audio",
                )
            )
        )
        assert answers == [b"400", 1002, 1003, 1009, 1007, 3]
        await session.send_audio(CHUNK, end=True)
        events = await events_until(session, lambda e: isinstance(e, RequestFinished))
        assert len([e for e in events if isinstance(e, AnimationFrame)]) == 5


@run_async
async def test_audio_after_the_client_closed_is_ignored() -> None:
    async with Emulator(realtime=False) as emu:
        raw = await _configured(emu)
        raw.writer.write(raw.ws.send(CloseConnection(code=1000)))
        raw.send_raw(b"\x82\x05hello")
        assert isinstance(await raw.receive(), CloseConnection)
        assert await raw.receive() is None


@run_async
async def test_connections_and_their_tasks_are_gone_after_close_and_stop() -> None:
    before = len(asyncio.all_tasks())
    emu = Emulator()
    await emu.start()
    async with connect(config_for(emu)) as session:
        await session.send_audio(bytes(32_000), end=True)  # real time: still playing at exit
        await events_until(session, lambda e: isinstance(e, AnimationFrame))
    stalled = await RawIngress.open(emu)  # upgraded, never configured
    await emu.stop()
    assert emu.active_sessions == 0
    assert len(asyncio.all_tasks()) == before
    stalled.close()


@run_async
async def test_five_hundred_concurrent_sessions_each_get_their_frames() -> None:
    async with Emulator(realtime=False) as emu:

        async def one_session() -> int:
            async with connect(config_for(emu)) as session:
                await session.send_audio(bytes(6400), end=True)
                events = await events_until(session, lambda e: isinstance(e, RequestFinished), 15)
                return len([e for e in events if isinstance(e, AnimationFrame)])

        counts = await asyncio.gather(*(one_session() for _ in range(500)))
        assert counts == [5] * 500


@run_async
async def test_tls_serves_https_and_wss() -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    async with Emulator(realtime=False, ssl_context=server_context) as emu:
        assert emu.console_url.startswith("https://") and emu.ingress_url.startswith("wss://")
        async with connect(config_for(emu), ssl_context=client_context) as session:
            await session.send_audio(CHUNK, end=True)
            events = await events_until(session, lambda e: isinstance(e, RequestFinished))
            assert any(isinstance(e, AnimationFrame) for e in events)
