"""Nothing outlives a session, in any binding: hundreds of sessions in a row leave no
file descriptors, threads or tasks behind, and cancelling (or Ctrl-C) at the worst
moment leaves no socket open."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
from binding_adapters import BINDINGS, Api, api_for, client_sockets_to, open_fds

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.core.config import SessionConfig
from avatarwire.core.events import RequestFinished, SessionClosed
from avatarwire.emulator import EmulatorThread, Fault

SESSIONS = 200
#: Descriptors a run may hold beyond the baseline (lazily created loop / selector state).
FD_SLACK = 4
TINY_AUDIO = b"\x00\x01" * 160  # 10 ms
WARM_UP = 5
#: Cancellations tried at slightly different moments (the window is narrow).
CANCEL_ATTEMPTS = 20


def config_for(emu: EmulatorThread, **overrides: Any) -> SessionConfig:
    """A client config pointing at the emulator with its credentials."""
    return emu.session_config(**overrides)


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    faults = {"stall-connect": Fault.stall_connect(), "stall-configure": Fault.stall_configure()}
    with EmulatorThread(realtime=False, faults=faults) as running:
        yield running


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``condition()`` came true within ``timeout`` (the emulator runs on its
    own thread: its side of a connection closes a moment after ours)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def emulator_idle(emu: EmulatorThread) -> bool:
    return emu.emulator.active_sessions == 0


# --- many sessions in a row ----------------------------------------------------------------------


def test_sessions_in_a_row_leave_no_descriptors_threads_or_tasks(
    api: Api, emu: EmulatorThread
) -> None:
    config = config_for(emu)

    async def sessions(api: Api, count: int) -> list[str]:
        leftovers: list[str] = []
        before = asyncio.all_tasks() if api.name == "asyncio" else set()
        for _ in range(count):
            async with api.connect(config) as session:
                req_id = await session.send_audio(TINY_AUDIO, end=True)
                while await session.next_event() != RequestFinished(req_id, interrupted=False):
                    pass
        if api.name == "asyncio":
            leftovers = [repr(task) for task in asyncio.all_tasks() - before]
        return leftovers

    def run(count: int) -> list[str]:
        return api.run(lambda api: sessions(api, count))

    assert run(WARM_UP) == []
    assert wait_for(lambda: emulator_idle(emu))
    fds, threads = open_fds(), threading.active_count()

    assert run(SESSIONS) == [], "asyncio tasks outlived their sessions"

    assert wait_for(lambda: emulator_idle(emu)), "the emulator still holds connections"
    assert client_sockets_to(emu.port) == 0
    assert threading.active_count() <= threads, "threads outlived their sessions"
    assert open_fds() <= fds + FD_SLACK, f"descriptors grew from {fds} to {open_fds()}"


# --- cancellation --------------------------------------------------------------------------------


def test_asyncio_cancelled_inside_connect_leaves_no_socket(emu: EmulatorThread) -> None:
    """Cancelled as soon as a connection shows (the token fetch, or the stalled upgrade
    when it comes later): the task ends cancelled, promptly, with no socket left."""
    config = config_for(emu, avatar_id="stall-connect")

    async def main() -> None:
        async def open_session() -> None:
            async with asyncio_binding.connect(config):
                pytest.fail("the stalled upgrade cannot succeed")

        for attempt in range(CANCEL_ATTEMPTS):
            task = asyncio.create_task(open_session())
            while not client_sockets_to(emu.port):
                await asyncio.sleep(0.001)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2)
            assert done, f"attempt {attempt}: cancel() did not end connect() (still running)"
            assert task.cancelled(), f"attempt {attempt}: ended with {task.exception()!r}"
            await asyncio.sleep(0)  # one turn: transports close on the next loop iteration
            assert client_sockets_to(emu.port) == 0

    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_cancelled_inside_the_session_block_closes_the_socket(
    emu: EmulatorThread,
) -> None:
    config = config_for(emu, avatar_id="stall-configure")
    closes: list[int] = []

    async def main() -> None:
        streaming = asyncio.Event()

        async def hold_session() -> None:
            async with asyncio_binding.connect(config, on_close=lambda: closes.append(1)) as s:
                await s.send_audio(TINY_AUDIO, end=True)
                streaming.set()
                await s.next_event()  # the service is silent: waits until cancelled

        task = asyncio.create_task(hold_session())
        await streaming.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert client_sockets_to(emu.port) == 0

    asyncio.run(asyncio.wait_for(main(), 10))
    assert closes == [1]


def test_trio_cancel_scope_inside_connect_leaves_no_socket(emu: EmulatorThread) -> None:
    config = config_for(emu, avatar_id="stall-connect")

    async def main() -> None:
        with trio.CancelScope() as scope:

            async def cancel_once_connecting() -> None:
                while not client_sockets_to(emu.port):
                    await trio.sleep(0.005)
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_once_connecting)
                async with trio_binding.connect(config):
                    pytest.fail("the stalled upgrade cannot succeed")
        assert scope.cancelled_caught
        assert client_sockets_to(emu.port) == 0

    trio.run(main)


def test_trio_cancel_scope_inside_the_session_block_closes_the_socket(
    emu: EmulatorThread,
) -> None:
    config = config_for(emu, avatar_id="stall-configure")
    closes: list[int] = []

    async def main() -> None:
        with trio.move_on_after(0.3) as scope:
            async with trio_binding.connect(config, on_close=lambda: closes.append(1)) as s:
                await s.send_audio(TINY_AUDIO, end=True)
                await s.next_event()  # the service is silent: waits until cancelled
        assert scope.cancelled_caught
        assert client_sockets_to(emu.port) == 0

    trio.run(main)
    assert closes == [1]


def test_blocking_keyboard_interrupt_inside_the_session_block_drops_the_socket(
    emu: EmulatorThread,
) -> None:
    config = config_for(emu, avatar_id="stall-configure")
    closes: list[int] = []
    with (
        pytest.raises(KeyboardInterrupt),
        blocking_binding.connect(config, on_close=lambda: closes.append(1)) as session,
    ):
        session.send_audio(TINY_AUDIO, end=True)
        assert client_sockets_to(emu.port) == 1
        raise KeyboardInterrupt
    assert client_sockets_to(emu.port) == 0
    assert closes == [1]


def test_blocking_keyboard_interrupt_from_a_callback_drops_the_socket(
    emu: EmulatorThread,
) -> None:
    closes: list[int] = []

    def interrupted(data: bytes, last: bool) -> None:
        raise KeyboardInterrupt

    with (
        pytest.raises(KeyboardInterrupt),
        blocking_binding.connect(
            config_for(emu), transport_frames=interrupted, on_close=lambda: closes.append(1)
        ) as session,
    ):
        req_id = session.send_audio(b"\x00\x01" * 3200, end=True)
        session.wait_for_request(req_id, timeout=5)
    assert client_sockets_to(emu.port) == 0
    assert closes == [1]


def test_blocking_close_releases_the_socket_before_the_block_ends(
    emu: EmulatorThread,
) -> None:
    config = config_for(emu, avatar_id="stall-configure")
    with blocking_binding.connect(config) as session:
        session.close()
        assert isinstance(session.run_until_closed(timeout=5), SessionClosed)
        assert client_sockets_to(emu.port) == 0
