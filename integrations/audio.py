"""Resampling and mono mixdown of framework audio with soxr (extra ``resample``).

One :class:`SoxrConverter` per segment: it streams, keeps partial frames for the
next chunk, and hands out the resampler's delay line at the end of the segment,
so no utterance loses its last milliseconds.
"""

from __future__ import annotations

try:
    import numpy as np
    import soxr
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError("resampling needs soxr: pip install 'avatarwire[resample]'") from exc

__all__ = ["SoxrConverter", "soxr_converters"]


class SoxrConverter:
    """16-bit PCM of ``channels`` interleaved channels at ``from_rate`` -> mono at ``to_rate``."""

    def __init__(self, from_rate: int, to_rate: int, channels: int = 1) -> None:
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self._channels = channels
        self._frame_bytes = 2 * channels
        self._carry = b""
        self._stream = (
            None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, "int16")
        )

    def convert(self, audio: bytes) -> bytes:
        """Whole frames of ``audio`` (and what was carried), converted."""
        data = self._carry + audio
        whole = len(data) - len(data) % self._frame_bytes
        self._carry = data[whole:]
        return self._process(data[:whole], last=False)

    def flush(self) -> bytes:
        """The resampler's tail; a dangling partial frame is dropped."""
        self._carry = b""
        return self._process(b"", last=True)

    def _process(self, data: bytes, *, last: bool) -> bytes:
        samples = np.frombuffer(data, dtype="<i2")
        if self._channels > 1:
            frames = samples.reshape(-1, self._channels).astype(np.int32)
            samples = (frames.sum(axis=1) // self._channels).astype("<i2")
        if self._stream is None:
            return samples.tobytes()
        if not samples.size and not last:
            return b""
        out = self._stream.resample_chunk(samples, last=last)
        return np.asarray(out, dtype="<i2").tobytes()


def soxr_converters(from_rate: int, to_rate: int, channels: int) -> SoxrConverter:
    """A :data:`avatarwire.core.conversation.ConverterFactory` backed by soxr."""
    return SoxrConverter(from_rate, to_rate, channels)
