"""How long the Ogg Opus audio a request carried really is: decoded with PyAV (FFmpeg),
the same library the client encodes with, when it is installed."""

from __future__ import annotations

import io


def decoded_ogg_opus_seconds(ogg: bytes) -> float | None:
    """Seconds of audio in one Ogg Opus stream; ``None`` without PyAV or if it does not
    decode (an empty stream is 0)."""
    if not ogg:
        return 0.0
    try:
        import av
    except ImportError:
        return None
    samples, rate = 0, 0
    try:
        with av.open(io.BytesIO(ogg), format="ogg") as container:
            for frame in container.decode(audio=0):
                samples += frame.samples
                rate = frame.sample_rate
    except (av.FFmpegError, ValueError, IndexError):
        return None
    return samples / rate if rate else 0.0
