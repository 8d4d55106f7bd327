"""Synthetic FLAME motion that follows the loudness of the audio, encoded cheaply.

Every keyframe is one of a few precomputed byte strings (a loudness level times
eyes open / blinking), so building an animation message costs a join, not a
protobuf encode: the emulator must never be the bottleneck of a benchmark.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array

from avatarwire.core.codec import length_delimited
from avatarwire.core.wire import Flame

EXPRESSION_SIZE = 100
LOUDNESS_LEVELS = 32
#: Quietest loudness that still moves the jaw, in dB below full scale.
_FLOOR_DB = 60.0
#: Samples looked at per keyframe when measuring loudness (a strided subset).
_SAMPLES_PER_MEASURE = 64
_FLAME_ANIMATION_KEYFRAMES_TAG = 0x0A  # FlameAnimation.keyframes, field 1, length-delimited


def _flame(openness: float, blinking: bool) -> Flame:
    """One pose: jaw and mouth expressions open with ``openness`` (0..1)."""
    expression = [
        round(openness * math.sin(1.7 * index + 0.3) * (1.0 if index < 10 else 0.2), 4)
        for index in range(EXPRESSION_SIZE)
    ]
    lid = 1.0 if blinking else 0.05
    return Flame(
        translation=[0.0, 0.0, 0.0],
        rotation=[0.0, 0.02 * openness, 0.0],
        neck_pose=[0.01 * openness, 0.0, 0.0],
        jaw_pose=[0.02 + 0.3 * openness, 0.0, 0.0],
        eye_pose=[0.0] * 6,
        eye_lid=[lid, lid],
        expression=expression,
    )


class MotionSynthesizer:
    """Keyframes for audio of a given loudness, as ready-to-join wire bytes."""

    def __init__(self, keyframes_per_second: int = 25) -> None:
        self.keyframes_per_second = keyframes_per_second
        self._blink_period = 4 * keyframes_per_second
        self._blink_length = max(1, keyframes_per_second // 6)
        self._entries: tuple[tuple[bytes, ...], ...] = tuple(
            tuple(
                self._entry(level / (LOUDNESS_LEVELS - 1), blinking)
                for level in range(LOUDNESS_LEVELS)
            )
            for blinking in (False, True)
        )

    @staticmethod
    def _entry(openness: float, blinking: bool) -> bytes:
        encoded = _flame(openness, blinking).SerializeToString()
        return length_delimited(bytes((_FLAME_ANIMATION_KEYFRAMES_TAG,)), encoded)

    def keyframe(self, level: int, index: int) -> bytes:
        """The ``FlameAnimation.keyframes`` entry for loudness ``level`` at keyframe ``index``
        of a request (eyes blink every four seconds)."""
        blinking = index % self._blink_period < self._blink_length
        return self._entries[blinking][min(max(level, 0), LOUDNESS_LEVELS - 1)]


def loudness_level(pcm: bytes | memoryview) -> int:
    """Loudness of signed 16-bit little-endian PCM as a level in ``0..LOUDNESS_LEVELS-1``
    (RMS on a dB scale, from a strided sample)."""
    view = memoryview(pcm)
    usable = len(view) - (len(view) & 1)
    if usable <= 0:
        return 0
    samples: memoryview | array[int] = view[:usable].cast("h")
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts are the norm
        samples = array("h", view[:usable].tobytes())
        samples.byteswap()
    step = max(1, len(samples) // _SAMPLES_PER_MEASURE)
    picked = samples[::step]
    mean_square = sum(map(operator.mul, picked, picked)) / len(picked)
    if mean_square <= 0:
        return 0
    decibels = 10 * math.log10(mean_square / (32768.0 * 32768.0))
    fraction = (decibels + _FLOOR_DB) / _FLOOR_DB
    return min(LOUDNESS_LEVELS - 1, max(0, int(fraction * (LOUDNESS_LEVELS - 1) + 0.5)))


def speech_like_level(index: int) -> int:
    """A plausible loudness for audio that cannot be measured (Ogg Opus): syllable-like."""
    return int((LOUDNESS_LEVELS - 1) * (0.55 + 0.45 * math.sin(index * 0.9)))
