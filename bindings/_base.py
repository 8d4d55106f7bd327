"""The part of a session every binding shares: the core, event delivery, the queue.

A binding subclasses :class:`SessionBase` and adds only I/O: reading into
``_core``, writing what it queues, waiting, and waking whoever waits for events.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable

from avatarwire.core.errors import AvatarError
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.requests import RequestStatus
from avatarwire.core.session import ClientSession, SessionState

from ._common import Callbacks, ConnectOptions, session_logger
from .encoding import AudioEncoder, EncodedStream
from .observer import SessionObserver


class SessionBase:
    """Delivers the core's events to callbacks and to a bounded queue, in order."""

    def __init__(self, core: ClientSession, options: ConnectOptions, callbacks: Callbacks) -> None:
        self._core = core
        self._options = options
        self._callbacks = callbacks
        self._queue_events = options.queue_events
        self._warned_unread = False
        #: Frames left out of a full queue while a blocking call kept the socket moving.
        self.dropped_frames = 0
        self._drop_overflowing_frames = False
        self._events: deque[Event] = deque()
        self._ready = False
        self._closed: SessionClosed | None = None
        self._log = session_logger(None)
        #: Telemetry's observer of this session (set by ``open_session``), or ``None``.
        self._observer: SessionObserver | None = None
        #: The current request's encoded stream, when the options name an encoder.
        self._encoded: EncodedStream | None = None
        #: Requests interrupted while a batch of the core's events was being handed on:
        #: the rest of that batch holds no frame of them for the caller.
        self._interrupted_in_batch: set[str] = set()
        #: Frames of interrupted requests taken out of the queue or the batch.
        self._frames_purged = 0

    @property
    def connection_id(self) -> str | None:
        """The service's id for this session, once ready."""
        return self._core.connection_id

    @property
    def capabilities(self) -> frozenset[str]:
        """What the service announced it can do (``playback_control``, ...)."""
        return self._core.capabilities

    @property
    def state(self) -> SessionState:
        """The core's state."""
        return self._core.state

    @property
    def error(self) -> AvatarError | None:
        """Why the session ended, once its state is ``ERROR`` (``None`` otherwise)."""
        return self._core.error

    def request(self, req_id: str) -> RequestStatus | None:
        """Audio sent, frames received and outcome of a recent request."""
        return self._core.request(req_id)

    # --- what the application says, queued in the core and logged ---------------------

    def _queue_audio(
        self,
        audio: bytes | bytearray | memoryview,
        end: bool,
        traceparent: str | None,
        tracestate: str | None,
    ) -> str:
        if self._options.encoder is not None:
            return self._queue_encoded_audio(
                self._options.encoder, audio, end, traceparent, tracestate
            )
        return self._queue_payload(audio, end, traceparent, tracestate)

    def _queue_encoded_audio(
        self,
        encoder: AudioEncoder,
        audio: bytes | bytearray | memoryview,
        end: bool,
        traceparent: str | None,
        tracestate: str | None,
    ) -> str:
        """PCM through the request's encoded stream: opened with the request's first audio
        (its headers go out at once), finished at ``end``, dropped by an interrupt."""
        if not isinstance(audio, (bytes, bytearray, memoryview)) or not (audio or end):
            return self._queue_payload(audio, end, traceparent, tracestate)  # the core says why
        current = self._core.requests.current
        stream = self._encoded
        if stream is None or current is None:
            self._drop_encoded()
            stream = self._encoded = encoder.new_stream(self._core.config)
        try:
            payload = stream.encode(bytes(audio))
            if end:
                payload += stream.finish()
        except BaseException:
            self._drop_encoded()
            raise
        if end:
            self._encoded = None
        if not payload and not end and current is not None:
            return current.req_id  # the encoder holds it until a page is complete
        try:
            return self._queue_payload(payload, end, traceparent, tracestate)
        except BaseException:
            self._drop_encoded()
            raise

    def _drop_encoded(self) -> None:
        stream, self._encoded = self._encoded, None
        if stream is not None:
            stream.close()

    def _queue_payload(
        self,
        audio: bytes | bytearray | memoryview,
        end: bool,
        traceparent: str | None,
        tracestate: str | None,
    ) -> str:
        observer = self._observer
        if observer is not None and self._core.requests.current is None:
            return self._queue_observed_audio(observer, audio, end, traceparent, tracestate)
        req_id = self._core.send_audio(audio, end, traceparent=traceparent, tracestate=tracestate)
        if self._log.logger.isEnabledFor(logging.DEBUG):
            self._log_audio(audio, end, req_id)
        return req_id

    def _log_audio(self, audio: bytes | bytearray | memoryview, end: bool, req_id: str) -> None:
        self._log.debug("audio: %d bytes, end=%s", len(audio), end, extra={"req_id": req_id})

    def _queue_observed_audio(
        self,
        observer: SessionObserver,
        audio: bytes | bytearray | memoryview,
        end: bool,
        traceparent: str | None,
        tracestate: str | None,
    ) -> str:
        """Open a request under telemetry: its span's context goes out as the traceparent
        unless the application gave one."""
        trace = observer.request_opening()
        if traceparent is None and tracestate is None and trace is not None:
            traceparent, tracestate = trace[0], trace[1] or None
        req_id = ""
        try:
            req_id = self._core.send_audio(
                audio, end, traceparent=traceparent, tracestate=tracestate
            )
        finally:
            observer.request_opened(req_id)
        return req_id

    @property
    def interrupted_frames_dropped(self) -> int:
        """Frames of interrupted requests nobody got: those that arrived after
        ``interrupt()`` and those still queued for iteration when it was called."""
        return self._core.interrupted_frames_dropped + self._frames_purged

    def _queue_interrupt(self) -> str:
        req_id = self._core.interrupt()
        if self._core.drop_interrupted_frames:
            self._purge_frames(req_id)
        self._drop_encoded()
        if self._observer is not None:
            self._observer.interrupted(req_id)
        self._log.info("interrupt", extra={"req_id": req_id})
        return req_id

    def _queue_pause(self) -> str:
        req_id = self._core.pause()
        self._log.info("pause", extra={"req_id": req_id})
        return req_id

    def _queue_resume(self) -> str:
        req_id = self._core.resume()
        self._log.info("resume", extra={"req_id": req_id})
        return req_id

    # --- what the service says ------------------------------------------------------------

    def _purge_frames(self, req_id: str) -> None:
        """Forget the frames of an interrupted request that wait for the caller: in the
        queue, and in the rest of the batch being handed on (the core drops later ones)."""
        self._interrupted_in_batch.add(req_id)
        events = self._events
        kept = [e for e in events if not (isinstance(e, AnimationFrame) and e.req_id == req_id)]
        if len(kept) < len(events):
            self._count_purged(req_id, len(events) - len(kept))
            events.clear()
            events.extend(kept)

    def _count_purged(self, req_id: str, count: int) -> None:
        self._frames_purged += count
        status = self._core.request(req_id)
        if status is not None:
            status.frames_dropped += count

    #: Frames take :meth:`_deliver_frame`, the short way to the callback and the queue
    #: (off: every event takes :meth:`_deliver`; tests hold the two together).
    _frame_lane = True

    def _deliver_core_events(self) -> None:
        lane = self._frame_lane
        try:
            for event in self._core.events():
                if not lane or type(event) is not AnimationFrame:
                    self._deliver(event)
                elif self._interrupted_in_batch or self._observer is not None:
                    self._deliver_frame(event)
                else:  # _deliver_frame's common case, without a call per frame
                    self._callbacks.deliver_frame(event)
                    if self._queue_events:
                        self._queue_frame(event)
        finally:
            self._interrupted_in_batch.clear()

    def _deliver_frame(self, frame: AnimationFrame) -> None:
        """What :meth:`_deliver` does with a frame, without the other events' checks."""
        interrupted = self._interrupted_in_batch
        if interrupted and frame.req_id in interrupted:
            self._count_purged(frame.req_id, 1)
            return
        if self._observer is not None:
            self._observer.frame(frame.req_id)
        self._callbacks.deliver_frame(frame)
        if self._queue_events:
            self._queue_frame(frame)

    def _deliver(self, event: Event) -> None:
        """Callbacks first, then the queue (``SessionClosed`` is always queued)."""
        if (
            self._interrupted_in_batch
            and isinstance(event, AnimationFrame)
            and event.req_id in self._interrupted_in_batch
        ):
            self._count_purged(event.req_id, 1)
            return
        if isinstance(event, SessionReady):
            self._ready = True
            self._log = session_logger(event.connection_id)
            self._log.info("session ready, capabilities %s", sorted(event.capabilities))
        elif isinstance(event, RequestFinished):
            outcome = "interrupted" if event.interrupted else "finished"
            self._log.debug("request %s", outcome, extra={"req_id": event.req_id})
        elif isinstance(event, ServerError):
            self._log.warning("server error: %s", event.error, extra={"req_id": event.error.req_id})
        if self._observer is not None:
            self._observe(self._observer, event)
        self._callbacks.deliver(event)
        if isinstance(event, SessionClosed):
            self._drop_encoded()
            self._closed = event
            if event.error is not None:
                self._log.info("session closed: %s", event.error)
            self._events.append(event)
        elif self._queue_events and not isinstance(event, SessionReady):
            if isinstance(event, AnimationFrame):
                self._queue_frame(event)
                return
            self._events.append(event)
            self._warn_if_full()

    def _queue_frame(self, frame: AnimationFrame) -> None:
        """Queue a frame for iteration, or count it when a blocking call drops those
        the full queue has no room for."""
        if self._drop_overflowing_frames and len(self._events) >= self._options.max_queued_events:
            self._drop_frame()
            return
        self._events.append(frame)
        self._warn_if_full()

    def _warn_if_full(self) -> None:
        if self._queue_full and not self._warned_unread:
            self._warned_unread = True
            self._log.warning(
                "%d events wait unread, so reading pauses until they are taken: "
                "iterate the session (or call next_event()), or connect with "
                "queue_events=False if only callbacks take them",
                len(self._events),
            )

    def _observe(self, observer: SessionObserver, event: Event) -> None:
        if isinstance(event, AnimationFrame):
            observer.frame(event.req_id)
        elif isinstance(event, SessionReady):
            observer.ready(event.connection_id)
        elif isinstance(event, RequestFinished):
            status = self._core.request(event.req_id)
            if status is not None:
                observer.request_finished(status)
        elif isinstance(event, ServerError):
            observer.error(event.error)
        elif isinstance(event, SessionClosed):
            observer.closed(event.error)

    def _drop_frame(self) -> None:
        """Count a frame the full queue has no room for (its request's status counts it)."""
        self.dropped_frames += 1
        if not self._warned_unread:
            self._warned_unread = True
            self._log.warning(
                "%d events wait unread: further frames are counted in dropped_frames, not "
                "queued, while send_audio / wait_for_request keep the socket moving; "
                "iterate the session, pass transport_frames or raise max_queued_events to "
                "keep every frame, or connect with queue_events=False if none are wanted",
                len(self._events),
            )

    @property
    def _queue_full(self) -> bool:
        return len(self._events) > self._options.max_queued_events

    @property
    def _queue_has_room(self) -> bool:
        return len(self._events) <= self._options.max_queued_events // 2

    def _handshake_done(self) -> bool:
        """Whether the session is ready; raises the refusal if it closed instead."""
        if self._ready:
            return True
        if self._closed is not None:
            raise self._closed.error or AvatarError("the session closed during the handshake")
        return False

    def _take_event(self) -> Event | None:
        """The next queued event; once all are taken after the close, ``SessionClosed``
        again; ``None`` while nothing has come yet."""
        if self._events:
            return self._events.popleft()
        return self._closed


def request_frame(event: Event, req_id: str) -> AnimationFrame | bool:
    """What ``frames(req_id)`` does with an event: the frame to hand on, ``True`` when
    the request (or the session) is over, ``False`` to skip it. A session that closed
    with an error raises it."""
    if isinstance(event, AnimationFrame):
        return event if event.req_id == req_id else False
    if isinstance(event, RequestFinished):
        return event.req_id == req_id
    if isinstance(event, SessionClosed):
        if event.error is not None:
            raise event.error
        return True
    return False


class AsyncSessionBase(SessionBase):
    """The commands and the iteration of the async bindings, over their I/O: how a
    command's bytes are written (``_written``) and how the next event is awaited."""

    def _check_io(self) -> None:
        """Raise the failure of I/O another task of the session met (none by default)."""

    async def _written(self, req_id: str) -> str:
        """Write what a command queued, waiting while too much is unsent; its req_id."""
        raise NotImplementedError

    async def interrupt(self) -> str:
        """Interrupt the most recent request; returns its req_id."""
        self._check_io()
        return await self._written(self._queue_interrupt())

    async def pause(self) -> str:
        """Hold playout of the most recent request (``playback_control`` only)."""
        self._check_io()
        return await self._written(self._queue_pause())

    async def resume(self) -> str:
        """Resume playout held by :meth:`pause`."""
        self._check_io()
        return await self._written(self._queue_resume())

    async def next_event(self) -> Event:
        """The next event; after the session closed, its ``SessionClosed`` again."""
        raise NotImplementedError

    def __aiter__(self) -> EventIterator:
        return EventIterator(self.next_event)

    def frames(self, req_id: str) -> FrameIterator:
        """The animation frames of request ``req_id``, ending when it finishes.

        Takes events off the queue; those of other requests are skipped. Raises the
        session's error if it closes with one first.
        """
        return FrameIterator(self.next_event, req_id)


class EventIterator:
    """``async for event in session``: every event up to and including ``SessionClosed``.

    A plain async iterator, not an async generator: a caller that breaks out of the
    loop leaves nothing to finalize (trio warns about unfinished async generators).
    """

    def __init__(self, next_event: Callable[[], Awaitable[Event]]) -> None:
        self._next_event = next_event
        self._done = False

    def __aiter__(self) -> EventIterator:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        event = await self._next_event()
        self._done = isinstance(event, SessionClosed)
        return event


class FrameIterator:
    """``async for frame in session.frames(req_id)``, a plain iterator for the same reason."""

    def __init__(self, next_event: Callable[[], Awaitable[Event]], req_id: str) -> None:
        self._next_event = next_event
        self._req_id = req_id
        self._done = False

    def __aiter__(self) -> FrameIterator:
        return self

    async def __anext__(self) -> AnimationFrame:
        while not self._done:
            found = request_frame(await self._next_event(), self._req_id)
            if isinstance(found, AnimationFrame):
                return found
            self._done = found
        raise StopAsyncIteration
