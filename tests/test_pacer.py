"""The asyncio pacer: one timer per loop sends every session's audio as it falls due,
never early, in order, under one request; against the emulator and a recording session."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatarwire.bindings.asyncio import connect
from avatarwire.bindings.pacer import READ_AHEAD, SLACK, pacer_for, stream_paced
from avatarwire.core.config import AgoraEgress, AudioFormat
from avatarwire.core.errors import AvatarError, ConfigError, LocalProtocolError
from avatarwire.core.events import RequestFinished
from avatarwire.emulator import Emulator, Fault

RATE = 16000 * 2  # bytes per second of 16 kHz PCM


def pcm(size: int, seed: int = 0) -> bytes:
    return bytes((seed + index) % 251 for index in range(size))


class RecordingSession:
    """A session stand-in that records when the pacer hands it each chunk."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[float, bytes, bool]] = []
        self.writable = True
        self.waiting: list[Callable[[], None]] = []

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        self.sent.append((self.loop.time(), audio, end))
        return "req-1"

    def _write_paced(self) -> None:
        pass

    def _current_request(self) -> str | None:
        return "req-1"

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        if self.writable:
            return False
        self.waiting.append(wake)
        return True

    def drain(self) -> None:
        self.writable = True
        waiting, self.waiting = self.waiting, []
        for wake in waiting:
            wake()


def config(**overrides: object) -> object:
    from test_session import make_config

    return make_config(**overrides)


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 320).map(lambda n: 2 * n), min_size=1, max_size=8))
def test_chunks_go_out_in_order_never_before_their_audio_would_start(sizes: list[int]) -> None:
    async def scenario() -> tuple[float, list[tuple[float, bytes, bool]]]:
        loop = asyncio.get_running_loop()
        session = RecordingSession(loop)
        start = loop.time()
        chunks = [pcm(size, seed) for seed, size in enumerate(sizes)]
        req_id = await stream_paced(session, config(), chunks, end=True, start=start)  # type: ignore[arg-type]
        assert req_id == "req-1"
        return start, session.sent

    start, sent = asyncio.run(scenario())
    assert b"".join(chunk for _, chunk, _ in sent) == b"".join(
        pcm(size, seed) for seed, size in enumerate(sizes)
    )
    assert [end for _, _, end in sent] == [False] * (len(sent) - 1) + [True]
    played = 0
    for when, chunk, _ in sent:  # a message's first byte is the earliest due in it
        # In the pacer's own order of float operations: due <= now + SLACK.
        assert start + played / RATE <= when + SLACK, "a chunk went out before it was due"
        played += len(chunk)


def test_every_paced_session_of_a_loop_shares_one_timer() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        sessions = [RecordingSession(loop) for _ in range(50)]
        streams = [
            asyncio.ensure_future(
                stream_paced(session, config(), [pcm(640)] * 3, end=True)  # type: ignore[arg-type]
            )
            for session in sessions
        ]
        await asyncio.sleep(0)
        pacer = pacer_for(loop)
        timers = [
            handle
            for handle in loop._scheduled  # type: ignore[attr-defined]
            if not handle.cancelled() and handle._callback == pacer._fire
        ]
        await asyncio.gather(*streams)
        assert all(len(session.sent) == 4 for session in sessions)
        return len(timers)

    assert asyncio.run(scenario()) == 1


def test_an_async_source_is_read_at_most_read_ahead_beyond_the_schedule() -> None:
    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        session = RecordingSession(loop)
        ahead: list[int] = []
        produced = 0

        async def source() -> AsyncIterator[bytes]:
            nonlocal produced
            for _ in range(60):  # 1.2 s of audio, offered as fast as it is taken
                sent = sum(len(chunk) for _, chunk, _ in session.sent)
                ahead.append(produced - sent)
                produced += 640
                yield pcm(640)

        await stream_paced(session, config(), source(), end=False)  # type: ignore[arg-type]
        assert sum(len(chunk) for _, chunk, _ in session.sent) == 60 * 640
        assert not any(end for _, _, end in session.sent)  # end=False: the request stays open
        return ahead

    assert max(asyncio.run(scenario())) <= READ_AHEAD * RATE + 640


def test_a_stream_waits_while_the_socket_is_not_writable() -> None:
    async def scenario() -> list[tuple[float, bytes, bool]]:
        loop = asyncio.get_running_loop()
        session = RecordingSession(loop)
        session.writable = False
        streaming = asyncio.ensure_future(
            stream_paced(session, config(), [pcm(64)] * 2, end=True)  # type: ignore[arg-type]
        )
        for _ in range(5):
            await asyncio.sleep(0.002)
        assert session.sent == []
        assert len(session.waiting) == 1  # it waits for the drain, it does not poll
        session.drain()
        await streaming
        return session.sent

    # Both chunks fell due while it waited: they go out at once, ending the request.
    assert [entry[1:] for entry in asyncio.run(scenario())] == [(pcm(64) * 2, True)]


def test_realtime_pacing_needs_pcm() -> None:
    async def scenario() -> None:
        session = RecordingSession(asyncio.get_running_loop())
        opus = config(audio_format=AudioFormat.OGG_OPUS, bitrate=32000)
        await stream_paced(session, opus, [b"OggS"], end=True)  # type: ignore[arg-type]

    with pytest.raises(LocalProtocolError, match="realtime=True"):
        asyncio.run(scenario())


def chunks_of(audio: bytes, size: int) -> Iterator[bytes]:
    for offset in range(0, len(audio), size):
        yield audio[offset : offset + size]


@pytest.mark.parametrize("realtime", [True, False])
def test_streamed_audio_reaches_the_service_whole_under_one_request(realtime: bool) -> None:
    audio = pcm(640 * 12, seed=7)
    channel = f"paced-{realtime}"

    async def scenario() -> tuple[str, list[dict[str, object]]]:
        async with Emulator(realtime=False) as emu:
            agora = AgoraEgress(channel_name=channel, token="t", uid=1)
            async with connect(emu.session_config(agora=agora)) as session:
                req_id = await session.stream(chunks_of(audio, 640), realtime=realtime)
                while True:
                    event = await asyncio.wait_for(session.next_event(), 5)
                    if isinstance(event, RequestFinished) and event.req_id == req_id:
                        break
            [publisher] = emu.egress()["agora"][channel]
            return req_id, publisher["requests"]

    req_id, published = asyncio.run(scenario())
    assert [record["req_id"] for record in published] == [req_id]
    assert published[0]["audio_sha256"] == hashlib.sha256(audio).hexdigest()
    assert published[0]["completed"]


def test_a_session_that_closes_mid_stream_fails_the_stream_with_its_error() -> None:
    async def scenario() -> AvatarError:
        async with Emulator(realtime=False, fault=Fault.close(4503, after_audio=3)) as emu:
            session_opened = connect(emu.session_config())
            async with session_opened as session:
                endless = (pcm(640) for _ in range(10_000))
                with pytest.raises(AvatarError) as raised:
                    await asyncio.wait_for(session.stream(endless), 10)
                return raised.value

    error = asyncio.run(scenario())
    assert error.close_code == 4503


def test_interrupting_one_paced_stream_stops_it_and_leaves_the_other_whole() -> None:
    whole = pcm(640 * 20, seed=3)

    async def scenario() -> tuple[str, str, dict[str, list[dict[str, object]]]]:
        async with Emulator(realtime=False) as emu:
            loop = asyncio.get_running_loop()
            past = loop.time() - 60  # every chunk is due as soon as it is offered
            configs = [
                emu.session_config(agora=AgoraEgress(channel_name=name, token="t", uid=1))
                for name in ("cut", "whole")
            ]
            async with connect(configs[0]) as cut, connect(configs[1]) as other:

                async def barge_in() -> AsyncIterator[bytes]:
                    for _ in range(3):
                        yield pcm(640, seed=1)
                    while (req_id := cut._current_request()) is None or (
                        cut.request(req_id).audio_bytes < 3 * 640  # type: ignore[union-attr]
                    ):
                        await asyncio.sleep(0)  # until the pacer has sent all three
                    await cut.interrupt()
                    for _ in range(10):
                        yield pcm(640, seed=2)

                cut_id, other_id = await asyncio.gather(
                    cut.stream(barge_in(), start=past),
                    other.stream(chunks_of(whole, 640), start=past),
                )
                status = cut.request(cut_id)
                assert status is not None and status.audio_bytes == 3 * 640
                assert status.interrupted and not status.audio_ended
                while other.request(other_id).frames == 0:  # type: ignore[union-attr]
                    await asyncio.sleep(0.01)
            return cut_id, other_id, emu.egress()["agora"]

    cut_id, other_id, agora = asyncio.run(scenario())
    [cut_request] = agora["cut"][0]["requests"]
    assert cut_request["req_id"] == cut_id and not cut_request["completed"]
    [other_request] = agora["whole"][0]["requests"]
    assert other_request["req_id"] == other_id
    assert other_request["audio_sha256"] == hashlib.sha256(whole).hexdigest()


def test_a_paced_stream_into_a_slow_reader_arrives_whole() -> None:
    audio = pcm(640 * 250, seed=5)  # 5 s of audio, all due at once, read slowly

    async def scenario() -> list[dict[str, object]]:
        async with Emulator(realtime=False, fault=Fault.slow_reads(400_000)) as emu:
            agora = AgoraEgress(channel_name="slow", token="t", uid=1)
            config = emu.session_config(agora=agora)
            async with connect(config, max_buffered_audio=4096) as session:
                past = asyncio.get_running_loop().time() - 60
                req_id = await session.stream(chunks_of(audio, 640), start=past)
                while not (status := session.request(req_id)) or not status.finished:
                    await asyncio.wait_for(session.next_event(), 5)
            return emu.egress()["agora"]["slow"][0]["requests"]  # type: ignore[no-any-return]

    [published] = asyncio.run(scenario())
    assert published["audio_sha256"] == hashlib.sha256(audio).hexdigest()
    assert published["completed"]


BAD_OPTIONS = [
    ("ahead", -0.01),
    ("ahead", 0.6),
    ("ahead", float("nan")),
    ("ahead", True),
    ("ahead", "1"),
    ("start", float("inf")),
    ("start", "now"),
    ("start", False),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_a_bad_ahead_or_start_is_a_config_error_naming_it(option: str, value: object) -> None:
    async def scenario() -> None:
        session = RecordingSession(asyncio.get_running_loop())
        await stream_paced(session, config(), [pcm(64)], end=True, **{option: value})  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match=option):
        asyncio.run(scenario())
