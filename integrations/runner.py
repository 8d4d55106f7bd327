"""Runs a :class:`Conversation`'s actions on the asyncio binding: the one task an
adapter needs.

Framework calls (``audio``, ``utterance_done``, ``barge_in``, ``pause``, ``resume``,
``finish``, ``cancel``) are plain sync methods: they tell the layer and wake the
runner, so a framework that calls them from sync code (LiveKit's ``flush()`` /
``clear_buffer()``) needs no task or lock of its own. The runner task executes
actions in order, feeds the session's events back, keeps the layer's deadlines and
hands every report to ``on_report``.

Neither pipecat (a TTS service pushes ``TTSAudioRawFrame`` s as its engine makes
them; only the output transport plays them in real time, after this processor) nor
LiveKit Agents (``AudioOutput.capture_frame`` gets the TTS frames as they are
synthesized) paces the audio an adapter is handed: it often comes faster than
real time. So each request's PCM goes out through ``session.stream()``, the
library's pacer, each chunk when its audio would start playing; an interrupt drops
what was not sent yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from avatarwire.bindings._common import ConnectOptions
from avatarwire.bindings.asyncio import AsyncSession, fetch_token, open_session
from avatarwire.core.config import SessionConfig
from avatarwire.core.conversation import (
    CloseSession,
    Conversation,
    ConverterFactory,
    Interrupt,
    OpenSession,
    Output,
    Pause,
    ReconnectAfter,
    Report,
    Resume,
    SendAudio,
    Stop,
)
from avatarwire.core.errors import AvatarError, LocalProtocolError
from avatarwire.core.events import SessionReady
from avatarwire.core.pacing import pcm_bytes_per_second
from avatarwire.core.request_ids import official_request_ids

__all__ = ["ConversationRunner"]

log = logging.getLogger("avatarwire.integrations")

ReportHandler = Callable[[Report], Awaitable[None]]


def _default_converters() -> ConverterFactory | None:
    try:
        from .audio import soxr_converters
    except ImportError:
        return None
    return soxr_converters


class _Feed:
    """One request's PCM on its way to the pacer: the runner puts, ``stream()`` takes."""

    def __init__(self, req_id: str) -> None:
        self.req_id = req_id
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The chunks put so far and to come, until the request's end."""
        while (chunk := await self.queue.get()) is not None:
            yield chunk


class ConversationRunner:
    """One avatar's session, opened, fed, reopened and closed as the layer decides."""

    def __init__(
        self,
        config: SessionConfig,
        on_report: ReportHandler,
        *,
        sample_rate: int | None = None,
        silence_timeout: float = 1.5,
        converters: ConverterFactory | None = None,
        **connect: Any,
    ) -> None:
        self._config = config
        self._on_report = on_report
        self._ids = official_request_ids(lambda: datetime.now(timezone.utc), os.urandom)
        self._next_id = ""
        self.layer = Conversation(
            request_ids=self._ids,
            egress=config.agora is not None or config.livekit is not None,
            sample_rate=sample_rate,
            converters=converters or _default_converters(),
            silence_timeout=silence_timeout,
            jitter=random.random,
        )
        self._options = ConnectOptions(request_ids=self._take_id, **connect)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._session: AsyncSession | None = None
        self._feed: _Feed | None = None  # the request whose audio is being put
        self._streams: list[asyncio.Task[None]] = []  # one per request, in order
        self._reader: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self.error: AvatarError | None = None
        self.sessions_opened = 0

    # --- what the framework says (sync) -------------------------------------------------

    def now(self) -> float:
        """The runner's clock (the loop's monotonic time)."""
        return self._loop.time()

    def audio(self, pcm: bytes, sample_rate: int, channels: int = 1) -> None:
        """TTS audio for the current utterance."""
        self.layer.audio(self.now(), pcm, sample_rate, channels)
        self._wake.set()

    def start(self) -> None:
        """Open the session now (the rate given up front), not at the first audio."""
        self.layer.start(self.now())
        self._wake.set()

    def utterance_done(self) -> None:
        """The utterance is complete."""
        self.layer.utterance_done(self.now())
        self._wake.set()

    def barge_in(self) -> None:
        """The user interrupted."""
        self.layer.barge_in(self.now())
        self._wake.set()

    def pause(self) -> None:
        """Hold speech (natively if the session can, else interrupt)."""
        self.layer.pause(self.now())
        self._wake.set()

    def resume(self) -> None:
        """Continue after a pause."""
        self.layer.resume(self.now())
        self._wake.set()

    def finish(self) -> None:
        """Finish the utterance, close once everything played."""
        self.layer.finish(self.now())
        self._wake.set()

    def cancel(self) -> None:
        """Close now."""
        self.layer.cancel(self.now())
        self._wake.set()

    async def wait_stopped(self) -> None:
        """Until the layer said stop and the session is closed."""
        await self._stopped.wait()

    # --- the task ------------------------------------------------------------------------

    async def run(self) -> None:
        """Execute actions until the layer stops; cancel to abandon."""
        try:
            while not self._stopped.is_set():
                outputs = self.layer.outputs()
                for output in outputs:
                    await self._execute(output)
                if outputs:
                    continue
                self._wake.clear()
                deadline = self.layer.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self.now())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                if deadline is not None and self.now() >= deadline:
                    self.layer.tick(self.now())
        finally:
            await self._drop_session()
            self._stopped.set()

    async def _execute(self, output: Output) -> None:
        session = self._session
        try:
            if isinstance(output, Report):
                await self._on_report(output)
            elif isinstance(output, OpenSession):
                await self._open(output.sample_rate)
            elif isinstance(output, SendAudio) and session is not None:
                await self._send(session, output)
            elif isinstance(output, Interrupt) and session is not None:
                await self._drop_streams()
                await session.interrupt()
            elif isinstance(output, Pause) and session is not None:
                await session.pause()
            elif isinstance(output, Resume) and session is not None:
                await session.resume()
            elif isinstance(output, CloseSession) and session is not None:
                await session.close()
            elif isinstance(output, ReconnectAfter):
                log.warning(
                    "avatar session lost (%s); reconnecting in %.2fs", output.error, output.delay
                )
            elif isinstance(output, Stop):
                self.error = output.error
                if output.error is not None:
                    log.error("avatar session stopped: %s", output.error)
                self._stopped.set()
        except AvatarError as exc:
            # The session is going away under us; its SessionClosed tells the layer.
            log.debug("%s failed: %s", type(output).__name__, exc)

    async def _send(self, session: AsyncSession, output: SendAudio) -> None:
        """Put the audio on its request's paced stream (started with the request's first
        audio, after the streams before it); PCM only: other audio goes as it comes."""
        try:
            pcm_bytes_per_second(session._core.config)
        except LocalProtocolError:
            self._next_id = output.req_id
            await session.send_audio(output.audio, output.end)
            return
        feed = self._feed
        if feed is None or feed.req_id != output.req_id:
            feed = self._feed = _Feed(output.req_id)
            before = self._streams[-1] if self._streams else None
            self._streams.append(asyncio.create_task(self._stream(session, feed, before)))
        if output.audio:
            feed.queue.put_nowait(output.audio)
        if output.end:
            feed.queue.put_nowait(None)
            self._feed = None

    async def _stream(
        self, session: AsyncSession, feed: _Feed, before: asyncio.Task[None] | None
    ) -> None:
        """One request through the pacer, once the request before it went out whole."""
        if before is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(before)
        self._next_id = feed.req_id  # the request opens with its first paced chunk
        try:
            await session.stream(feed.chunks())
        except AvatarError as exc:  # the session is going away: its SessionClosed says so
            log.debug("streaming %s failed: %s", feed.req_id, exc)
        finally:
            if self._streams and self._streams[0] is asyncio.current_task():
                self._streams.pop(0)

    async def _drop_streams(self) -> None:
        """Stop every paced stream: what was not sent yet is dropped (an interrupt, a
        session going away)."""
        streams, self._streams, self._feed = self._streams, [], None
        for task in streams:
            task.cancel()
        for task in streams:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _take_id(self) -> str:
        return self._next_id

    async def _open(self, sample_rate: int) -> None:
        await self._drop_session()
        config = dataclasses.replace(self._config, sample_rate=sample_rate)
        try:
            token = self._options.session_token or await fetch_token(config, self._options)
            session = await open_session(config, token, self._options)
        except AvatarError as exc:
            self.layer.open_failed(self.now(), exc)
            return
        self._session = session
        self.sessions_opened += 1
        ready = SessionReady(session.connection_id or "", session.capabilities)
        self.layer.event(self.now(), ready)
        self._reader = asyncio.create_task(self._read(session))

    async def _read(self, session: AsyncSession) -> None:
        async for event in session:
            self.layer.event(self.now(), event)
            self._wake.set()

    async def _drop_session(self) -> None:
        await self._drop_streams()
        reader, self._reader = self._reader, None
        session, self._session = self._session, None
        if reader is not None:  # first, so the old session's close reaches no one
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if session is not None:
            await session.close()
