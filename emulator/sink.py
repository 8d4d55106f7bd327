"""What egress sessions would have published, per Agora channel / LiveKit room.

Tokens are never stored: only whether one was given. Tests and the CLI read the
record back with :meth:`EgressSink.report` (in process) or ``GET /emulator/egress``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PublishedRequest:
    """One request's audio and motion as published into the channel / room."""

    req_id: str
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    keyframes: int = 0
    completed: bool = False
    interrupted: bool = False
    #: The W3C trace context of the request's first message ("" when none was sent).
    traceparent: str = ""
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)

    def add_audio(self, audio: bytes, bytes_per_second: float) -> None:
        """Count and hash audio as it is published."""
        self._digest.update(audio)
        self.audio_bytes += len(audio)
        self.audio_seconds = self.audio_bytes / bytes_per_second if bytes_per_second else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return {
            "req_id": self.req_id,
            "audio_bytes": self.audio_bytes,
            "audio_seconds": round(self.audio_seconds, 6),
            "audio_sha256": self._digest.hexdigest(),
            "keyframes": self.keyframes,
            "completed": self.completed,
            "interrupted": self.interrupted,
            "traceparent": self.traceparent,
        }


@dataclass(slots=True)
class Publisher:
    """One egress session publishing into a channel / room."""

    connection_id: str
    publisher_id: str
    uid: int | None
    token_present: bool
    requests: dict[str, PublishedRequest] = field(default_factory=dict)
    interrupts: int = 0
    closed: bool = False

    def request(self, req_id: str) -> PublishedRequest:
        """The record of ``req_id``, created on first use."""
        record = self.requests.get(req_id)
        if record is None:
            record = self.requests[req_id] = PublishedRequest(req_id)
        return record

    def as_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return {
            "connection_id": self.connection_id,
            "publisher_id": self.publisher_id,
            "uid": self.uid,
            "token_present": self.token_present,
            "interrupts": self.interrupts,
            "closed": self.closed,
            "requests": [record.as_dict() for record in self.requests.values()],
        }


class EgressSink:
    """Records per ``agora`` channel and ``livekit`` room, in arrival order."""

    def __init__(self) -> None:
        self._places: dict[str, dict[str, list[Publisher]]] = {"agora": {}, "livekit": {}}

    def __repr__(self) -> str:
        counts = {kind: len(places) for kind, places in self._places.items()}
        return f"<EgressSink {counts}>"

    def open_publisher(
        self,
        kind: str,
        place: str,
        *,
        connection_id: str,
        publisher_id: str,
        uid: int | None,
        token_present: bool,
    ) -> Publisher:
        """Start recording one session's publishing into channel / room ``place``."""
        publisher = Publisher(connection_id, publisher_id, uid, token_present)
        self._places[kind].setdefault(place, []).append(publisher)
        return publisher

    def report(self) -> dict[str, Any]:
        """Everything recorded: ``{"agora": {channel: [publisher...]}, "livekit": {room: ...}}``."""
        return {
            kind: {place: [p.as_dict() for p in publishers] for place, publishers in places.items()}
            for kind, places in self._places.items()
        }

    def clear(self) -> None:
        """Forget everything recorded so far."""
        for places in self._places.values():
            places.clear()
