"""Every row of the audio-format table, walked through everything that reads it: the
config's validation, the configure message, the client's chunk splitting, and the
emulator's handshake and accounting. A new row is exercised here without a new test.

``HYPOTHETICAL`` adds a row the service does not have (24-bit PCM, by swapping the
PCM row in place) to show that nothing else spells the format out.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from core_pair import confirmed_by_server
from emulator_client import config_for, events_until, run_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avatarwire.bindings.asyncio import connect
from avatarwire.core import audio_formats
from avatarwire.core.audio_formats import AUDIO_FORMATS, AudioFormat, AudioFormatSpec
from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.core.errors import ConfigError, LocalProtocolError
from avatarwire.core.events import Event, RequestFinished
from avatarwire.core.handshake import configure_message
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.server import (
    AudioReceived,
    ServerConnection,
)
from avatarwire.core.session import ClientSession
from avatarwire.core.wire import Message
from avatarwire.emulator import Emulator

_PCM24 = replace(AUDIO_FORMATS[AudioFormat.PCM_S16LE], title="PCM24", sample_width=3)

#: Each row of the table, plus one the table could grow (swapped in by the fixture).
ROWS = [pytest.param(spec, id=spec.label) for spec in AUDIO_FORMATS.values()] + [
    pytest.param(_PCM24, id="hypothetical-pcm24")
]


@pytest.fixture
def row(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AudioFormatSpec:
    """The row under test, installed in the table (the hypothetical one in place of PCM)."""
    spec: AudioFormatSpec = request.param
    monkeypatch.setitem(audio_formats.AUDIO_FORMATS, spec.format, spec)  # type: ignore[arg-type]
    return spec


def _config(spec: AudioFormatSpec, **overrides: object) -> SessionConfig:
    fields: dict[str, object] = {
        "api_key": "key-1",
        "app_id": "app-1",
        "avatar_id": "avatar-1",
        "console_url": "http://127.0.0.1:9/v1/console",
        "ingress_url": "ws://127.0.0.1:9/v2/driveningress",
        "audio_format": spec.format,
        "sample_rate": spec.sample_rates[0],
    }
    fields.update(overrides)
    return SessionConfig(**fields)  # type: ignore[arg-type]


def _one_second(spec: AudioFormatSpec, config: SessionConfig) -> int:
    exact = spec.bytes_per_second(config.sample_rate)
    return exact if exact is not None else config.bitrate // 8


def test_every_public_format_has_exactly_one_row_with_a_unique_wire_value() -> None:
    assert list(AUDIO_FORMATS) == list(AudioFormat)
    assert all(spec.format is member for member, spec in AUDIO_FORMATS.items())
    assert len({spec.wire_value for spec in AUDIO_FORMATS.values()}) == len(AUDIO_FORMATS)
    for spec in AUDIO_FORMATS.values():
        assert audio_formats.format_for_wire_value(spec.wire_value) is spec
        assert spec.label == spec.format.value
    assert audio_formats.format_for_wire_value(99) is None


@pytest.mark.parametrize("row", ROWS, indirect=True)
def test_config_takes_each_listed_rate_and_refuses_others(row: AudioFormatSpec) -> None:
    for rate in row.sample_rates:
        assert _config(row, sample_rate=rate).sample_rate == rate
    with pytest.raises(ConfigError, match=f"allowed for {row.label}: {row.sample_rates[0]}"):
        _config(row, sample_rate=11025)


@pytest.mark.parametrize("row", ROWS, indirect=True)
def test_config_applies_the_bitrate_rule(row: AudioFormatSpec) -> None:
    rule = row.bitrate
    if rule is None:
        assert _config(row).bitrate == 0
        with pytest.raises(ConfigError, match=f"{row.title} is uncompressed"):
            _config(row, bitrate=32000)
        return
    assert _config(row).bitrate == rule.default
    assert _config(row, bitrate=rule.low).bitrate == rule.low
    assert _config(row, bitrate=rule.high).bitrate == rule.high
    for wrong in (rule.low - 1, rule.high + 1):
        with pytest.raises(ConfigError, match="bitrate"):
            _config(row, bitrate=wrong)


@pytest.mark.parametrize("row", ROWS, indirect=True)
def test_configure_message_carries_the_wire_value(row: AudioFormatSpec) -> None:
    configure = Message.FromString(configure_message(_config(row))).client_configure_session
    assert configure.audio_format == row.wire_value


def _ready_pair(config: SessionConfig, chunk_limit: int) -> tuple[ClientSession, ServerConnection]:
    client = ClientSession(
        config, "token-1", request_ids=sequential_request_ids(), max_audio_chunk=chunk_limit
    )
    server, configure = confirmed_by_server(client)
    assert configure.audio_format == AUDIO_FORMATS[config.audio_format].wire_value
    return client, server


@pytest.mark.parametrize("row", ROWS, indirect=True)
# The fixture only installs the row; every generated input may share it.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(min_size=0, max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    chunk_limit=st.integers(min_value=6, max_value=48),
)
def test_any_split_of_a_request_arrives_whole_and_aligned(
    row: AudioFormatSpec, data: bytes, cuts: list[int], chunk_limit: int
) -> None:
    whole = data[: len(data) // row.alignment * row.alignment]
    client, server = _ready_pair(_config(row), chunk_limit)
    bounds = sorted({0, len(whole), *(cut % (len(whole) + 1) for cut in cuts)})
    pieces = [whole[start:stop] for start, stop in itertools.pairwise(bounds)] or [b""]
    for index, piece in enumerate(pieces):
        if piece or index == len(pieces) - 1:
            client.send_audio(piece, end=index == len(pieces) - 1)
    server.receive_data(client.data_to_send())
    received = [e for e in server.events() if isinstance(e, AudioReceived)]
    assert all(len(e.audio) % row.alignment == 0 for e in received), "a message split a sample"
    assert b"".join(e.audio for e in received) == whole
    assert [e.end for e in received].count(True) == 1 and received[-1].end


@pytest.mark.parametrize("row", ROWS, indirect=True)
def test_a_request_may_not_end_part_way_through_a_sample(row: AudioFormatSpec) -> None:
    client, _ = _ready_pair(_config(row), 1024)
    if row.alignment == 1:
        client.send_audio(b"\x01", end=True)  # any byte count is whole
        return
    client.send_audio(b"\x01" * (row.alignment + 1))
    with pytest.raises(LocalProtocolError, match=f"whole {8 * row.alignment}-bit samples"):
        client.send_audio(b"", end=True)


def _finished(event: Event) -> bool:
    return isinstance(event, RequestFinished)


@pytest.mark.parametrize("row", ROWS, indirect=True)
@run_async
async def test_the_emulator_accounts_one_second_of_each_format(row: AudioFormatSpec) -> None:
    agora = AgoraEgress(channel_name=f"formats-{row.title}")
    async with Emulator(realtime=False) as emu:
        config = config_for(emu, audio_format=row.format, sample_rate=16000, agora=agora)
        audio = bytes(range(256)) * (_one_second(row, config) // 256 + 1)
        audio = audio[: _one_second(row, config)]
        async with connect(config) as session:
            await session.send_audio(audio[:7])  # cut mid-sample: the client carries it
            req_id = await session.send_audio(audio[7:], end=True)
            await events_until(session, _finished)
        (publisher,) = emu.egress()["agora"][agora.channel_name]
    (request,) = publisher["requests"]
    assert request["req_id"] == req_id and request["audio_bytes"] == len(audio)
    assert request["audio_format"] == row.label
    assert request["audio_seconds"] == 1.0
    assert request["keyframes"] == 25
    assert request["bitrate"] == (0 if row.bitrate is None else config.bitrate)
