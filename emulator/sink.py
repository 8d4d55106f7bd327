"""What egress sessions would have published, per Agora channel / LiveKit room.

Tokens are never stored: only whether one was given and, for a LiveKit token, its
claims (identity, room, grants, lifetime; the signature is dropped). Tests and the CLI read the
record back with :meth:`EgressSink.report` (in process) or ``GET /emulator/egress``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from avatarwire.core.audio_formats import AudioFormat

from .opus_probe import decoded_ogg_opus_seconds

#: Compressed formats the sink can decode, by label: the seconds a stream holds (or
#: ``None``). Other formats report the seconds counted from their bytes per second.
DECODERS: Mapping[str, Callable[[bytes], float | None]] = {
    AudioFormat.OGG_OPUS.value: decoded_ogg_opus_seconds,
}


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
    audio_format: str = AudioFormat.PCM_S16LE.value
    bitrate: int = 0
    #: When each audio message arrived (the emulator loop's clock) and its bytes.
    arrivals: list[tuple[float, int]] = field(default_factory=list, repr=False)
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)
    _encoded: bytearray = field(default_factory=bytearray, repr=False)

    def add_audio(self, audio: bytes, bytes_per_second: float, at: float | None = None) -> None:
        """Count and hash audio as it is published (a decodable stream kept to decode);
        ``at``: when it arrived, kept in :attr:`arrivals`."""
        if at is not None:
            self.arrivals.append((at, len(audio)))
        self._digest.update(audio)
        if self.audio_format in DECODERS:
            self._encoded += audio
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
            "audio_format": self.audio_format,
            "bitrate": self.bitrate,
            "decoded_seconds": self.decoded_seconds(),
        }

    def decoded_seconds(self) -> float | None:
        """Seconds of audio the request holds: PCM counted, Ogg Opus decoded (``None``
        without PyAV, or when the stream does not decode)."""
        decoder = DECODERS.get(self.audio_format)
        if decoder is None:
            return round(self.audio_seconds, 6)
        seconds = decoder(bytes(self._encoded))
        return None if seconds is None else round(seconds, 6)


@dataclass(slots=True)
class Publisher:
    """One egress session publishing into a channel / room."""

    connection_id: str
    publisher_id: str
    uid: int | None
    token_present: bool
    token_claims: dict[str, Any] | None = None
    requests: dict[str, PublishedRequest] = field(default_factory=dict)
    interrupts: int = 0
    closed: bool = False
    audio_format: str = AudioFormat.PCM_S16LE.value
    bitrate: int = 0

    def request(self, req_id: str) -> PublishedRequest:
        """The record of ``req_id``, created on first use."""
        record = self.requests.get(req_id)
        if record is None:
            record = self.requests[req_id] = PublishedRequest(
                req_id, audio_format=self.audio_format, bitrate=self.bitrate
            )
        return record

    def as_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return {
            "connection_id": self.connection_id,
            "publisher_id": self.publisher_id,
            "uid": self.uid,
            "token_present": self.token_present,
            "token_claims": self.token_claims,
            "interrupts": self.interrupts,
            "closed": self.closed,
            "requests": [record.as_dict() for record in self.requests.values()],
        }


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT as sent (not verified: the emulator has no LiveKit secret),
    without ``iss``, which names the API key."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    claims.pop("iss", None)
    return claims


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
        token: str = "",
    ) -> Publisher:
        """Start recording one session's publishing into channel / room ``place``."""
        publisher = Publisher(connection_id, publisher_id, uid, token_present, jwt_claims(token))
        self._places[kind].setdefault(place, []).append(publisher)
        return publisher

    def report(self) -> dict[str, Any]:
        """Everything recorded: ``{"agora": {channel: [publisher...]}, "livekit": {room: ...}}``."""
        return {
            kind: {place: [p.as_dict() for p in publishers] for place, publishers in places.items()}
            for kind, places in self._places.items()
        }

    def arrivals(self, req_id: str) -> list[tuple[float, int]]:
        """When each audio message of ``req_id`` arrived (the emulator loop's clock, which
        is ``time.monotonic()`` on asyncio's own loops) and its bytes, in order."""
        for places in self._places.values():
            for publishers in places.values():
                for publisher in publishers:
                    if req_id in publisher.requests:
                        return list(publisher.requests[req_id].arrivals)
        return []

    def clear(self) -> None:
        """Forget everything recorded so far."""
        for places in self._places.values():
            places.clear()
