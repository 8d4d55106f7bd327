"""``session.stream()`` on every binding, against the emulator: the audio arrives whole,
in order, under one request, and never ahead of real time by the emulator's own record
of when each message arrived; an interrupt stops the stream; the trio run and the
asyncio loop each pace all their sessions with one timer."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.bindings import trio_pacer
from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.core.errors import ConfigError
from avatarwire.core.events import RequestFinished
from avatarwire.core.pacing import SLACK
from avatarwire.emulator import EmulatorThread

RATE = 32000  # bytes per second of 16 kHz 16-bit PCM
CHUNK = 640  # 20 ms
#: A clock read twice (trio's and the monotonic one) to convert between them.
CONVERSION = 0.001


def pcm(size: int, seed: int = 0) -> bytes:
    return bytes((seed + index) % 251 for index in range(size))


def chunks_of(audio: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for offset in range(0, len(audio), size):
        yield audio[offset : offset + size]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    emu = EmulatorThread(realtime=False)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def egress_config(emu: EmulatorThread, channel: str) -> SessionConfig:
    return emu.session_config(agora=AgoraEgress(channel_name=channel, token="t", uid=1))


def stream_asyncio(config: SessionConfig, audio: bytes, ahead: float) -> tuple[str, float]:
    async def scenario() -> tuple[str, float]:
        async with asyncio_binding.connect(config) as session:
            start = asyncio.get_running_loop().time() + 0.01  # the loop's clock is monotonic
            req_id = await session.stream(chunks_of(audio), start=start, ahead=ahead)
            async for event in session:
                if isinstance(event, RequestFinished) and event.req_id == req_id:
                    return req_id, start
        raise AssertionError("the session closed first")

    return asyncio.run(scenario())


def stream_trio(config: SessionConfig, audio: bytes, ahead: float) -> tuple[str, float]:
    async def scenario() -> tuple[str, float]:
        async with trio_binding.connect(config) as session:
            offset = trio.current_time() - time.monotonic()
            start = trio.current_time() + 0.01
            req_id = await session.stream(chunks_of(audio), start=start, ahead=ahead)
            async for event in session:
                if isinstance(event, RequestFinished) and event.req_id == req_id:
                    return req_id, start - offset
        raise AssertionError("the session closed first")

    return trio.run(scenario)


def stream_blocking(config: SessionConfig, audio: bytes, ahead: float) -> tuple[str, float]:
    with blocking_binding.connect(config) as session:
        start = time.monotonic() + 0.01
        req_id = session.stream(chunks_of(audio), start=start, ahead=ahead)
        status = session.wait_for_request(req_id, timeout=10)
        assert status.finished
        return req_id, start


RUNS = {"asyncio": stream_asyncio, "trio": stream_trio, "blocking": stream_blocking}


@pytest.mark.parametrize("ahead", [0.0, 0.04])
@pytest.mark.parametrize("binding", list(RUNS))
def test_streamed_audio_arrives_whole_and_never_ahead_of_real_time(
    emulator: EmulatorThread, binding: str, ahead: float
) -> None:
    audio = pcm(CHUNK * 15, seed=len(binding))
    channel = f"stream-{binding}-{ahead}"
    req_id, start = RUNS[binding](egress_config(emulator, channel), audio, ahead)
    [publisher] = emulator.egress()["agora"][channel]
    [published] = publisher["requests"]
    assert published["req_id"] == req_id and published["completed"]
    assert published["audio_sha256"] == hashlib.sha256(audio).hexdigest()
    arrivals = emulator.emulator.sink.arrivals(req_id)
    assert sum(size for _, size in arrivals) == len(audio)
    assert all(size % CHUNK == 0 for _, size in arrivals[:-1]), "a message split a chunk"
    before = 0
    for arrived, size in arrivals:  # by the emulator's clock: never early
        due = start + before / RATE
        assert arrived >= due - ahead - SLACK - CONVERSION, (before, arrived - due)
        before += size
    if ahead == 0.0:
        assert len(arrivals) >= 15 // 2, "the audio came in a burst, not at the session rate"


def test_a_blocking_stream_stops_at_an_interrupt_from_its_source(
    emulator: EmulatorThread,
) -> None:
    channel = "stream-blocking-cut"
    with blocking_binding.connect(egress_config(emulator, channel)) as session:

        def barge_in() -> Iterator[bytes]:
            for _ in range(3):
                yield pcm(CHUNK, seed=1)
            session.interrupt()  # all of it is due at once: the three are dropped too
            for _ in range(10):
                yield pcm(CHUNK, seed=2)

        opened = session.send_audio(pcm(CHUNK))
        past = time.monotonic() - 60
        req_id = session.stream(barge_in(), start=past)
        assert req_id == opened
        status = session.request(req_id)
        assert status is not None and status.audio_bytes == CHUNK
        assert status.interrupted and not status.audio_ended
        after = session.stream(chunks_of(pcm(CHUNK * 2)), start=past)
        assert after != req_id
        assert session.wait_for_request(after, timeout=10).finished
    published = emulator.egress()["agora"][channel][0]["requests"]
    assert [record["req_id"] for record in published] == [req_id, after]
    assert not published[0]["completed"] and published[1]["completed"]


def test_trio_streams_stop_at_an_interrupt_and_share_one_pacer_task(
    emulator: EmulatorThread,
) -> None:
    whole = pcm(CHUNK * 20, seed=3)
    configs = [egress_config(emulator, name) for name in ("trio-cut", "trio-whole")]

    async def scenario() -> tuple[str, str, list[str]]:
        async with (
            trio_binding.connect(configs[0]) as cut,
            trio_binding.connect(configs[1]) as other,
        ):
            past = trio.current_time() - 60
            results: dict[str, str] = {}

            async def barge_in() -> Any:
                for _ in range(3):
                    yield pcm(CHUNK, seed=1)
                while (req_id := cut._current_request()) is None or (
                    cut.request(req_id).audio_bytes < 3 * CHUNK  # type: ignore[union-attr]
                ):
                    await trio.sleep(0)  # until the pacer has sent all three
                await cut.interrupt()
                for _ in range(10):
                    yield pcm(CHUNK, seed=2)

            async def run(name: str, session: trio_binding.TrioSession, source: Any) -> None:
                results[name] = await session.stream(source, start=past)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, "cut", cut, barge_in())
                nursery.start_soon(run, "other", other, chunks_of(whole))
            status = cut.request(results["cut"])
            assert status is not None and status.audio_bytes == 3 * CHUNK
            assert status.interrupted and not status.audio_ended
            root = trio.lowlevel.current_root_task()
            assert root is not None
            system = root.child_nurseries
            pacers = [
                task.name
                for nursery in system
                for task in nursery.child_tasks
                if task.name == "avatarwire pacer"
            ]
            assert trio_pacer.pacer() is trio_pacer.pacer()
            return results["cut"], results["other"], pacers

    cut_id, other_id, pacers = trio.run(scenario)
    assert pacers == ["avatarwire pacer"]
    [cut_request] = emulator.egress()["agora"]["trio-cut"][0]["requests"]
    assert cut_request["req_id"] == cut_id and not cut_request["completed"]
    [other_request] = emulator.egress()["agora"]["trio-whole"][0]["requests"]
    assert other_request["req_id"] == other_id
    assert other_request["audio_sha256"] == hashlib.sha256(whole).hexdigest()


def test_a_cancelled_trio_stream_stops_and_the_session_goes_on(emulator: EmulatorThread) -> None:
    async def scenario() -> int:
        async with trio_binding.connect(emulator.session_config()) as session:
            endless = (pcm(CHUNK) for _ in range(100_000))
            with trio.move_on_after(0.1):
                await session.stream(endless)
            req_id = session._current_request()
            assert req_id is not None
            sent = session.request(req_id).audio_bytes  # type: ignore[union-attr]
            await session.interrupt()
            past = trio.current_time() - 60
            after = await session.stream(chunks_of(pcm(CHUNK * 3)), start=past)
            assert after != req_id
            assert session.request(after).audio_bytes == 3 * CHUNK  # type: ignore[union-attr]
            assert session.request(req_id).audio_bytes == sent  # type: ignore[union-attr]
            return sent

    assert trio.run(scenario) > 0


@pytest.mark.parametrize(("option", "value"), [("ahead", 1.0), ("ahead", True), ("start", "now")])
def test_a_bad_ahead_or_start_is_a_config_error_on_every_binding(
    emulator: EmulatorThread, option: str, value: object
) -> None:
    with (
        blocking_binding.connect(emulator.session_config()) as session,
        pytest.raises(ConfigError, match=option),
    ):
        session.stream([pcm(64)], **{option: value})  # type: ignore[arg-type]

    async def in_trio() -> None:
        async with trio_binding.connect(emulator.session_config()) as session:
            with pytest.raises(ConfigError, match=option):
                await session.stream([pcm(64)], **{option: value})  # type: ignore[arg-type]

    trio.run(in_trio)


def test_a_cancelled_asyncio_stream_of_an_async_source_sends_nothing_more(
    emulator: EmulatorThread,
) -> None:
    async def scenario() -> int:
        async with asyncio_binding.connect(emulator.session_config()) as session:
            fed = asyncio.Event()

            async def speaker() -> Any:
                for _ in range(50):  # a second of audio, due over a second
                    yield pcm(CHUNK)
                fed.set()
                await asyncio.Event().wait()  # then nothing more, until cancelled

            task = asyncio.ensure_future(session.stream(speaker()))
            await fed.wait()
            while (req_id := session._current_request()) is None:
                await asyncio.sleep(0)  # until the pacer sent the first chunk
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            sent = session.request(req_id).audio_bytes  # type: ignore[union-attr]
            # The next chunk was due within 20 ms: the pacer's timer for it fires
            # before this one (timers run in due order), and must find the stream over.
            await asyncio.sleep(0.05)
            assert session.request(req_id).audio_bytes == sent  # type: ignore[union-attr]
            await session.interrupt()
            past = asyncio.get_running_loop().time() - 60
            after = await session.stream(chunks_of(pcm(CHUNK * 3)), start=past)
            assert after != req_id
            assert session.request(req_id).audio_bytes == sent  # type: ignore[union-attr]
            return sent

    assert 0 < asyncio.run(scenario()) < 50 * CHUNK
