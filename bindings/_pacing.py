"""What every binding's pacer does with a due stream: ask the session if it may write,
stop at an interrupt, hand the due audio to the session; the decisions are the
core's (:mod:`avatarwire.core.pacing`), the clock and the waiting the binding's."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from avatarwire.core.errors import LocalProtocolError
from avatarwire.core.pacing import PacedAudio

if TYPE_CHECKING:
    from ._base import SessionBase

__all__ = [
    "PacedSession",
    "PacedStreamBase",
    "current_request",
    "encoder_rate",
    "queue_paced",
    "send_unpaced",
]


class PacedSession(Protocol):
    """What a pacer needs of a session: queue audio, write it, and say if it may."""

    def _queue_paced(self, audio: bytes, end: bool) -> str:
        """Queue audio for the current request (no write yet); its req_id."""
        ...

    def _write_paced(self) -> None:
        """Write everything queued, in one write."""
        ...

    def _current_request(self) -> str | None:
        """The req_id audio goes to now (``None``: the next audio opens a request)."""
        ...

    def _wait_writable(self, wake: Callable[[], None]) -> bool:
        """``False`` if the socket takes more now; else ``True``, and ``wake()`` is called
        once when it drains (or the connection is lost)."""
        ...


class PacedStreamBase:
    """One request's audio on its way out, as a binding's pacer serves it; subclasses
    say how the caller learns the outcome (:meth:`over`, :meth:`resolve`, :meth:`fail`)
    and how the stream gets back into its pacer (:meth:`wake`)."""

    __slots__ = ("paced", "session")

    def __init__(self, session: PacedSession, paced: PacedAudio) -> None:
        self.session = session
        self.paced = paced

    def over(self) -> bool:
        """Whether the caller already has the outcome (or stopped waiting for it)."""
        raise NotImplementedError

    def resolve(self) -> None:
        """The stream is done: the caller gets its req_id."""
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        """The stream failed: the caller gets ``exc``."""
        raise NotImplementedError

    def wake(self) -> None:
        """Back into the pacer's schedule (the socket drained, or a chunk arrived)."""
        raise NotImplementedError

    def abandon(self) -> None:
        """The caller stopped waiting (or its source failed): nothing more goes out."""
        raise NotImplementedError

    async def room_to_read(self) -> None:
        """Wait until the stream may take more of its source (or is over)."""
        raise NotImplementedError

    async def feed(self, source: AsyncIterable[bytes]) -> None:
        """Take an async source's chunks as they come, for the pacer to send as each
        falls due, reading no further ahead than the stream has room for; when the
        source runs dry, what is left goes out and the request ends (if it should)."""
        paced = self.paced
        try:
            async for chunk in source:
                if self.over():
                    break
                if not paced.push(chunk):
                    continue
                self.wake()
                if not paced.has_room:
                    await self.room_to_read()
        except BaseException:
            self.abandon()
            raise
        paced.source_ran_dry()
        if paced.scheduled or paced.chunks:
            self.wake()
        else:
            self.finish()

    def serve(self, horizon: float) -> bool:
        """Send everything due by ``horizon`` in one write; whether more is to come."""
        if self.over():
            return False
        session, paced = self.session, self.paced
        try:
            if session._wait_writable(self.wake):
                return False  # back when its socket drains
            current = session._current_request()
            if paced.interrupted(current):
                self.resolve()  # the request was interrupted: stop here
                return False
            send = paced.take_due(horizon)
            if paced.cut_while_taking(current, session._current_request()):
                self.resolve()
                return False
            if send is not None:
                paced.req_id = session._queue_paced(send.audio, send.end)
                session._write_paced()
        except Exception as exc:  # the session closed or refused the audio, or the source failed
            self.fail(exc)
            return False
        if paced.finished:
            self.resolve()
            return False
        return paced.pending

    def finish(self) -> None:
        """An async source ran dry with nothing left to send: end the request (if the
        stream ends it) and resolve."""
        if self.over():
            return
        last = self.paced.last()
        try:
            if last is not None:
                self.paced.req_id = self.session._queue_paced(last.audio, last.end)
                self.session._write_paced()
        except Exception as exc:
            self.fail(exc)
            return
        self.resolve()


def queue_paced(session: SessionBase, audio: bytes, end: bool) -> str:
    """A binding's ``_queue_paced``: queue audio without writing (the pacer keeps time
    and writes once per pass); once the session closed with an error, that error."""
    try:
        return session._queue_audio(audio, end, None, None)
    except LocalProtocolError:
        closed = session._closed
        if closed is not None and closed.error is not None:
            raise closed.error from None
        raise


def current_request(session: SessionBase) -> str | None:
    """A binding's ``_current_request``: the req_id the next audio goes to (``None``:
    it opens a new request)."""
    current = session._core.requests.current
    return None if current is None else current.req_id


def encoder_rate(session: SessionBase) -> int | None:
    """The PCM rate the session's encoder takes (``None``: no encoder, PCM goes as it is)."""
    encoder = session._options.encoder
    return None if encoder is None else encoder.input_rate


async def send_unpaced(
    send_audio: Callable[..., Awaitable[str]],
    audio: Iterable[bytes] | AsyncIterable[bytes],
    end: bool,
) -> str:
    """``stream(realtime=False)`` of an async binding: every chunk as fast as
    backpressure allows, then the end of the request if asked."""
    req_id = ""
    if isinstance(audio, AsyncIterable):
        async for chunk in audio:
            req_id = await send_audio(chunk) if chunk else req_id
    else:
        for chunk in audio:
            req_id = await send_audio(chunk) if chunk else req_id
    if end:
        req_id = await send_audio(b"", end=True)
    return req_id
