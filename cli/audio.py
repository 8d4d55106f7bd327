"""Reading the audio to speak: any WAV, raw PCM, or an Ogg Opus file passed through.

WAV (integer 8/16/24/32-bit or float, plain or extensible, any channels) and raw
signed 16-bit PCM become mono 16-bit PCM at the session's rate, resampled with soxr
when the file's rate is not it. Ogg Opus goes to the service as it is, in an
``ogg_opus`` session. Any other container (MP3, FLAC, MP4...) is refused by name.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources

from avatarwire.core.audio_formats import AUDIO_FORMATS
from avatarwire.core.config import (
    OPUS_DEFAULT_BITRATE,
    OPUS_SAMPLE_RATES,
    PCM_SAMPLE_RATES,
    AudioFormat,
)

from .containers import OGG_OPUS, WAV, sniff
from .ogg_opus import OggOpusError, read_ogg_opus
from .resample import ResampleUnavailable, resample_s16
from .wav import WavError, mix_down, read_wav_file, to_mono_s16

__all__ = [
    "ACCEPTED",
    "DEFAULT_SESSION_RATE",
    "AudioFileError",
    "SpeechAudio",
    "load_audio",
    "mix_down",
    "read_raw_pcm",
    "read_wav",
    "sample_audio",
]

#: Bytes of one sample of the 16-bit PCM that files are converted to.
SAMPLE_WIDTH = AUDIO_FORMATS[AudioFormat.PCM_S16LE].alignment
#: The session's rate when the audio's own rate is not one the service takes.
DEFAULT_SESSION_RATE = 16000

#: What the command accepts, said in every refusal.
ACCEPTED = (
    "accepted: a WAV file (8/16/24/32-bit integer or 32/64-bit float PCM, any channels, "
    "any rate), an Ogg Opus file (mono), or raw signed 16-bit little-endian mono PCM "
    "with --sample-rate"
)


class AudioFileError(ValueError):
    """The audio cannot be streamed as given; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    """The audio as the session will carry it, and where it came from.

    ``data`` is mono signed 16-bit little-endian PCM at ``sample_rate`` or, for
    ``ogg_opus``, the Ogg Opus stream itself, cut at ``pages`` (byte offset, start
    second) when paced.
    """

    data: bytes = field(repr=False)
    sample_rate: int
    source: str
    seconds: float
    audio_format: AudioFormat = AudioFormat.PCM_S16LE
    described: str = "16-bit PCM, mono"  # the file's own format, before any conversion
    source_rate: int | None = None  # the file's rate, when it differs from sample_rate
    bitrate: int = 0
    pages: tuple[tuple[int, float], ...] = ()

    @property
    def pcm(self) -> bytes:
        """The PCM to stream (``data``, for PCM sessions)."""
        return self.data

    @property
    def bytes_per_second(self) -> float:
        """How many bytes carry one second of this audio (on average, for Opus)."""
        exact = AUDIO_FORMATS[self.audio_format].bytes_per_second(self.sample_rate)
        if exact is not None:
            return float(exact)
        return len(self.data) / self.seconds if self.seconds else float(self.bitrate // 8 or 1)


def _session_rate(file_rate: int, wanted: int | None) -> int:
    if wanted is not None:
        return wanted
    return file_rate if file_rate in PCM_SAMPLE_RATES else DEFAULT_SESSION_RATE


def _pcm_audio(
    pcm: bytes, file_rate: int, source: str, described: str, session_rate: int | None
) -> SpeechAudio:
    if not pcm:
        raise AudioFileError(f"{source}: holds no audio samples; {ACCEPTED}")
    rate = _session_rate(file_rate, session_rate)
    try:
        data = resample_s16(pcm, file_rate, rate)
    except ResampleUnavailable as exc:
        raise AudioFileError(f"{source}: {exc}") from None
    seconds = len(pcm) / (SAMPLE_WIDTH * file_rate)
    source_rate = file_rate if file_rate != rate else None
    return SpeechAudio(data, rate, source, seconds, described=described, source_rate=source_rate)


def read_wav(data: bytes, source: str, session_rate: int | None = None) -> SpeechAudio:
    """A WAV file's audio as mono 16-bit PCM at the session's rate."""
    try:
        wav = read_wav_file(data)
    except WavError as exc:
        raise AudioFileError(f"{source}: {exc}; {ACCEPTED}") from None
    return _pcm_audio(to_mono_s16(wav), wav.sample_rate, source, wav.description, session_rate)


def read_raw_pcm(
    data: bytes, sample_rate: int, source: str, session_rate: int | None = None
) -> SpeechAudio:
    """Raw signed 16-bit little-endian mono PCM at ``sample_rate``."""
    if len(data) % SAMPLE_WIDTH:
        raise AudioFileError(
            f"{source}: {len(data)} bytes is not a whole number of 16-bit samples; {ACCEPTED}"
        )
    described = f"raw 16-bit PCM, mono, {sample_rate} Hz"
    return _pcm_audio(data, sample_rate, source, described, session_rate)


def read_opus(data: bytes, source: str, bitrate: int | None) -> SpeechAudio:
    """An Ogg Opus file, passed through: its session rate from the header."""
    try:
        opus = read_ogg_opus(data)
    except OggOpusError as exc:
        raise AudioFileError(f"{source}: {exc}; {ACCEPTED}") from None
    if opus.channels != 1:
        raise AudioFileError(
            f"{source}: Ogg Opus with {opus.channels} channels; the service takes mono Opus "
            "(convert it, or give a WAV, which is mixed down)"
        )
    rate = opus.input_rate if opus.input_rate in OPUS_SAMPLE_RATES else 48000
    return SpeechAudio(
        data,
        rate,
        source,
        opus.seconds,
        audio_format=AudioFormat.OGG_OPUS,
        described=f"Ogg Opus, mono, encoded from {opus.input_rate} Hz",
        bitrate=bitrate or OPUS_DEFAULT_BITRATE,
        pages=opus.pages,
    )


def sample_audio() -> SpeechAudio:
    """The speech sample shipped with the package (the quick start's audio)."""
    data = resources.files("avatarwire.cli").joinpath("samples").joinpath("hello.wav").read_bytes()
    return read_wav(data, "built-in sample hello.wav")


def _read(path: str) -> bytes:
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise AudioFileError(f"cannot read {source}: {exc.strerror or exc}") from None


def load_audio(
    path: str | None,
    sample_rate: int | None,
    *,
    session_rate: int | None = None,
    bitrate: int | None = None,
) -> SpeechAudio:
    """The audio to speak: the sample (no path), stdin (``-``), or a file.

    The format is told by the file's first bytes: WAV and Ogg Opus carry their own
    rate (``sample_rate`` is for raw PCM only), other containers are refused by name,
    and anything else is raw PCM, which needs ``sample_rate``.
    """
    if path is None:
        return sample_audio()
    source = "stdin" if path == "-" else path
    data = _read(path)
    kind = sniff(data)
    if kind is not None and sample_rate is not None:
        raise AudioFileError(
            f"{source}: {kind} audio; --sample-rate is for raw PCM only "
            "(files with a header carry their own rate)"
        )
    if kind == WAV:
        return read_wav(data, source, session_rate)
    if kind == OGG_OPUS:
        return read_opus(data, source, bitrate)
    if kind is not None:
        raise AudioFileError(
            f"{source}: {kind} audio, which speak does not decode; convert it to WAV "
            f"(e.g. ffmpeg -i {path} speech.wav); {ACCEPTED}"
        )
    if sample_rate is None:
        raise AudioFileError(
            f"{source}: no WAV or Ogg Opus header; for raw PCM give --sample-rate; {ACCEPTED}"
        )
    return read_raw_pcm(data, sample_rate, source, session_rate)
