"""A misbehaving service, seen the same way by every binding: a stall at each step
ends in that step's timeout error, drops and the service's close codes end the
session with the right code, and a slow reader gets every byte, in order."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from binding_adapters import BINDINGS, Api, api_for

from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.core.errors import AvatarError, ErrorCode, Phase, Retry
from avatarwire.core.events import Event, RequestFinished, SessionClosed
from avatarwire.core.steps import Timeouts
from avatarwire.emulator import EmulatorThread, Fault

SHORT = 0.3
#: Small limits for every step, so a stall shows quickly.
QUICK = Timeouts(token=SHORT, upgrade=SHORT, handshake=SHORT, send=SHORT, close=SHORT)
PCM_100_MS = b"\x10\x01" * 1600

#: The service's close codes: error code, and what a retry takes (protocol.md).
CLOSE_CODES = {
    4001: (ErrorCode.CREDITS_EXHAUSTED, Retry.NO),
    4002: (ErrorCode.SESSION_DURATION_EXCEEDED, Retry.NEW_SESSION),
    4003: (ErrorCode.CONCURRENCY_LIMIT, Retry.LATER),
    4010: (ErrorCode.SESSION_TOKEN_INVALID, Retry.NEW_TOKEN),
    4503: (ErrorCode.UPSTREAM_ERROR, Retry.BACKOFF),
}

FAULTS: dict[str, Fault] = {
    "stall-connect": Fault.stall_connect(),
    "stall-upgrade": Fault.stall_upgrade(),
    "stall-configure": Fault.stall_configure(),
    "drop-mid-stream": Fault.drop(after_audio=3),
    "slow-reader": Fault.slow_reads(bytes_per_second=2_000_000),
    "deaf": Fault.slow_reads(bytes_per_second=200),
    **{f"close-{code}": Fault.close(code, after_audio=2) for code in CLOSE_CODES},
}


def config_for(emu: EmulatorThread, **overrides: Any) -> SessionConfig:
    """A client config pointing at the emulator with its credentials."""
    return emu.session_config(**overrides)


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False, faults=FAULTS) as running:
        yield running


@pytest.fixture(scope="module")
def hanging_console() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False, fault=Fault.token_hang()) as running:
        yield running


def opening_error(api: Api, config: SessionConfig) -> tuple[AvatarError, float]:
    """The error opening a session raises, and how long it took to come."""

    async def scenario(api: Api) -> None:
        async with api.connect(config, timeouts=QUICK):
            pass

    started = time.monotonic()
    with pytest.raises(AvatarError) as caught:
        api.run(scenario)
    return caught.value, time.monotonic() - started


# --- a stall at each step ------------------------------------------------------------------------


def test_a_console_that_never_answers_times_out_the_token_step(
    api: Api, hanging_console: EmulatorThread
) -> None:
    error, took = opening_error(api, config_for(hanging_console))
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.SESSION_TOKEN)
    assert "timed out" in error.message and "session token" in error.message
    assert SHORT <= took < SHORT + 2


def test_an_unanswered_upgrade_times_out_the_upgrade_step(api: Api, emu: EmulatorThread) -> None:
    error, took = opening_error(api, config_for(emu, avatar_id="stall-connect"))
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.WEBSOCKET_CONNECT)
    assert "timed out" in error.message and "upgrade" in error.message
    assert error.retryable
    assert SHORT <= took < SHORT + 2


def test_an_unanswered_configure_times_out_the_handshake_step(
    api: Api, emu: EmulatorThread
) -> None:
    error, took = opening_error(api, config_for(emu, avatar_id="stall-upgrade"))
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.WEBSOCKET_HANDSHAKE)
    assert "timed out" in error.message and "handshake" in error.message
    assert SHORT <= took < SHORT + 2


def test_a_service_silent_after_confirming_leaves_the_request_open_until_close(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> list[Event]:
        async with api.connect(config_for(emu, avatar_id="stall-configure"), timeouts=QUICK) as s:
            req_id = await s.send_audio(PCM_100_MS, end=True)
            with pytest.raises(TimeoutError):
                await s.next_event(timeout=SHORT)
            status = s.request(req_id)
            assert status is not None and not status.finished
            started = time.monotonic()
            await s.close()
            assert time.monotonic() - started < SHORT + 1
            events = await s.events_until_closed()
        assert events[0] == RequestFinished(req_id, interrupted=True)
        return events

    events = api.run(scenario)
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is None


def test_a_server_that_stops_reading_times_out_the_send_step(api: Api, emu: EmulatorThread) -> None:
    chunk = b"\x00\x01" * 128 * 1024  # 256 KiB

    async def scenario(api: Api) -> None:
        async with api.connect(
            config_for(emu, avatar_id="deaf"), timeouts=QUICK, max_buffered_audio=64 * 1024
        ) as session:
            for _ in range(128):  # 32 MiB: far more than the kernel buffers
                await session.send_audio(chunk)

    started = time.monotonic()
    with pytest.raises(AvatarError) as caught:
        api.run(scenario)
    assert (caught.value.code, caught.value.phase) == (
        ErrorCode.CONNECTION_CLOSED,
        Phase.WEBSOCKET_SEND,
    )
    assert "timed out" in caught.value.message
    assert time.monotonic() - started < 10


# --- the service ending the session --------------------------------------------------------------


def test_a_dropped_connection_mid_stream_is_connection_closed(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> list[Event]:
        async with api.connect(config_for(emu, avatar_id="drop-mid-stream")) as session:
            req_id = await session.send_audio(PCM_100_MS)
            for _ in range(2):
                await session.send_audio(PCM_100_MS)
            events = await session.events_until_closed()
        finished = [e for e in events if isinstance(e, RequestFinished)]
        assert finished == [RequestFinished(req_id, interrupted=True)]
        return events

    closed = api.run(scenario)[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert (closed.error.code, closed.error.close_code) == (ErrorCode.CONNECTION_CLOSED, None)
    assert closed.error.retryable


@pytest.mark.parametrize("close_code", sorted(CLOSE_CODES))
def test_the_services_close_codes_map_to_their_error_codes(
    api: Api, emu: EmulatorThread, close_code: int
) -> None:
    expected_code, expected_retry = CLOSE_CODES[close_code]

    async def scenario(api: Api) -> list[Event]:
        async with api.connect(config_for(emu, avatar_id=f"close-{close_code}")) as session:
            req_id = await session.send_audio(PCM_100_MS)
            await session.send_audio(PCM_100_MS)
            events = await session.events_until_closed()
        assert [e for e in events if isinstance(e, RequestFinished)] == [
            RequestFinished(req_id, interrupted=True)
        ]
        return events

    closed = api.run(scenario)[-1]
    assert isinstance(closed, SessionClosed) and closed.code == close_code
    error = closed.error
    assert error is not None
    assert (error.code, error.close_code, error.phase) == (
        expected_code,
        close_code,
        Phase.WEBSOCKET_RUNTIME,
    )
    assert error.retry is expected_retry
    assert error.retryable is (expected_retry is not Retry.NO)


def test_a_server_close_reaches_on_error_and_on_close_once(api: Api, emu: EmulatorThread) -> None:
    errors: list[AvatarError] = []
    closes: list[int] = []

    async def scenario(api: Api) -> None:
        async with api.connect(
            config_for(emu, avatar_id="close-4503"),
            on_error=errors.append,
            on_close=lambda: closes.append(1),
        ) as session:
            await session.send_audio(PCM_100_MS)
            await session.send_audio(PCM_100_MS)
            await session.wait_until(lambda: bool(closes))

    api.run(scenario)
    assert closes == [1]
    assert [(e.code, e.close_code) for e in errors] == [(ErrorCode.UPSTREAM_ERROR, 4503)]


# --- backpressure --------------------------------------------------------------------------------


def test_a_slow_reader_gets_every_byte_in_order(api: Api, emu: EmulatorThread) -> None:
    channel = f"slow-{api.name}-{uuid.uuid4().hex[:8]}"
    audio = bytes(range(256)) * 4096  # 1 MiB, every position distinct mod 256
    chunk = 32 * 1024

    async def scenario(api: Api) -> str:
        config = config_for(emu, avatar_id="slow-reader", agora=AgoraEgress(channel_name=channel))
        async with api.connect(config, max_buffered_audio=64 * 1024) as session:
            for offset in range(0, len(audio), chunk):
                last = offset + chunk >= len(audio)
                req_id = await session.send_audio(audio[offset : offset + chunk], end=last)
            while True:
                event = await session.next_event(timeout=10)
                assert not isinstance(event, SessionClosed), event
                if isinstance(event, RequestFinished):
                    assert event == RequestFinished(req_id, interrupted=False)
                    return req_id

    req_id = api.run(scenario)
    [publisher] = emu.egress()["agora"][channel]
    [record] = publisher["requests"]
    assert record["req_id"] == req_id
    assert record["audio_bytes"] == len(audio)
    assert record["audio_sha256"] == hashlib.sha256(audio).hexdigest()
