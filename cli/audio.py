"""Reading the audio to speak: a 16-bit WAV (stereo mixed down) or raw PCM, checked
against what the service accepts, as mono signed 16-bit little-endian samples."""

from __future__ import annotations

import io
import sys
import wave
from array import array
from dataclasses import dataclass, field
from importlib import resources

from avatarwire.core.config import PCM_SAMPLE_RATES

__all__ = [
    "ACCEPTED",
    "AudioFileError",
    "SpeechAudio",
    "load_audio",
    "mix_down",
    "read_raw_pcm",
    "read_wav",
    "sample_audio",
]

SAMPLE_WIDTH = 2
_RATES = ", ".join(map(str, PCM_SAMPLE_RATES))

#: What the command accepts, said in every refusal.
ACCEPTED = (
    f"accepted: a 16-bit PCM WAV (mono, or stereo which is mixed down) at {_RATES} Hz, "
    "or raw signed 16-bit little-endian mono PCM with --sample-rate"
)


class AudioFileError(ValueError):
    """The audio cannot be streamed as given; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    """Mono signed 16-bit little-endian PCM, its rate, and where it came from."""

    pcm: bytes = field(repr=False)
    sample_rate: int
    source: str
    channels: int = 1  # channels before mixing down

    @property
    def samples(self) -> int:
        """How many samples the audio holds."""
        return len(self.pcm) // SAMPLE_WIDTH

    @property
    def seconds(self) -> float:
        """The audio's duration."""
        return self.samples / self.sample_rate


def _check_rate(rate: int, source: str) -> int:
    if rate not in PCM_SAMPLE_RATES:
        raise AudioFileError(f"{source}: unsupported sample rate {rate} Hz; {ACCEPTED}")
    return rate


def _check_not_empty(audio: SpeechAudio) -> SpeechAudio:
    if not audio.pcm:
        raise AudioFileError(f"{audio.source}: holds no audio samples; {ACCEPTED}")
    return audio


def mix_down(pcm: bytes, channels: int) -> bytes:
    """Average interleaved 16-bit little-endian channels into one (rounding down)."""
    if channels == 1:
        return pcm
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % (SAMPLE_WIDTH * channels)])
    if sys.byteorder == "big":
        samples.byteswap()
    lanes = [samples[lane::channels] for lane in range(channels)]
    mixed = array("h", (sum(frame) // channels for frame in zip(*lanes, strict=True)))
    if sys.byteorder == "big":
        mixed.byteswap()
    return mixed.tobytes()


def read_wav(data: bytes, source: str) -> SpeechAudio:
    """Read a WAV file's bytes: 16-bit PCM at an accepted rate, any channel count."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            width, channels = reader.getsampwidth(), reader.getnchannels()
            rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFileError(
            f"{source}: not a PCM WAV file we can read ({exc}); {ACCEPTED}"
        ) from None
    if width != SAMPLE_WIDTH:
        raise AudioFileError(f"{source}: {8 * width}-bit samples; {ACCEPTED}")
    _check_rate(rate, source)
    audio = SpeechAudio(mix_down(frames, channels), rate, source, channels)
    return _check_not_empty(audio)


def read_raw_pcm(data: bytes, sample_rate: int, source: str) -> SpeechAudio:
    """Take raw signed 16-bit little-endian mono PCM at ``sample_rate``."""
    _check_rate(sample_rate, source)
    if len(data) % SAMPLE_WIDTH:
        raise AudioFileError(
            f"{source}: {len(data)} bytes is not a whole number of 16-bit samples; {ACCEPTED}"
        )
    return _check_not_empty(SpeechAudio(data, sample_rate, source))


def is_wav(data: bytes) -> bool:
    """Whether the bytes start like a RIFF/WAVE file."""
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def sample_audio() -> SpeechAudio:
    """The speech sample shipped with the package (the quick start's audio)."""
    data = resources.files("avatarwire.cli").joinpath("samples").joinpath("hello.wav").read_bytes()
    return read_wav(data, "built-in sample hello.wav")


def load_audio(path: str | None, sample_rate: int | None) -> SpeechAudio:
    """The audio to speak: the sample (no path), stdin (``-``), a WAV or a raw PCM file.

    A WAV file carries its own rate: ``sample_rate``, when given, must match it.
    Anything that is not a WAV is read as raw PCM and needs ``sample_rate``.
    """
    if path is None:
        return sample_audio()
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as file:
                data = file.read()
    except OSError as exc:
        raise AudioFileError(f"cannot read {source}: {exc.strerror or exc}") from None
    if is_wav(data):
        audio = read_wav(data, source)
        if sample_rate is not None and sample_rate != audio.sample_rate:
            raise AudioFileError(
                f"{source}: --sample-rate {sample_rate} does not match the WAV file's "
                f"{audio.sample_rate} Hz; leave --sample-rate out for WAV files"
            )
        return audio
    if sample_rate is None:
        raise AudioFileError(
            f"{source}: not a WAV file; for raw PCM give --sample-rate; {ACCEPTED}"
        )
    return read_raw_pcm(data, sample_rate, source)
