"""Client-side audio encoding: what a session needs of an encoder, shared by every binding.

With ``connect(config, encoder=...)`` the application sends PCM and each request goes
out as one continuous encoded stream (``avatarwire.bindings.opus.OpusEncoder`` makes
Ogg Opus); the session opens a stream with a request's first audio, finishes it
at ``end=True`` and drops it on an interrupt.
"""

from __future__ import annotations

from typing import Protocol

from avatarwire.core.config import SessionConfig

__all__ = ["AudioEncoder", "EncodedStream"]


class EncodedStream(Protocol):
    """One request's audio, being encoded."""

    def encode(self, pcm: bytes) -> bytes:
        """Encode 16-bit mono PCM; the encoded bytes ready so far (maybe none)."""

    def finish(self) -> bytes:
        """Flush the encoder and end the stream; its last bytes."""

    def close(self) -> None:
        """Drop the stream unfinished (the request was interrupted)."""


class AudioEncoder(Protocol):
    """Makes the stream of each request of a session."""

    @property
    def input_rate(self) -> int:
        """The sample rate of the 16-bit mono PCM it takes (real-time pacing needs it)."""

    def check(self, config: SessionConfig) -> None:
        """Raise a ``ConfigError`` if this encoder cannot feed a session of ``config``."""

    def new_stream(self, config: SessionConfig) -> EncodedStream:
        """A fresh stream for one request; its first :meth:`~EncodedStream.encode`
        returns bytes (the stream's headers at least)."""
