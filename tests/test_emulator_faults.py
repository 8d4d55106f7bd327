"""Injected faults, as a client sees them over loopback."""

from __future__ import annotations

import asyncio
import time

import pytest
from emulator_client import RawIngress, config_for, configure_bytes, events_until, run_async
from wsproto.events import CloseConnection

from avatarwire.bindings.asyncio import Timeouts, connect
from avatarwire.core.codec import encode_audio_input
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import (
    AnimationFrame,
    RequestFinished,
    ServerError,
    SessionClosed,
)
from avatarwire.core.wire import Message
from avatarwire.core.wire import avatarkit_pb2 as pb
from avatarwire.emulator import Emulator, Fault

CHUNK = bytes(3200)  # 0.1 s of 16 kHz PCM
QUICK = Timeouts(upgrade=0.3, handshake=0.3)


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        (4001, "creditsExhausted"),
        (4002, "sessionDurationExceeded"),
        (4003, "concurrencyLimit"),
        (4010, "sessionTokenInvalid"),
        (4503, "upstreamError"),
    ],
)
@run_async
async def test_close_fault_closes_mid_request_with_the_service_code(
    code: int, error_code: str
) -> None:
    async with (
        Emulator(realtime=False, faults={"flaky": Fault.close(code, after_audio=2)}) as emu,
        connect(config_for(emu, avatar_id="flaky")) as session,
    ):
        await session.send_audio(CHUNK)
        await session.send_audio(CHUNK)
        events = await events_until(session, lambda e: False)
        closed = events[-1]
        assert isinstance(closed, SessionClosed) and closed.code == code
        assert closed.error is not None and closed.error.code == error_code


@run_async
async def test_faults_of_one_avatar_leave_the_others_alone() -> None:
    async with (
        Emulator(realtime=False, faults={"flaky": Fault.close(4503)}) as emu,
        connect(config_for(emu)) as session,
    ):
        await session.send_audio(CHUNK, end=True)
        events = await events_until(session, lambda e: isinstance(e, RequestFinished))
        assert not any(isinstance(e, SessionClosed) for e in events)


@run_async
async def test_drop_fault_ends_tcp_without_a_close_frame() -> None:
    async with (
        Emulator(realtime=False, fault=Fault.drop(after_audio=1)) as emu,
        connect(config_for(emu)) as session,
    ):
        await session.send_audio(CHUNK)
        closed = (await events_until(session, lambda e: False))[-1]
        assert isinstance(closed, SessionClosed) and closed.code is None
        assert closed.error is not None and closed.error.code == "connectionClosed"


@pytest.mark.parametrize(
    ("fault", "step"), [(Fault.stall_connect(), "upgrade"), (Fault.stall_upgrade(), "handshake")]
)
@run_async
async def test_stall_faults_leave_the_client_waiting(fault: Fault, step: str) -> None:
    async with Emulator(fault=fault) as emu:
        with pytest.raises(AvatarError) as caught:
            async with connect(config_for(emu), timeouts=QUICK):
                pass
        assert caught.value.code == "connectionFailed"
        assert "timed out" in str(caught.value) and step in str(caught.value)


@run_async
async def test_stall_after_configure_confirms_then_sends_nothing() -> None:
    async with (
        Emulator(realtime=False, fault=Fault.stall_configure()) as emu,
        connect(config_for(emu)) as session,
    ):
        await session.send_audio(CHUNK, end=True)
        with pytest.raises(asyncio.TimeoutError):
            await events_until(session, lambda e: True, timeout=0.3)


@run_async
async def test_server_error_fault_arrives_at_the_nth_message_and_the_session_goes_on() -> None:
    fault = Fault.server_error(at_message=2, code=14, text="egress unavailable")
    async with Emulator(realtime=False, fault=fault) as emu, connect(config_for(emu)) as session:
        await session.send_audio(CHUNK)
        req_id = await session.send_audio(CHUNK, end=True)
        events = await events_until(session, lambda e: isinstance(e, RequestFinished))
        (error,) = [e.error for e in events if isinstance(e, ServerError)]
        assert (error.server_code, error.req_id, error.code) == ("14", req_id, "serverError")
        assert len([e for e in events if isinstance(e, AnimationFrame)]) == 5


@run_async
async def test_slow_reads_fault_limits_how_fast_audio_is_taken() -> None:
    async with (
        Emulator(realtime=False, fault=Fault.slow_reads(400_000)) as emu,
        connect(config_for(emu)) as session,
    ):
        started = time.monotonic()
        await session.send_audio(bytes(160_000), end=True)  # 5 s of audio, 160 KB
        await events_until(session, lambda e: isinstance(e, RequestFinished))
        assert time.monotonic() - started >= 0.35


@run_async
async def test_stall_at_connect_answers_nothing_even_to_a_raw_upgrade() -> None:
    async with Emulator(faults={"silent": Fault.stall_connect()}) as emu:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(RawIngress.open(emu, avatar_id="silent"), 0.3)
        raw = await RawIngress.open(emu)  # the default avatar still works
        raw.send(configure_bytes(sample_rate=16000))
        assert (await raw.receive_message()).server_confirm_session.connection_id


@pytest.mark.parametrize(
    ("code", "text", "close_code"),
    [
        (4001, "credits exhausted", 4001),
        (4002, "maximum session duration reached", 4002),
        (4003, "concurrency limit reached", 4003),
        (4010, "auth failed: session token expired", 4010),
        (4503, "upstream unavailable", 4503),
        (14, "session refused by fault injection", 1000),
    ],
)
@run_async
async def test_refuse_session_answers_the_configure_with_the_code_and_its_close(
    code: int, text: str, close_code: int
) -> None:
    async with Emulator(faults={"full": Fault.refuse_session(code)}) as emu:
        raw = await RawIngress.open(emu, avatar_id="full")
        raw.send(configure_bytes(sample_rate=16000))
        error = (await raw.receive_message()).server_error
        assert (error.code, error.message) == (code, text)
        closed = await raw.receive()
        assert isinstance(closed, CloseConnection)
        assert closed.code == close_code
        assert closed.reason == (text if close_code != 1000 else "")


@pytest.mark.parametrize("code", [4001, 4002, 4003, 4010, 4503])
@run_async
async def test_end_session_sends_the_close_code_as_a_server_error_then_closes_with_it(
    code: int,
) -> None:
    async with Emulator(
        realtime=False, faults={"ends": Fault.end_session(code, after_audio=2)}
    ) as emu:
        raw = await RawIngress.open(emu, avatar_id="ends")
        raw.send(configure_bytes(sample_rate=16000))
        assert (await raw.receive_message()).server_confirm_session.connection_id
        raw.send(encode_audio_input("r1", CHUNK, False))
        raw.send(encode_audio_input("r1", CHUNK, False))
        while True:
            answer = await raw.receive()
            assert isinstance(answer, bytes), answer
            message = Message.FromString(answer)
            if message.type == pb.MESSAGE_SERVER_ERROR:
                break
        assert (message.server_error.code, message.server_error.req_id) == (code, "r1")
        closed = await raw.receive()
        assert isinstance(closed, CloseConnection) and closed.code == code
        assert closed.reason == message.server_error.message


def test_end_session_takes_only_the_service_close_codes() -> None:
    with pytest.raises(ValueError, match=r"4000\.\.4999"):
        Fault.end_session(14)


@run_async
async def test_a_relayed_grpc_code_is_a_server_error_and_the_session_goes_on() -> None:
    fault = Fault.server_error(at_message=1, code=14, text="inference server Animate failed")
    async with (
        Emulator(realtime=False, faults={"flaky": fault}) as emu,
        connect(config_for(emu, avatar_id="flaky")) as session,
    ):
        await session.send_audio(CHUNK, end=True)
        events = await events_until(session, lambda e: isinstance(e, RequestFinished))
        (error,) = [e.error for e in events if isinstance(e, ServerError)]
        assert error.server_code in (14, "14") and "Animate failed" in str(error)
        assert not any(isinstance(e, SessionClosed) for e in events)
