"""The trio binding over real loopback sockets: steps under time limits, TLS,
cancellation that leaves nothing behind, and backpressure both ways."""

from __future__ import annotations

import gc
import os
import ssl
import stat
import threading
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from loopback_service import Behaviour, LoopbackService

from avatarwire.bindings.trio import TrioSession, connect
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, ErrorCode, Phase
from avatarwire.core.events import AnimationFrame, Event, RequestFinished, SessionClosed
from avatarwire.core.session import SessionState
from avatarwire.core.steps import Timeouts
from avatarwire.core.wire import Flame, FlameAnimation

SHORT = 0.3
PCM_100_MS = b"\x01\x00" * 1600


def _socket_count() -> int:
    """Sockets this process holds open (Linux); the service's own are included."""
    gc.collect()  # sockets earlier tests dropped without closing are not ours to count
    fds = Path("/proc/self/fd")
    count = 0
    for entry in fds.iterdir():
        try:
            count += stat.S_ISSOCK(os.stat(entry).st_mode)
        except OSError:
            continue
    return count


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


async def _serve_silently(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """A real TCP server that accepts, reads everything and never says a word."""

    async def swallow(stream: trio.SocketStream) -> None:
        async with stream:
            while await stream.receive_some(65536):
                pass

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    await trio.serve_listeners(swallow, listeners, task_status=task_status)


async def _with_silent_server(body: Callable[[int], Awaitable[None]]) -> None:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(_serve_silently)
        await body(listeners[0].socket.getsockname()[1])
        nursery.cancel_scope.cancel()


# --- the happy path -------------------------------------------------------------------------


def test_connect_streams_audio_and_closes_with_1000() -> None:
    seen: list[Event] = []
    with LoopbackService(Behaviour(frames_per_audio=3)) as service:

        async def main() -> TrioSession:
            async with connect(service.config()) as session:
                assert session.connection_id == "loopback-connection"
                assert "playback_control" in session.capabilities
                first = await session.send_audio(PCM_100_MS)
                assert await session.send_audio(PCM_100_MS, end=True) == first
                async for event in session:
                    seen.append(event)
                    if isinstance(event, RequestFinished):
                        break
            return session

        session = trio.run(main)
        assert service.wait_until(lambda r: r.connections_open == 0)
        with service.locked() as record:
            assert bytes(record.audio[first_req(seen)]) == PCM_100_MS * 2
            assert record.client_closes == [1000]
    frames = [e for e in seen if isinstance(e, AnimationFrame)]
    assert [f.end for f in frames] == [False, False, False, False, False, True]
    assert seen[-1] == RequestFinished(frames[0].req_id, interrupted=False)
    assert session.state is SessionState.CLOSED


def first_req(events: list[Event]) -> str:
    return next(e.req_id for e in events if isinstance(e, AnimationFrame))


def test_callbacks_run_in_order_and_on_close_exactly_once() -> None:
    frames: list[bool] = []
    closes: list[int] = []
    finished = trio.Event()
    with LoopbackService(Behaviour(frames_per_audio=2)) as service:

        def on_frame(data: bytes, is_last: bool) -> None:
            frames.append(is_last)
            if is_last:
                finished.set()

        async def main() -> None:
            async with connect(
                service.config(), transport_frames=on_frame, on_close=lambda: closes.append(1)
            ) as session:
                await session.send_audio(PCM_100_MS, end=True)
                await finished.wait()
            await session.close()

        trio.run(main)
    assert frames == [False, True]
    assert closes == [1]


# --- every step under its time limit ----------------------------------------------------


@pytest.mark.parametrize(
    ("step", "field", "phase"),
    [
        ("fetching the session token", "token", Phase.SESSION_TOKEN),
        ("the WebSocket upgrade", "upgrade", Phase.WEBSOCKET_CONNECT),
        ("the TLS handshake", "tls", Phase.WEBSOCKET_CONNECT),
    ],
)
def test_a_silent_server_fails_the_step_at_its_time_limit(
    step: str, field: str, phase: Phase
) -> None:
    async def main(port: int) -> None:
        scheme = "wss" if field == "tls" else "ws"
        config = SessionConfig(
            api_key="some-api-key",
            app_id="some-app",
            avatar_id="some-avatar",
            console_url=f"http://127.0.0.1:{port}/v1/console",
            ingress_url=f"{scheme}://127.0.0.1:{port}/v2/driveningress",
        )
        token = None if field == "token" else "some-session-token"
        started = trio.current_time()
        with pytest.raises(AvatarError) as caught:
            async with connect(config, session_token=token, timeouts=Timeouts(**{field: SHORT})):
                pytest.fail("connected to a silent server")
        assert SHORT <= trio.current_time() - started < SHORT + 2
        assert step in caught.value.message
        assert caught.value.phase is phase
        assert caught.value.code is ErrorCode.CONNECTION_FAILED

    trio.run(_with_silent_server, main)


def test_a_service_that_never_confirms_fails_the_handshake_step() -> None:
    with LoopbackService(Behaviour(confirm=False)) as service:

        async def main() -> None:
            with pytest.raises(AvatarError) as caught:
                async with connect(service.config(), timeouts=Timeouts(handshake=SHORT)):
                    pytest.fail("a session without a confirm")
            assert "session handshake" in caught.value.message
            assert caught.value.phase is Phase.WEBSOCKET_HANDSHAKE

        trio.run(main)
        assert service.wait_until(lambda r: r.connections_open == 0)


# --- TLS ----------------------------------------------------------------------------------


def test_tls_is_verified_by_default_and_a_custom_context_is_used() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with LoopbackService(ssl_context=server_context) as service:

        async def main() -> None:
            with pytest.raises(AvatarError) as caught:
                async with connect(service.config()):
                    pytest.fail("an unknown certificate authority was trusted")
            assert caught.value.code is ErrorCode.CONNECTION_FAILED
            async with connect(service.config(), ssl_context=client_context) as session:
                assert session.connection_id == "loopback-connection"
                await session.send_audio(PCM_100_MS, end=True)
                assert isinstance(await session.next_event(), AnimationFrame)

        trio.run(main)


# --- cancellation ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["handshake", "session"])
def test_cancelling_leaves_no_task_thread_or_socket(stage: str) -> None:
    closes: list[int] = []
    with LoopbackService(Behaviour(confirm=stage != "handshake")) as service:
        threads, sockets = _threads(), _socket_count()

        async def main() -> None:
            with trio.CancelScope() as scope:
                async with connect(service.config(), on_close=lambda: closes.append(1)) as session:
                    await session.send_audio(PCM_100_MS)
                    scope.cancel()
                    await session.next_event()
                pytest.fail("not cancelled")
            if stage == "session":
                assert session.state.ended  # cleanly or not, depending on how far the close got

        async def cancel_soon() -> None:
            async with trio.open_nursery() as nursery:
                if stage == "handshake":
                    nursery.cancel_scope.deadline = trio.current_time() + SHORT
                nursery.start_soon(main)

        trio.run(cancel_soon)  # returns only once every task of the run has ended
        assert service.wait_until(lambda r: r.connections_open == 0)
        assert _threads() == threads
        assert _socket_count() == sockets
    # A session that never became ready reports its failure to the caller only.
    assert closes == ([1] if stage == "session" else [])


# --- backpressure -------------------------------------------------------------------------


def test_send_audio_waits_for_a_service_that_does_not_read_then_fails_the_send_step() -> None:
    with LoopbackService(Behaviour(read_after_ready=False)) as service:

        async def main() -> None:
            sent = 0
            async with connect(service.config(), timeouts=Timeouts(send=SHORT)) as session:
                with pytest.raises(AvatarError) as caught:
                    while sent < 256 * 1024 * 1024:
                        await session.send_audio(b"\0" * 65536)
                        sent += 65536
                assert caught.value.phase is Phase.WEBSOCKET_SEND
                assert "not reading" in caught.value.message
                events = [event async for event in session]
                closed = events[-1]
                assert isinstance(closed, SessionClosed)
                assert closed.error is not None
                assert closed.error.code is ErrorCode.CONNECTION_CLOSED
                assert session.state is SessionState.ERROR and session.error is closed.error

        trio.run(main)


def test_reading_pauses_while_events_wait_and_resumes_as_they_are_consumed() -> None:
    count, size, limit = 80, 1024 * 1024, 4
    keyframe = Flame(expression=[0.5] * (size // 4))
    animation = FlameAnimation(keyframes=[keyframe]).SerializeToString()
    behaviour = Behaviour(frames_per_audio=count, frame_animation=animation)
    with LoopbackService(behaviour) as service:

        async def main() -> None:
            async with connect(service.config(), max_queued_events=limit) as session:
                await session.send_audio(PCM_100_MS, end=True)
                everything_written = await trio.to_thread.run_sync(
                    service.wait_until, lambda r: r.frames_written == count, 1.0
                )
                assert not everything_written, "the client read on with its queue full"
                assert len(session._events) <= limit + 1  # one read may add one frame
                frames = []
                while not isinstance(event := await session.next_event(), RequestFinished):
                    assert isinstance(event, AnimationFrame)
                    frames.append(event)
                assert [f.end for f in frames] == [False] * (count - 1) + [True]

        trio.run(main)


# --- against the emulator ---------------------------------------------------------------------


def test_interrupt_after_end_finishes_the_request_against_the_emulator() -> None:
    emulator_thread = pytest.importorskip("avatarwire.emulator.thread")
    with emulator_thread.EmulatorThread(realtime=False) as emu:
        config = SessionConfig(
            api_key=emu.api_key,
            app_id=emu.app_id,
            avatar_id=emu.avatar_id,
            console_url=emu.console_url,
            ingress_url=emu.ingress_url,
        )

        async def main() -> None:
            async with connect(config) as session:
                req_id = await session.send_audio(PCM_100_MS * 10, end=True)
                assert await session.interrupt() == req_id
                async for event in session:
                    if isinstance(event, RequestFinished):
                        assert event == RequestFinished(req_id, interrupted=True)
                        break
                else:
                    pytest.fail("the session closed before the request finished")
            assert session.state is SessionState.CLOSED

        trio.run(main)


@pytest.mark.filterwarnings("error")
def test_breaking_out_of_the_event_loop_leaves_nothing_to_finalize() -> None:
    """The README pattern: ``async for`` over the session, ``break`` at the request's
    end. No "async generator garbage collected" warning, with warnings as errors."""
    with LoopbackService(Behaviour(frames_per_audio=3)) as service:

        async def main() -> None:
            async with connect(service.config()) as session:
                await session.send_audio(PCM_100_MS, end=True)
                async for event in session:
                    if isinstance(event, RequestFinished):
                        break
                req_id = await session.send_audio(PCM_100_MS, end=True)
                async for _frame in session.frames(req_id):
                    break

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trio.run(main)
            gc.collect()
    assert [str(w.message) for w in caught] == []
