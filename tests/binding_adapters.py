"""One async-shaped API over the asyncio, trio and blocking bindings, so each
behaviour scenario is written once and run against all three.

A scenario is ``async def scenario(api) -> T``; ``api.run(scenario)`` runs it with
``asyncio.run``, ``trio.run``, or (blocking) a stepping runner that drives the
coroutine with ``send(None)`` and fails the test if the coroutine ever yields: the
blocking shims wrap synchronous calls in ``async def`` and must never suspend.

Each adapter is typed by the session it drives: the published protocol
(:class:`avatarwire.bindings.session.Session`) for asyncio and trio, the blocking
binding's own class for blocking (its ``wait`` keeps I/O moving between polls, which
:class:`~avatarwire.bindings.session.SyncSession` does not promise).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import trio

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.bindings._common import ConnectOptions
from avatarwire.bindings.blocking import BlockingSession
from avatarwire.bindings.session import Session as AsyncSession
from avatarwire.bindings.session import SessionView
from avatarwire.core.config import SessionConfig
from avatarwire.core.events import Event, SessionClosed
from avatarwire.core.requests import RequestStatus
from avatarwire.core.session import SessionState

T = TypeVar("T")
#: The binding's own session an adapter drives.
RawT = TypeVar("RawT", bound=SessionView)

BINDINGS = ("asyncio", "trio", "blocking")
#: The asyncio binding again on uvloop's event loop, where uvloop is installed.
UVLOOP = "asyncio-uvloop"
#: No scenario may take longer than this (asyncio and trio enforce it; blocking
#: relies on the bindings' own step timeouts and on pytest-timeout).
SCENARIO_DEADLINE = 20.0
#: Default wait for one event.
EVENT_TIMEOUT = 5.0
#: How often a condition that only callbacks change is looked at again.
POLL_INTERVAL = 0.002


class Session(Generic[RawT]):
    """A binding's session behind one async-shaped surface."""

    def __init__(self, api: Api[RawT], raw: RawT) -> None:
        self.api = api
        self.raw = raw

    @property
    def connection_id(self) -> str | None:
        """The service's id for the session."""
        return self.raw.connection_id

    @property
    def capabilities(self) -> frozenset[str]:
        """What the service announced."""
        return self.raw.capabilities

    @property
    def state(self) -> SessionState:
        """The core's state."""
        return self.raw.state

    def request(self, req_id: str) -> RequestStatus | None:
        """Bookkeeping of one request."""
        return self.raw.request(req_id)

    async def send_audio(self, audio: bytes, end: bool = False) -> str:
        """Send audio; the request id it went out under."""
        return await self.api.send_audio(self.raw, audio, end)

    async def interrupt(self) -> str:
        """Interrupt the most recent request."""
        return await self.api.interrupt(self.raw)

    async def close(self) -> None:
        """Close the session."""
        await self.api.close(self.raw)

    async def next_event(self, timeout: float = EVENT_TIMEOUT) -> Event:
        """The next event; ``TimeoutError`` if none comes in time."""
        return await self.api.next_event(self.raw, timeout)

    async def wait_until(
        self, condition: Callable[[], bool], timeout: float = EVENT_TIMEOUT
    ) -> None:
        """Keep I/O moving until ``condition()`` holds; ``TimeoutError`` after ``timeout``."""
        await self.api.wait_until(self.raw, condition, timeout)

    async def events_until_closed(self, timeout: float = EVENT_TIMEOUT) -> list[Event]:
        """Every event up to and including ``SessionClosed``."""
        events: list[Event] = []
        while not events or not isinstance(events[-1], SessionClosed):
            events.append(await self.next_event(timeout))
        return events


class Api(Generic[RawT]):
    """The operations a scenario needs, done by one binding on its sessions."""

    name: str

    def run(self, scenario: Callable[[Api[RawT]], Coroutine[Any, Any, T]]) -> T:
        """Run a scenario to completion in this binding's world."""
        raise NotImplementedError

    def connect(
        self, config: SessionConfig, **options: Any
    ) -> AbstractAsyncContextManager[Session[RawT]]:
        """``async with api.connect(config, ...) as session``: the binding's ``connect``."""
        raise NotImplementedError

    async def fetch_token(self, config: SessionConfig, **options: Any) -> str:
        """A session token from the console."""
        raise NotImplementedError

    async def call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call any session method (awaiting it where the binding is async)."""
        raise NotImplementedError

    async def send_audio(self, raw: RawT, audio: bytes, end: bool) -> str:
        """The session's ``send_audio``; the request id."""
        raise NotImplementedError

    async def interrupt(self, raw: RawT) -> str:
        """The session's ``interrupt``; the request id."""
        raise NotImplementedError

    async def close(self, raw: RawT) -> None:
        """The session's ``close``."""
        raise NotImplementedError

    async def next_event(self, raw: RawT, timeout: float) -> Event:
        """The session's next event within ``timeout``."""
        raise NotImplementedError

    async def wait_until(self, raw: RawT, condition: Callable[[], bool], timeout: float) -> None:
        """Let the session's I/O run until ``condition()``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Api {self.name}>"


class _AsyncApi(Api[AsyncSession]):
    """What the asyncio and trio adapters share: the calls of the async protocol."""

    async def call(self, method: Callable[..., Any], *args: Any) -> Any:
        return await method(*args)

    async def send_audio(self, raw: AsyncSession, audio: bytes, end: bool) -> str:
        return await raw.send_audio(audio, end)

    async def interrupt(self, raw: AsyncSession) -> str:
        return await raw.interrupt()

    async def close(self, raw: AsyncSession) -> None:
        await raw.close()


class AsyncioApi(_AsyncApi):
    """The asyncio binding."""

    name = "asyncio"

    def run(self, scenario: Callable[[Api[AsyncSession]], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run(asyncio.wait_for(scenario(self), SCENARIO_DEADLINE))

    @asynccontextmanager
    async def connect(
        self, config: SessionConfig, **options: Any
    ) -> AsyncIterator[Session[AsyncSession]]:
        async with asyncio_binding.connect(config, **options) as raw:
            yield Session(self, raw)

    async def fetch_token(self, config: SessionConfig, **options: Any) -> str:
        return await asyncio_binding.fetch_token(config, ConnectOptions(**options))

    async def next_event(self, raw: AsyncSession, timeout: float) -> Event:
        try:
            event: Event = await asyncio.wait_for(raw.next_event(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no event within {timeout} s") from None
        return event

    async def wait_until(
        self, raw: AsyncSession, condition: Callable[[], bool], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(POLL_INTERVAL)


class UvloopApi(AsyncioApi):
    """The asyncio binding on uvloop's event loop (whose transports are not
    subclasses of ``asyncio.Transport``)."""

    name = UVLOOP

    def run(self, scenario: Callable[[Api[AsyncSession]], Coroutine[Any, Any, T]]) -> T:
        import uvloop

        async def on_uvloop() -> T:
            loop = asyncio.get_running_loop()
            assert isinstance(loop, uvloop.Loop), f"expected uvloop, running on {loop!r}"
            return await asyncio.wait_for(scenario(self), SCENARIO_DEADLINE)

        result: T = uvloop.run(on_uvloop())
        return result


class TrioApi(_AsyncApi):
    """The trio binding."""

    name = "trio"

    def run(self, scenario: Callable[[Api[AsyncSession]], Coroutine[Any, Any, T]]) -> T:
        async def bounded() -> T:
            with trio.fail_after(SCENARIO_DEADLINE):
                return await scenario(self)

        return trio.run(bounded)

    @asynccontextmanager
    async def connect(
        self, config: SessionConfig, **options: Any
    ) -> AsyncIterator[Session[AsyncSession]]:
        async with trio_binding.connect(config, **options) as raw:
            yield Session(self, raw)

    async def fetch_token(self, config: SessionConfig, **options: Any) -> str:
        return await trio_binding.fetch_token(config, ConnectOptions(**options))

    async def next_event(self, raw: AsyncSession, timeout: float) -> Event:
        try:
            with trio.fail_after(timeout):
                event: Event = await raw.next_event()
        except trio.TooSlowError:
            raise TimeoutError(f"no event within {timeout} s") from None
        return event

    async def wait_until(
        self, raw: AsyncSession, condition: Callable[[], bool], timeout: float
    ) -> None:
        with trio.move_on_after(timeout):
            while not condition():
                await trio.sleep(POLL_INTERVAL)
            return
        raise TimeoutError(f"condition not met within {timeout} s")


class NeverSuspends(AssertionError):
    """A blocking-binding scenario awaited something that really suspends."""


def run_without_suspending(coroutine: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine whose awaits all complete at once; fail if it ever yields."""
    try:
        yielded = coroutine.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coroutine.close()
    raise NeverSuspends(f"the blocking scenario suspended (yielded {yielded!r})")


class BlockingApi(Api[BlockingSession]):
    """The blocking binding, its calls wrapped in ``async def`` shims."""

    name = "blocking"

    def run(self, scenario: Callable[[Api[BlockingSession]], Coroutine[Any, Any, T]]) -> T:
        return run_without_suspending(scenario(self))

    @asynccontextmanager
    async def connect(
        self, config: SessionConfig, **options: Any
    ) -> AsyncIterator[Session[BlockingSession]]:
        with blocking_binding.connect(config, **options) as raw:
            yield Session(self, raw)

    async def fetch_token(self, config: SessionConfig, **options: Any) -> str:
        return blocking_binding.fetch_token(config, ConnectOptions(**options))

    async def call(self, method: Callable[..., Any], *args: Any) -> Any:
        return method(*args)

    async def send_audio(self, raw: BlockingSession, audio: bytes, end: bool) -> str:
        return raw.send_audio(audio, end)

    async def interrupt(self, raw: BlockingSession) -> str:
        return raw.interrupt()

    async def close(self, raw: BlockingSession) -> None:
        raw.close()

    async def next_event(self, raw: BlockingSession, timeout: float) -> Event:
        return raw.next_event(timeout)

    async def wait_until(
        self, raw: BlockingSession, condition: Callable[[], bool], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            raw.wait(POLL_INTERVAL)


def api_for(name: str) -> Api[Any]:
    """The adapter of one binding by name (skips the test if uvloop is wanted and absent)."""
    if name == UVLOOP:
        pytest.importorskip("uvloop", reason="uvloop is not installed (extra 'fast')")
    apis: dict[str, Callable[[], Api[Any]]] = {
        "asyncio": AsyncioApi,
        UVLOOP: UvloopApi,
        "trio": TrioApi,
        "blocking": BlockingApi,
    }
    return apis[name]()


# --- counting what the process holds open --------------------------------------------------


def _tcp_inodes_to(port: int) -> set[str]:
    """Inodes of this host's TCP sockets whose remote port is ``port`` (Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[9] != "0":
                    inodes.add(fields[9])
    return inodes


def client_sockets_to(port: int) -> int:
    """Sockets this process holds whose peer is ``port``: a client's side of the
    connections to a loopback server (the server's own sides are not counted)."""
    inodes = _tcp_inodes_to(port)
    count = 0
    for entry in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(entry)
            if link.startswith("socket:[") and link[8:-1] in inodes:
                count += 1
    return count


def open_fds() -> int:
    """File descriptors this process holds open."""
    return len(os.listdir("/proc/self/fd"))
