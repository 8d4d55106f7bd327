"""Ogg Opus on the wire: PCM encoded per request on the client, decoded by the emulator."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from avatarwire.core.config import AgoraEgress, AudioFormat
from avatarwire.core.errors import ConfigError
from avatarwire.core.events import RequestFinished, SessionClosed
from avatarwire.emulator import EmulatorThread

av = pytest.importorskip("av", reason="needs the opus extra (PyAV)")

from binding_adapters import BINDINGS, Api, Session, api_for  # noqa: E402

from avatarwire.bindings.opus import OggOpusStream, OpusEncoder  # noqa: E402


def speech_like(seconds: float, rate: int) -> bytes:
    """A voiced-speech stand-in: a 140 Hz buzz with harmonics, its loudness swinging."""
    samples = []
    for i in range(int(seconds * rate)):
        t = i / rate
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 3 * t)
        value = sum(math.sin(2 * math.pi * 140 * k * t) / k for k in (1, 2, 3, 5))
        samples.append(int(7000 * envelope * value))
    return struct.pack(f"<{len(samples)}h", *samples)


def decoded_seconds(ogg: bytes) -> float:
    with av.open(io.BytesIO(ogg), format="ogg") as container:
        frames = list(container.decode(audio=0))
    return sum(frame.samples for frame in frames) / frames[0].sample_rate


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as running:
        yield running


async def until_finished(session: Session, req_id: str) -> RequestFinished:
    while True:
        event = await session.next_event()
        assert not isinstance(event, SessionClosed), event
        if isinstance(event, RequestFinished) and event.req_id == req_id:
            return event


def published(emu: EmulatorThread, channel: str) -> dict[str, dict[str, Any]]:
    [publisher] = emu.egress()["agora"][channel]
    return {record["req_id"]: record for record in publisher["requests"]}


# --- the stream on its own ----------------------------------------------------------------------


@pytest.mark.parametrize(("input_rate", "output_rate"), [(16000, 16000), (22050, 24000)])
def test_a_stream_decodes_to_the_input_duration_whatever_the_chunking(
    input_rate: int, output_rate: int
) -> None:
    pcm = speech_like(1.5, input_rate)
    stream = OggOpusStream(input_rate, output_rate, 32000)
    pieces = [stream.encode(pcm[:3])]  # the headers come out at once; a split sample waits
    assert pieces[0].startswith(b"OggS")
    for start in range(3, len(pcm), 1001):  # odd sizes: samples split across calls
        pieces.append(stream.encode(pcm[start : start + 1001]))
    pieces.append(stream.finish())
    assert stream.finish() == b""
    ogg = b"".join(pieces)
    assert decoded_seconds(ogg) == pytest.approx(1.5, abs=0.04)


def test_bad_encoder_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"encoder.input_rate: got 11025"):
        OpusEncoder(input_rate=11025)
    with pytest.raises(ConfigError, match=r"encoder.page_ms"):
        OpusEncoder(page_ms=5)
    with pytest.raises(ConfigError, match=r"encoder.vbr"):
        OpusEncoder(vbr="sometimes")


def test_an_encoder_on_a_pcm_session_is_refused(api: Api, emu: EmulatorThread) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(emu.session_config(), encoder=OpusEncoder()):
            pass

    with pytest.raises(ConfigError, match="audio_format"):
        api.run(scenario)


# --- through a session to the emulator --------------------------------------------------------


def test_a_minute_of_speech_sends_a_sixth_of_the_pcm_and_decodes_to_its_length(
    emu: EmulatorThread,
) -> None:
    api = api_for("asyncio")
    channel = "opus-minute"
    config = emu.session_config(
        audio_format=AudioFormat.OGG_OPUS,
        sample_rate=16000,
        bitrate=32000,
        agora=AgoraEgress(channel_name=channel, token="agora-token-1"),
    )
    pcm = speech_like(60.0, 16000)
    chunk = 16000 * 2 // 50  # 20 ms, as a TTS streams it

    async def scenario(api: Api) -> str:
        async with api.connect(config, encoder=OpusEncoder(input_rate=16000)) as session:
            req_id = await session.send_audio(pcm[:chunk])
            for start in range(chunk, len(pcm), chunk):
                assert await session.send_audio(pcm[start : start + chunk]) == req_id
            assert await session.send_audio(b"", end=True) == req_id
            await until_finished(session, req_id)
        return req_id

    req_id = api.run(scenario)
    record = published(emu, channel)[req_id]
    assert (record["audio_format"], record["bitrate"]) == ("ogg_opus", 32000)
    assert record["audio_bytes"] <= len(pcm) / 6
    assert record["decoded_seconds"] == pytest.approx(60.0, abs=0.04)


def test_each_request_is_its_own_stream_and_an_interrupt_drops_it(
    api: Api, emu: EmulatorThread
) -> None:
    channel = f"opus-{api.name}"
    config = emu.session_config(
        audio_format=AudioFormat.OGG_OPUS,
        sample_rate=24000,
        agora=AgoraEgress(channel_name=channel, token="agora-token-1"),
    )
    first_pcm, second_pcm = speech_like(0.5, 22050), speech_like(0.7, 22050)

    async def scenario(api: Api) -> tuple[str, str]:
        async with api.connect(config, encoder=OpusEncoder(input_rate=22050)) as session:
            first = await session.send_audio(first_pcm)
            assert await session.interrupt() == first
            assert (await until_finished(session, first)).interrupted
            second = await session.send_audio(second_pcm[:1001])
            assert await session.send_audio(second_pcm[1001:], end=True) == second
            assert not (await until_finished(session, second)).interrupted
        return first, second

    first, second = api.run(scenario)
    records = published(emu, channel)
    assert records[second]["decoded_seconds"] == pytest.approx(0.7, abs=0.04)
    assert records[second]["audio_format"] == "ogg_opus"
    assert first in records and first != second
