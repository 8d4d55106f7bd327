"""Changing the rate of 16-bit mono PCM with soxr (the SoX resampler, high quality).

soxr comes with the ``cli`` extra (``pip install 'avatarwire[cli]'``); it is imported
only when the audio's rate is not the session's, so audio that needs no resampling
streams without it.
"""

from __future__ import annotations

__all__ = ["ResampleUnavailable", "resample_s16"]


class ResampleUnavailable(RuntimeError):
    """soxr is not installed; the message says how to get it."""


def resample_s16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Mono signed 16-bit little-endian PCM at ``from_rate``, resampled to ``to_rate``."""
    if from_rate == to_rate or not pcm:
        return pcm
    try:
        import numpy
        import soxr
    except ImportError:
        raise ResampleUnavailable(
            f"resampling {from_rate} Hz audio to {to_rate} Hz needs soxr: "
            "pip install 'avatarwire[cli]'"
        ) from None
    samples = numpy.frombuffer(pcm, dtype="<i2")
    resampled = soxr.resample(samples, from_rate, to_rate, quality="HQ")
    return bytes(numpy.asarray(resampled, dtype="<i2").tobytes())
