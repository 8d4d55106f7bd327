"""Bookkeeping of one request's playout: audio received, keyframes it makes, the
playout clock (with pauses), and the loudness of each keyframe's audio."""

from __future__ import annotations

from dataclasses import dataclass, field

from avatarwire.core.audio_formats import AudioFormatSpec

from .motion import loudness_level, speech_like_level

#: Consumed audio is trimmed from the buffer once this much piles up.
_TRIM_THRESHOLD = 64 * 1024


@dataclass(slots=True)
class AudioClock:
    """How audio bytes map to time: ``units_per_second`` samples (PCM) or bits (compressed),
    as the session's row of the core's audio-format table says."""

    audio_format: AudioFormatSpec
    units_per_second: int
    keyframes_per_second: int

    @classmethod
    def for_session(
        cls,
        audio_format: AudioFormatSpec,
        sample_rate: int,
        bitrate: int,
        keyframes_per_second: int,
    ) -> AudioClock:
        """The clock of a negotiated session: samples at its rate, or bits at its bitrate."""
        per_second = sample_rate if audio_format.sample_width else max(bitrate, 1)
        return cls(audio_format, per_second, keyframes_per_second)

    @property
    def measurable(self) -> bool:
        """Whether the audio is 16-bit PCM, whose loudness :func:`loudness_level` reads."""
        return self.audio_format.sample_width == 2

    def units(self, audio_bytes: int) -> int:
        """Samples (PCM) or bits (compressed) in ``audio_bytes``."""
        width = self.audio_format.sample_width
        return audio_bytes // width if width else audio_bytes * 8

    def whole_keyframes(self, units: int) -> int:
        """Keyframes fully covered by ``units``."""
        return units * self.keyframes_per_second // self.units_per_second

    def all_keyframes(self, units: int) -> int:
        """Keyframes touched by ``units`` (the last one may be partial)."""
        return -(-units * self.keyframes_per_second // self.units_per_second)

    def seconds(self, units: int) -> float:
        """Playout time of ``units``."""
        return units / self.units_per_second


@dataclass(slots=True)
class RequestPlayout:
    """One request from its first audio to its end, drain or interrupt."""

    req_id: str
    clock: AudioClock
    keep_audio: bool
    units: int = 0
    audio_bytes: int = 0
    ended: bool = False
    interrupted: bool = False
    interrupt_reason: str = ""
    drained: bool = False  # playout reached the end (not interrupted)
    finished: bool = False
    keyframes_sent: int = 0
    end_sent: bool = False
    started_at: float | None = None
    held: float = 0.0
    paused_at: float | None = None
    stopped_at: float | None = None  # when it was interrupted: the position freezes
    _audio: bytearray = field(default_factory=bytearray, repr=False)
    _audio_base: int = 0  # byte offset of _audio[0] within the request's audio

    def add_audio(self, audio: bytes, end: bool) -> None:
        """Take in one audio message (a PCM sample may be split across messages)."""
        self.audio_bytes += len(audio)
        self.units = self.clock.units(self.audio_bytes)
        if self.keep_audio and self.clock.measurable:
            self._audio += audio
        self.ended = self.ended or end

    @property
    def keyframes_ready(self) -> int:
        """Keyframes whose audio has fully arrived (all of them once the request ended)."""
        if self.ended:
            return self.clock.all_keyframes(self.units)
        return self.clock.whole_keyframes(self.units)

    @property
    def keyframes_total(self) -> int | None:
        """How many keyframes the request makes, once its end arrived."""
        return self.clock.all_keyframes(self.units) if self.ended else None

    @property
    def duration(self) -> float:
        """Seconds of audio received so far."""
        return self.clock.seconds(self.units)

    def position(self, now: float) -> float:
        """Seconds played so far (the clock stands still while paused)."""
        if self.started_at is None:
            return 0.0
        until = min((t for t in (self.stopped_at, self.paused_at) if t is not None), default=now)
        return max(0.0, until - self.started_at - self.held)

    def interrupt(self, now: float, reason: str) -> None:
        """Stop for good, freezing the position; ``reason`` as INTERRUPTED reports it."""
        self.interrupted = True
        self.interrupt_reason = reason
        self.stopped_at = now

    @property
    def live(self) -> bool:
        """Whether the request still plays or waits to (neither drained nor interrupted)."""
        return not (self.drained or self.interrupted)

    def played(self, now: float, *, realtime: bool) -> float:
        """Seconds of content played out: frozen while paused, never beyond the audio
        received, all of it once drained; in fast mode, the keyframes sent so far."""
        if self.drained:
            return self.duration
        if realtime:
            return min(self.position(now), self.duration)
        return min(self.keyframes_sent / self.clock.keyframes_per_second, self.duration)

    def due_at(self, position: float) -> float:
        """When the (unpaused) clock reaches ``position``."""
        assert self.started_at is not None
        return self.started_at + self.held + position

    def pause(self, now: float) -> bool:
        """Hold the clock; ``False`` if it already was held."""
        if self.paused_at is not None:
            return False
        self.paused_at = now
        return True

    def resume(self, now: float) -> bool:
        """Release the clock; ``False`` if it was not held."""
        if self.paused_at is None:
            return False
        if self.started_at is not None:
            self.held += now - max(self.paused_at, self.started_at)
        self.paused_at = None
        return True

    def loudness(self, keyframe: int) -> int:
        """Loudness level of the audio under ``keyframe``."""
        if not self.clock.measurable or not self.keep_audio:
            return speech_like_level(keyframe)
        per_second = self.clock.units_per_second
        kps = self.clock.keyframes_per_second
        start = 2 * (keyframe * per_second // kps) - self._audio_base
        stop = 2 * ((keyframe + 1) * per_second // kps) - self._audio_base
        level = loudness_level(bytes(self._audio[max(start, 0) : max(stop, 0)]))
        if start > _TRIM_THRESHOLD:
            trim = start - (start & 1)
            del self._audio[:trim]
            self._audio_base += trim
        return level
