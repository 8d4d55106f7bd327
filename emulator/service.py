"""The emulator as an asyncio server: console and ingress on one port, its lifetime,
its URLs and its egress record."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from avatarwire.core.config import SessionConfig
from avatarwire.core.wire_constants import (
    CONFIG_SERVICE_PATH,
    INGRESS_PATH,
    LEGACY_CONSOLE_SUFFIX,
)

from .connection import ConnectionHandler
from .console import EGRESS_PATH, Console
from .faults import Fault
from .motion import MotionSynthesizer
from .settings import ANY_AVATAR, EmulatorSettings
from .sink import EgressSink
from .tokens import TokenStore

FaultSpec = Fault | Sequence[Fault]


def _as_tuple(faults: FaultSpec) -> tuple[Fault, ...]:
    return (faults,) if isinstance(faults, Fault) else tuple(faults)


def build_settings(
    settings: EmulatorSettings | None = None,
    *,
    fault: FaultSpec | None = None,
    faults: Mapping[str, FaultSpec] | None = None,
    avatar_id: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    **fields: Any,
) -> EmulatorSettings:
    """Settings from keyword arguments: every :class:`EmulatorSettings` field, plus
    ``fault`` (instance-wide), ``faults`` (per avatar id), ``avatar_id`` (the default
    avatar) and ``certfile`` / ``keyfile`` (TLS)."""
    merged: dict[str, tuple[Fault, ...]] = dict(settings.faults if settings else {})
    for key, spec in (faults or {}).items():
        merged[key] = _as_tuple(spec)
    if fault is not None:
        merged[ANY_AVATAR] = merged.get(ANY_AVATAR, ()) + _as_tuple(fault)
    if avatar_id is not None:
        fields["avatar_ids"] = (avatar_id, *fields.get("avatar_ids", ()))
    if "avatar_ids" in fields:
        fields["avatar_ids"] = tuple(dict.fromkeys(fields["avatar_ids"]))
    if certfile is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
        fields["ssl_context"] = context
    return replace(settings or EmulatorSettings(), faults=merged, **fields)


class Emulator:
    """A local AvatarKit service; ``async with Emulator(...) as emu:`` serves on loopback.

    Keyword arguments: see :func:`build_settings`. ``emu.console_url`` /
    ``emu.ingress_url`` go straight into a client's config, with ``emu.api_key``,
    ``emu.app_id`` and ``emu.avatar_id``; ``emu.egress()`` returns the egress record.
    """

    def __init__(self, settings: EmulatorSettings | None = None, **options: Any) -> None:
        self.settings = build_settings(settings, **options)
        self.tokens = TokenStore()
        self.sink = EgressSink()
        self._motion = MotionSynthesizer(self.settings.keyframes_per_second)
        self._console = Console(
            self.settings, self.tokens, self.sink.report, origin=lambda: self.api_url
        )
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[Any], ConnectionHandler] = {}
        self._port = 0

    def __repr__(self) -> str:
        where = f"port={self._port}" if self._server else "stopped"
        return f"<Emulator {where} connections={len(self._handlers)}>"

    # --- what clients need ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port served (known once started)."""
        return self._port

    @property
    def _origin_host(self) -> str:
        host = self.settings.host
        if host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        return f"[{host}]" if ":" in host else host

    @property
    def api_url(self) -> str:
        """The API root (``http[s]://HOST:PORT``): token routes and ``GET /sdk`` live here."""
        scheme = "https" if self.settings.ssl_context else "http"
        return f"{scheme}://{self._origin_host}:{self._port}"

    @property
    def config_url(self) -> str:
        """The config-service route: environments resolved to this emulator."""
        return f"{self.api_url}{CONFIG_SERVICE_PATH}"

    @property
    def console_url(self) -> str:
        """Console endpoint URL (``http[s]://HOST:PORT/v1/console``)."""
        scheme = "https" if self.settings.ssl_context else "http"
        return f"{scheme}://{self._origin_host}:{self._port}{LEGACY_CONSOLE_SUFFIX}"

    @property
    def ingress_url(self) -> str:
        """Ingress endpoint URL (``ws[s]://HOST:PORT/v2/driveningress``)."""
        scheme = "wss" if self.settings.ssl_context else "ws"
        return f"{scheme}://{self._origin_host}:{self._port}{INGRESS_PATH}"

    @property
    def egress_url(self) -> str:
        """Where ``GET`` returns the egress record as JSON."""
        scheme = "https" if self.settings.ssl_context else "http"
        return f"{scheme}://{self._origin_host}:{self._port}{EGRESS_PATH}"

    @property
    def api_key(self) -> str:
        """The accepted API key."""
        return self.settings.api_key

    @property
    def app_id(self) -> str:
        """The app id of :attr:`api_key`."""
        return self.settings.app_id

    @property
    def avatar_id(self) -> str:
        """The default avatar id."""
        return self.settings.avatar_ids[0]

    @property
    def active_sessions(self) -> int:
        """Open TCP connections (console calls and ingress sessions)."""
        return len(self._handlers)

    def egress(self) -> dict[str, Any]:
        """What egress sessions published (see :meth:`EgressSink.report`)."""
        return self.sink.report()

    def info(self) -> dict[str, str]:
        """The start-up line of the CLI: URLs and credentials."""
        return {
            "console_url": self.console_url,
            "ingress_url": self.ingress_url,
            "api_key": self.api_key,
            "app_id": self.app_id,
            "avatar_id": self.avatar_id,
        }

    def session_config(self, **overrides: Any) -> SessionConfig:
        """A client configuration pointing at this emulator with its credentials."""
        fields: dict[str, Any] = {
            "api_key": self.api_key,
            "app_id": self.app_id,
            "avatar_id": self.avatar_id,
            "console_url": self.console_url,
            "ingress_url": self.ingress_url,
        }
        return SessionConfig(**{**fields, **overrides})

    # --- lifetime ---------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve_connection,
            self.settings.host,
            self.settings.port,
            ssl=self.settings.ssl_context,
            backlog=2048,
            limit=64 * 1024,
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, close every connection (1001 on open sessions), wait for them."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._handlers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        handler = ConnectionHandler(
            self.settings, self._console, self.tokens, self.sink, self._motion, reader, writer
        )
        self._handlers[task] = handler
        try:
            await handler.serve()
        except asyncio.CancelledError:
            pass  # stop() cancels connections; the task ends here, cleaned up
        finally:
            self._handlers.pop(task, None)
            # A cancel can land mid-shutdown; a transport left open would keep
            # Server.wait_closed() (Python 3.12.1+) waiting for ever.
            if not writer.transport.is_closing():
                writer.transport.abort()
