"""Every audio format a session may negotiate, as one table: what the wire calls it,
which rates and bitrates it takes, and how its bytes map to time.

The config validation, the configure message, the client's chunk splitting, the
pacer, the emulator's handshake and playout accounting and the egress sink all read
:data:`AUDIO_FORMATS`; adding a format is one :class:`AudioFormat` member and one
row here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "AUDIO_FORMATS",
    "AudioFormat",
    "AudioFormatSpec",
    "BitrateRule",
    "format_for_wire_value",
]


class AudioFormat(str, Enum):
    """How the audio of a session is encoded on the wire."""

    PCM_S16LE = "pcm_s16le"
    OGG_OPUS = "ogg_opus"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class BitrateRule:
    """The bitrates a compressed format takes (bits per second), and the one used when
    the configured bitrate is 0."""

    default: int
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class AudioFormatSpec:
    """One audio format: its wire value, allowed rates and how its bytes map to time.

    ``sample_width`` is the size of one sample in bytes for raw PCM (a chunk may be
    split anywhere, but a request must end on a whole sample: the client carries a
    partial sample to the next call) and ``None`` for a compressed stream (any byte
    boundary will do; time comes from the bitrate). ``bitrate`` is ``None`` when the
    format takes none (the configured bitrate must be 0).
    """

    format: AudioFormat
    wire_value: int
    title: str
    sample_rates: tuple[int, ...]
    bitrate: BitrateRule | None
    sample_width: int | None

    @property
    def label(self) -> str:
        """The name the public enum, the official SDK and the egress sink report."""
        return self.format.value

    @property
    def alignment(self) -> int:
        """Bytes a request's audio must be a multiple of (1: any length)."""
        return self.sample_width or 1

    def bytes_per_second(self, sample_rate: int) -> int | None:
        """Bytes of one second of audio at ``sample_rate``; ``None`` for compressed
        formats, whose length says nothing exact about duration."""
        return None if self.sample_width is None else sample_rate * self.sample_width


#: The table: one row per format, in :class:`AudioFormat` order.
AUDIO_FORMATS: Mapping[AudioFormat, AudioFormatSpec] = {
    AudioFormat.PCM_S16LE: AudioFormatSpec(
        format=AudioFormat.PCM_S16LE,
        wire_value=0,
        title="PCM",
        sample_rates=(8000, 16000, 22050, 24000, 32000, 44100, 48000),
        bitrate=None,
        sample_width=2,
    ),
    AudioFormat.OGG_OPUS: AudioFormatSpec(
        format=AudioFormat.OGG_OPUS,
        wire_value=1,
        title="Ogg Opus",
        sample_rates=(8000, 12000, 16000, 24000, 48000),
        bitrate=BitrateRule(default=32000, low=6000, high=510000),
        sample_width=None,
    ),
}


def format_for_wire_value(value: int) -> AudioFormatSpec | None:
    """The row of a ``ClientConfigureSession.audio_format`` value, ``None`` if unknown."""
    return next((spec for spec in AUDIO_FORMATS.values() if spec.wire_value == value), None)
