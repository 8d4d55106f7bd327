"""PCM to Ogg Opus on the client: FFmpeg's libopus and Ogg muxer, through PyAV.

``connect(config, encoder=OpusEncoder(input_rate=24000))`` with
``config.audio_format=OGG_OPUS``: the application keeps sending 16-bit mono PCM at
``input_rate`` (any rate the service takes for PCM), and each request goes out as one
continuous Ogg Opus stream at the session's sample rate and bitrate (resampled by
FFmpeg where the rates differ). ``pip install 'avatarwire[opus]'``; only this module
imports ``av``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from avatarwire.core.config import PCM_SAMPLE_RATES, AudioFormat, SessionConfig
from avatarwire.core.errors import ConfigError

from .encoding import EncodedStream

__all__ = ["OggOpusStream", "OpusEncoder"]


@dataclass(frozen=True, slots=True)
class OpusEncoder:
    """Encoding settings; one :class:`OggOpusStream` per request.

    ``page_ms`` is how much audio an Ogg page holds before it is sent: shorter pages
    reach the service sooner and cost more overhead (about 27 bytes a page).
    ``vbr`` is libopus's mode: ``constrained`` keeps close to the bitrate.
    """

    input_rate: int = 16000
    page_ms: int = 100
    vbr: str = "constrained"

    def __post_init__(self) -> None:
        if self.input_rate not in PCM_SAMPLE_RATES:
            allowed = ", ".join(map(str, PCM_SAMPLE_RATES))
            raise ConfigError("encoder.input_rate", repr(self.input_rate), f"allowed: {allowed}")
        if not isinstance(self.page_ms, int) or not 10 <= self.page_ms <= 1000:
            raise ConfigError("encoder.page_ms", repr(self.page_ms), "allowed: 10..1000 ms")
        if self.vbr not in ("on", "off", "constrained"):
            raise ConfigError("encoder.vbr", repr(self.vbr), "allowed: on, off, constrained")

    def check(self, config: SessionConfig) -> None:
        """The session must negotiate Ogg Opus, or the service would read PCM."""
        if config.audio_format is not AudioFormat.OGG_OPUS:
            raise ConfigError(
                "audio_format",
                repr(config.audio_format.value),
                "an Opus encoder needs audio_format=AudioFormat.OGG_OPUS",
            )

    def new_stream(self, config: SessionConfig) -> EncodedStream:
        """A new Ogg Opus stream at the session's rate and bitrate."""
        return OggOpusStream(
            self.input_rate, config.sample_rate, config.bitrate, page_ms=self.page_ms, vbr=self.vbr
        )


class _Collected:
    """The file PyAV writes the Ogg stream into: bytes are taken as they come."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: Any) -> int:
        self.data += data
        return len(data)

    def take(self) -> bytes:
        taken = bytes(self.data)
        self.data.clear()
        return taken


class OggOpusStream:
    """One continuous Ogg Opus stream: PCM in, Ogg pages out."""

    def __init__(
        self,
        input_rate: int,
        output_rate: int,
        bitrate: int,
        *,
        page_ms: int = 100,
        vbr: str = "constrained",
    ) -> None:
        self._input_rate = input_rate
        self._time_base = Fraction(1, input_rate)
        self._samples = 0
        self._odd = b""  # a byte of a sample split across calls
        self._out = _Collected()
        self._container: Any = av.open(
            self._out, mode="w", format="ogg", options={"page_duration": str(page_ms * 1000)}
        )
        self._stream: Any = self._container.add_stream(
            "libopus", rate=output_rate, options={"vbr": vbr}
        )
        self._stream.bit_rate = bitrate
        self._stream.layout = "mono"
        self._container.start_encoding()  # the OpusHead / OpusTags pages, at once
        self._done = False

    def encode(self, pcm: bytes) -> bytes:
        """Encode PCM; the Ogg pages completed so far."""
        data = self._odd + bytes(pcm)
        whole = len(data) - len(data) % 2
        data, self._odd = data[:whole], data[whole:]
        if data:
            samples = len(data) // 2
            frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
            frame.planes[0].update(data)
            frame.sample_rate = self._input_rate
            frame.time_base = self._time_base
            frame.pts = self._samples
            self._samples += samples
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._out.take()

    def finish(self) -> bytes:
        """Flush the encoder and write the last page (end of stream)."""
        if not self._done:
            self._done = True
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        return self._out.take()

    def close(self) -> None:
        """Release the encoder without finishing the stream."""
        if not self._done:
            self._done = True
            self._container.close()
        self._out.take()
