"""The emulator on a background thread with its own event loop, for blocking code,
trio programs and the CLI: ``with EmulatorThread(...) as emu:``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from types import TracebackType
from typing import Any

from avatarwire.core.config import SessionConfig

from .service import Emulator

#: How long start and stop may take before the thread is given up on.
_START_STOP_TIMEOUT = 30.0


class EmulatorThread:
    """Runs an :class:`Emulator` on a daemon thread; same attributes once started."""

    def __init__(self, *args: Any, **options: Any) -> None:
        self._args = args
        self._options = options
        self._emulator: Emulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<EmulatorThread {self._emulator!r}>"

    @property
    def emulator(self) -> Emulator:
        """The running emulator (raises before start)."""
        if self._emulator is None:
            raise RuntimeError("the emulator thread is not started")
        return self._emulator

    @property
    def console_url(self) -> str:
        """Console endpoint URL."""
        return self.emulator.console_url

    @property
    def api_url(self) -> str:
        """The API root (token routes, ``GET /sdk``)."""
        return self.emulator.api_url

    @property
    def config_url(self) -> str:
        """The config-service route."""
        return self.emulator.config_url

    @property
    def ingress_url(self) -> str:
        """Ingress endpoint URL."""
        return self.emulator.ingress_url

    @property
    def egress_url(self) -> str:
        """URL of the egress record (JSON)."""
        return self.emulator.egress_url

    @property
    def port(self) -> int:
        """The TCP port served."""
        return self.emulator.port

    @property
    def api_key(self) -> str:
        """The accepted API key."""
        return self.emulator.api_key

    @property
    def app_id(self) -> str:
        """The app id of the API key."""
        return self.emulator.app_id

    @property
    def avatar_id(self) -> str:
        """The default avatar id."""
        return self.emulator.avatar_id

    def info(self) -> dict[str, str]:
        """URLs and credentials, as the CLI prints them."""
        return self.emulator.info()

    def session_config(self, **overrides: Any) -> SessionConfig:
        """A client configuration pointing at this emulator with its credentials."""
        return self.emulator.session_config(**overrides)

    def egress(self) -> dict[str, Any]:
        """The egress record, read on the emulator's loop."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the emulator thread is not started")

        async def read() -> dict[str, Any]:
            return self.emulator.egress()

        return asyncio.run_coroutine_threadsafe(read(), loop).result(_START_STOP_TIMEOUT)

    def start(self) -> None:
        """Start the thread and wait until the emulator listens."""
        if self._thread is not None:
            return
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="avatarwire-emulator", daemon=True
        )
        self._thread.start()
        ready.result(_START_STOP_TIMEOUT)

    def _run(self, ready: Future[None]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            try:
                self._emulator = Emulator(*self._args, **self._options)
                await self._emulator.start()
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            try:
                await self._stopped.wait()
            finally:
                await self._emulator.stop()

        asyncio.run(main())

    def stop(self) -> None:
        """Stop the emulator and join the thread."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None:
            return
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopped.set)
        thread.join(_START_STOP_TIMEOUT)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
