"""One ingress session's behaviour: handshake, requests and their playout, interrupts,
pause / resume, playback states, idle timeout and the session's injected faults."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque

from avatarwire.core.server import (
    AudioReceived,
    ClientProtocolViolation,
    ConfigureReceived,
    InterruptReceived,
    PauseReceived,
    ResumeReceived,
    ServerEvent,
    ServerState,
    UnexpectedMessageReceived,
)
from avatarwire.core.wire_constants import (
    CAPABILITY_PLAYBACK_CONTROL,
    CAPABILITY_PLAYBACK_STATE,
    CLOSE_NORMAL,
    SERVICE_CLOSE_CODES,
)

from .faults import Fault, FaultKind, first_of
from .handshake import CODE_INVALID_ARGUMENT, CODE_UNSET, HandshakeRefusal, negotiate
from .link import Link
from .motion import MotionSynthesizer
from .playout import AudioClock, RequestPlayout
from .settings import EmulatorSettings
from .sink import EgressSink, Publisher

PLAYING, PAUSED, ENDED, INTERRUPTED = 1, 2, 3, 4


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}"


class IngressSession:
    """Answers the events of one upgraded connection; owns its tasks."""

    def __init__(
        self,
        link: Link,
        settings: EmulatorSettings,
        avatar_id: str,
        faults: tuple[Fault, ...],
        sink: EgressSink,
        motion: MotionSynthesizer,
    ) -> None:
        self._link = link
        self._settings = settings
        self.avatar_id = avatar_id
        self._faults = faults
        self._capabilities = settings.capabilities_for(avatar_id)
        self._sink = sink
        self._motion = motion
        self.connection_id = ""
        self._clock: AudioClock | None = None
        self._egress: str | None = None
        self._bytes_per_second = 0.0
        self._publisher: Publisher | None = None
        self._requests: dict[str, RequestPlayout] = {}
        self._queue: deque[RequestPlayout] = deque()
        self._latest: RequestPlayout | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stalled = first_of(faults, FaultKind.STALL_UPGRADE) is not None
        self._audio_messages = 0
        self._messages = 0
        self._loop = asyncio.get_running_loop()
        self._last_activity = self._loop.time()

    def __repr__(self) -> str:
        return f"<IngressSession connection_id={self.connection_id!r} avatar={self.avatar_id!r}>"

    @property
    def _open(self) -> bool:
        return self._link.session_open

    # --- events ----------------------------------------------------------------------

    def handle(self, event: ServerEvent) -> None:
        """React to one event of the core (after the upgrade)."""
        if self._stalled:
            return
        if isinstance(event, ConfigureReceived):
            self._configure(event)
        elif isinstance(event, ClientProtocolViolation):
            if event.close_code is None and event.http_status is None:
                self._refuse(HandshakeRefusal(CODE_UNSET, event.reason))
        elif self._link.core.state is ServerState.OPEN:
            self._handle_session_message(event)
        self._link.flush()

    def _refuse(self, refusal: HandshakeRefusal) -> None:
        """``ServerError`` then close: with the service's close code for a session-fate
        refusal (4000-4999), else normally."""
        self._link.core.send_error(refusal.code, refusal.text)
        if refusal.code in SERVICE_CLOSE_CODES:
            self._link.close(refusal.code, refusal.text)
        else:
            self._link.close(CLOSE_NORMAL)

    def _configure(self, configure: ConfigureReceived) -> None:
        outcome = negotiate(configure, self._settings.rejected_livekit_tokens)
        if isinstance(outcome, HandshakeRefusal):
            self._refuse(outcome)
            return
        refusal = first_of(self._faults, FaultKind.REFUSE_SESSION)
        if refusal is not None:
            self._refuse(HandshakeRefusal(refusal.code, refusal.text))
            return
        self.connection_id = str(uuid.uuid4())
        self._egress = outcome.egress
        self._bytes_per_second = outcome.audio_bytes_per_second
        audio_format = outcome.audio_format
        self._clock = AudioClock.for_session(
            audio_format, outcome.sample_rate, outcome.bitrate, self._settings.keyframes_per_second
        )
        if outcome.agora is not None:
            agora = outcome.agora
            self._publisher = self._sink.open_publisher(
                "agora",
                agora.channel_name,
                connection_id=self.connection_id,
                publisher_id=agora.publisher_id,
                uid=agora.uid,
                token_present=bool(agora.token),
            )
        elif outcome.livekit is not None:
            livekit = outcome.livekit
            self._publisher = self._sink.open_publisher(
                "livekit",
                livekit.room_name,
                connection_id=self.connection_id,
                publisher_id=livekit.publisher_id,
                uid=None,
                token_present=bool(livekit.api_token or livekit.api_secret),
                token=livekit.api_token,
            )
        if self._publisher is not None:
            self._publisher.audio_format = audio_format.label
            self._publisher.bitrate = 0 if audio_format.bitrate is None else outcome.bitrate
        self._link.core.confirm_session(self.connection_id, self._capabilities)
        if first_of(self._faults, FaultKind.STALL_CONFIGURE) is not None:
            self._stalled = True
            return
        self._last_activity = self._loop.time()
        self._tasks.append(asyncio.create_task(self._play_requests()))
        self._tasks.append(asyncio.create_task(self._watch_idle()))

    def _handle_session_message(self, event: ServerEvent) -> None:
        self._messages += 1
        if isinstance(event, AudioReceived):
            self._take_audio(event)
        elif isinstance(event, InterruptReceived):
            self._interrupt(event.req_id, reason="explicit")
        elif isinstance(event, (PauseReceived, ResumeReceived)):
            self._pause_or_resume(event.req_id, pause=isinstance(event, PauseReceived))
        elif isinstance(event, UnexpectedMessageReceived):
            pass  # unknown types are ignored, as the service does
        self._inject_runtime_faults(event)
        self._wake.set()

    def _inject_runtime_faults(self, event: ServerEvent) -> None:
        if not self._open:
            return
        error = first_of(self._faults, FaultKind.SERVER_ERROR)
        if error is not None and self._messages == error.after:
            req_id = getattr(event, "req_id", "")
            self._link.core.send_error(
                error.code, error.text, req_id=req_id, connection_id=self.connection_id
            )
        if not isinstance(event, AudioReceived):
            return
        close = first_of(self._faults, FaultKind.CLOSE, FaultKind.DROP, FaultKind.END_SESSION)
        if close is None or self._audio_messages != close.after:
            return
        if close.kind is FaultKind.DROP:
            self._link.flush()
            self._link.abort()
            return
        if close.kind is FaultKind.END_SESSION:
            self._link.core.send_error(
                close.code, close.text, req_id=event.req_id, connection_id=self.connection_id
            )
        self._link.close(close.code, close.text)

    def _take_audio(self, event: AudioReceived) -> None:
        assert self._clock is not None
        self._audio_messages += 1
        self._last_activity = self._loop.time()
        request = self._requests.get(event.req_id)
        if not event.req_id:
            self._runtime_error("audio input needs a req_id")
            return
        if request is None:
            if self._settings.preempt:
                for older in self._queue:
                    self._interrupt(older.req_id, reason="preempted")
            request = RequestPlayout(event.req_id, self._clock, keep_audio=self._egress is None)
            self._requests[event.req_id] = request
            self._queue.append(request)
            self._latest = request
        elif request.interrupted:
            return  # audio in flight when the interrupt arrived
        elif request.ended:
            self._runtime_error(f"request {event.req_id} already ended", event.req_id)
            return
        request.add_audio(event.audio, event.end)
        audio_format = self._clock.audio_format
        if event.end and request.audio_bytes % audio_format.alignment:
            # chunks may split a sample; a request may not end on part of one
            bits = 8 * audio_format.alignment
            text = f"{audio_format.title.lower()} audio must hold whole {bits}-bit samples"
            self._runtime_error(text, event.req_id)
        if self._publisher is not None:
            record = self._publisher.request(event.req_id)
            record.traceparent = record.traceparent or event.traceparent
            record.add_audio(event.audio, self._bytes_per_second, self._loop.time())

    def _runtime_error(self, text: str, req_id: str = "") -> None:
        self._link.core.send_error(
            CODE_INVALID_ARGUMENT, text, req_id=req_id, connection_id=self.connection_id
        )

    def _target(self, req_id: str) -> RequestPlayout | None:
        return self._requests.get(req_id) if req_id else self._latest

    def _interrupt(self, req_id: str, *, reason: str) -> None:
        """Stop a live request for good; INTERRUPTED says why (``explicit`` for the
        client's interrupt, ``preempted``, ``pause_timeout``)."""
        request = self._target(req_id)
        if reason == "explicit" and self._publisher is not None:
            self._publisher.interrupts += 1
        if request is None or not request.live:
            return
        played = self._played(request)
        request.interrupt(self._loop.time(), reason)
        if self._publisher is not None:
            self._publisher.request(request.req_id).interrupted = True
        self._send_state(request.req_id, INTERRUPTED, played, reason)

    def _pause_or_resume(self, req_id: str, *, pause: bool) -> None:
        """Act on the current (most recent) request if it is live and the session
        declared ``playback_control``; reply with the state after it in any case."""
        current = self._latest
        target = current if not req_id else self._requests.get(req_id)
        acts = CAPABILITY_PLAYBACK_CONTROL in self._capabilities
        if acts and current is not None and target is current and current.live:
            now = self._loop.time()
            current.pause(now) if pause else current.resume(now)
        echo = req_id or (current.req_id if current is not None else "")
        self._reply_state(echo, current)

    def _reply_state(self, req_id: str, current: RequestPlayout | None) -> None:
        """One ``ServerPlaybackState`` with the true state of ``current``, echoing ``req_id``."""
        if current is None:  # nothing was ever played
            self._send_state(req_id, ENDED, 0.0)
        elif current.interrupted:
            played = self._played(current)
            self._send_state(req_id, INTERRUPTED, played, current.interrupt_reason)
        elif current.drained:
            self._send_state(req_id, ENDED, current.duration)
        else:
            state = PAUSED if current.paused_at is not None else PLAYING
            self._send_state(req_id, state, self._played(current))

    def _played(self, request: RequestPlayout) -> float:
        return request.played(self._loop.time(), realtime=self._settings.realtime)

    def _send_state(self, req_id: str, state: int, played: float, reason: str = "") -> None:
        if CAPABILITY_PLAYBACK_STATE not in self._capabilities or not self._open:
            return
        self._link.core.send_playback_state(
            req_id,
            state,
            played_ms=int(played * 1000),
            reason=reason,
            connection_id=self.connection_id,
        )

    # --- playout ---------------------------------------------------------------------

    async def _wait(self, deadline: float | None) -> None:
        """Sleep until something happens or ``deadline`` (loop time) passes."""
        self._wake.clear()
        timer = None if deadline is None else self._loop.call_at(deadline, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    async def _play_requests(self) -> None:
        while self._open:
            if not self._queue:
                await self._wait(None)
                continue
            request = self._queue[0]
            if not request.interrupted:  # interrupted while it waited: never plays
                await self._play(request)
            self._queue.popleft()
            request.finished = True
            self._last_activity = max(self._last_activity, self._loop.time())

    def _held_too_long(self, request: RequestPlayout) -> float | None:
        """The pause deadline if the request is held; interrupts it once passed."""
        if request.paused_at is None:
            return None
        deadline = request.paused_at + self._settings.pause_timeout
        if self._loop.time() >= deadline:
            self._interrupt(request.req_id, reason="pause_timeout")
            self._link.flush()
        return deadline

    async def _reach(self, request: RequestPlayout, position: float) -> bool:
        """Wait until playout reaches ``position`` seconds; ``False`` if interrupted."""
        while self._open and not request.interrupted:
            pause_deadline = self._held_too_long(request)
            if pause_deadline is not None:
                await self._wait(pause_deadline)
                continue
            if not self._settings.realtime:
                return True
            due = request.due_at(position)
            if self._loop.time() >= due:
                return True
            await self._wait(due)
        return False

    async def _play(self, request: RequestPlayout) -> None:
        request.started_at = self._loop.time()
        if request.paused_at is not None:  # paused before its turn: starts held
            request.paused_at = request.started_at
        else:
            self._send_state(request.req_id, PLAYING, 0.0)
        if self._egress is not None and self._open:
            self._link.core.send_animation(
                request.req_id, end=False, connection_id=self.connection_id
            )
        self._link.flush()
        per_message = self._settings.keyframes_per_message
        kps = self._settings.keyframes_per_second
        while self._open and not request.interrupted:
            total = request.keyframes_total
            if total is not None and request.keyframes_sent >= total:
                break
            count = min(per_message, request.keyframes_ready - request.keyframes_sent)
            closing = total is not None and request.keyframes_sent + count == total
            if count <= 0 or (count < per_message and not closing):
                pause_deadline = self._held_too_long(request)
                await self._wait(pause_deadline)
                continue
            if not await self._reach(request, request.keyframes_sent / kps):
                continue
            await self._emit(request, count, last=closing)
        if not request.interrupted and await self._reach(request, request.duration):
            self._finish(request)
        self._link.flush()

    async def _emit(self, request: RequestPlayout, count: int, *, last: bool) -> None:
        first = request.keyframes_sent
        request.keyframes_sent += count
        request.end_sent = last
        if self._publisher is not None:
            self._publisher.request(request.req_id).keyframes += count
            return
        keyframe = self._motion.keyframe
        animation = b"".join(
            [keyframe(request.loudness(index), index) for index in range(first, first + count)]
        )
        self._link.core.send_animation(
            request.req_id,
            end=last,
            connection_id=self.connection_id,
            avatar_id=self.avatar_id,
            animation=animation,
        )
        self._link.flush_soon()
        await self._link.drain()

    def _finish(self, request: RequestPlayout) -> None:
        request.drained = True
        if not self._open:
            return
        core = self._link.core
        if self._egress is not None:
            ends = [request.req_id] * (2 if self._settings.repeat_drain_end else 1)
            if self._settings.drain_end_without_req_id:
                ends[-1] = ""
            for req_id in ends:
                core.send_animation(req_id, end=True, connection_id=self.connection_id)
            if self._publisher is not None:
                self._publisher.request(request.req_id).completed = True
        elif not request.end_sent:  # every frame went out before the end arrived
            request.end_sent = True
            core.send_animation(
                request.req_id, end=True, connection_id=self.connection_id, avatar_id=self.avatar_id
            )
        self._send_state(request.req_id, ENDED, request.duration)

    # --- idle timeout and shutdown ---------------------------------------------------

    async def _watch_idle(self) -> None:
        idle = self._settings.idle_timeout
        while self._open:
            now = self._loop.time()
            due = self._last_activity + idle
            if self._queue:
                await asyncio.sleep(idle)
            elif now < due:
                await asyncio.sleep(due - now)
            else:
                text = f"no audio input for {_seconds_text(idle)} seconds"
                self._link.core.send_error(CODE_UNSET, text, connection_id=self.connection_id)
                self._link.close(CLOSE_NORMAL, "idle timeout")
                self._wake.set()
                return

    async def stop(self) -> None:
        """Cancel this session's tasks and wait for them; mark its egress record closed."""
        if self._publisher is not None:
            self._publisher.closed = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
