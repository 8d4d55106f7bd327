"""Per-request bookkeeping: the utterance and interrupt rules of the protocol.

Audio is grouped into requests that share one ``req_id``; ``end=True`` or an
interrupt closes the current request on the client side, and the next audio opens
a new one. The service finishes each request once (generation complete, or playout
drained with egress), possibly repeating itself; this ledger makes it exactly once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import LocalProtocolError
from .request_ids import RequestIdFactory


@dataclass(slots=True)
class RequestStatus:
    """What is known of one request; updated by the session, read by applications."""

    req_id: str
    bytes_per_second: int | None = None
    audio_bytes: int = 0
    messages_sent: int = 0
    audio_ended: bool = False
    frames: int = 0
    finished: bool = False
    interrupted: bool = False
    #: ``interrupt()`` was called for it: frames of it still arriving are dropped.
    interrupt_sent: bool = False
    #: Frames of it that came (or still waited in a binding's queue) after
    #: ``interrupt()`` and were dropped, not handed on; ``frames`` counts them too.
    frames_dropped: int = 0

    @property
    def audio_seconds(self) -> float | None:
        """Seconds of audio sent, where the format says how many bytes a second holds."""
        if not self.bytes_per_second:
            return None
        return self.audio_bytes / self.bytes_per_second


class RequestLedger:
    """Allocates request IDs and keeps the state of recent requests in order."""

    def __init__(
        self,
        request_ids: RequestIdFactory,
        *,
        bytes_per_second: int | None,
        max_history: int = 1024,
    ) -> None:
        self._new_id = request_ids
        self._bytes_per_second = bytes_per_second
        self._max_history = max_history
        self._requests: OrderedDict[str, RequestStatus] = OrderedDict()
        #: ``get(req_id)``: the status of a recent request (``None``: not one). The
        #: dict's own lookup, without a Python call: the receive lane asks it per frame.
        self.get = self._requests.get
        self._unfinished: OrderedDict[str, None] = OrderedDict()
        #: The request audio goes to now, or ``None`` when the next audio opens one
        #: (read-only for callers: a plain attribute, as the send lane reads it per message).
        self.current: RequestStatus | None = None
        self._latest: RequestStatus | None = None
        self._seen: set[str] = set()

    @property
    def latest(self) -> RequestStatus | None:
        """The most recent request, open or not: what an interrupt targets."""
        return self._latest

    def __iter__(self) -> Iterator[RequestStatus]:
        return iter(self._requests.values())

    def unfinished(self) -> list[str]:
        """Requests not finished yet, oldest first."""
        return list(self._unfinished)

    def open_or_start(self) -> RequestStatus:
        """The current request, or a new one with a fresh ID."""
        if self.current is not None:
            return self.current
        req_id = self._new_id()
        if not req_id or req_id in self._seen:
            raise LocalProtocolError(
                f"the request id factory returned {req_id!r}, which is empty or already used"
            )
        self._seen.add(req_id)
        status = RequestStatus(req_id, bytes_per_second=self._bytes_per_second)
        self._requests[req_id] = status
        self._unfinished[req_id] = None
        self.current = self._latest = status
        self._forget_old()
        return status

    def record_sent(self, status: RequestStatus, audio_bytes: int, *, end: bool) -> None:
        """Count one audio message; ``end`` closes the request on the client side."""
        status.audio_bytes += audio_bytes
        status.messages_sent += 1
        if end:
            status.audio_ended = True
            self.current = None

    def interrupt_target(self) -> RequestStatus:
        """Close the current request and name the one an interrupt targets."""
        if self._latest is None:
            raise LocalProtocolError("interrupt() with no request sent yet: nothing to interrupt")
        self.current = None
        return self._latest

    def record_frame(self, req_id: str) -> RequestStatus | None:
        """Count one animation frame for its request (``None``: not a recent one)."""
        status = self._requests.get(req_id)
        if status is not None:
            status.frames += 1
        return status

    def finish(self, req_id: str, *, interrupted: bool) -> RequestStatus | None:
        """Mark a request finished; ``None`` when unknown or already finished.

        An empty ``req_id`` stands for the oldest unfinished request.
        """
        if not req_id:
            if not self._unfinished:
                return None
            req_id = next(iter(self._unfinished))
        if req_id not in self._unfinished:
            return None
        del self._unfinished[req_id]
        status = self._requests[req_id]
        status.finished = True
        status.interrupted = interrupted
        # Only the client ends a request: audio sent after the service finished it
        # early still belongs to the same utterance.
        return status

    def _forget_old(self) -> None:
        while len(self._requests) > self._max_history:
            oldest = next(iter(self._requests))
            if oldest in self._unfinished:
                break
            del self._requests[oldest]
