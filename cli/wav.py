"""WAV files of every common kind, read with the standard library: integer PCM of 8,
16, 24 or 32 bits, 32- or 64-bit float, plain or WAVE_FORMAT_EXTENSIBLE, any number of
channels; turned into mono signed 16-bit little-endian samples.

The ``wave`` module reads only integer PCM in a plain ``fmt`` chunk, so the chunks
are walked here. Wider integers keep their top 16 bits; floats are clipped to
[-1, 1] and scaled; channels are averaged.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass, field

__all__ = ["WavError", "WavFormat", "read_wav_file", "to_mono_s16"]

PCM = 0x0001
IEEE_FLOAT = 0x0003
EXTENSIBLE = 0xFFFE

#: Codecs that can sit in a WAV file, named in refusals (all but PCM and float).
_CODEC_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x00FF: "AAC",
    0x1610: "AAC (ADTS)",
    0x2000: "AC-3",
    0x6750: "Ogg Vorbis",
    0xF1AC: "FLAC",
}


class WavError(ValueError):
    """The bytes are not a WAV file this reader can turn into PCM."""


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What the ``fmt`` chunk says, and the ``data`` chunk's bytes."""

    codec: int  # PCM or IEEE_FLOAT (an extensible file's sub-format)
    channels: int
    sample_rate: int
    bits: int
    extensible: bool
    data: bytes = field(repr=False)

    @property
    def description(self) -> str:
        """E.g. ``24-bit PCM, stereo, 44100 Hz (extensible)``."""
        kind = "float" if self.codec == IEEE_FLOAT else "PCM"
        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        extra = " (extensible)" if self.extensible else ""
        return f"{self.bits}-bit {kind}, {layout}, {self.sample_rate} Hz{extra}"


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The first chunk of each id in a RIFF/WAVE file (a truncated last chunk is kept)."""
    chunks: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = data[offset + 8 : offset + 8 + size]
        chunks.setdefault(chunk_id, body)
        offset += 8 + size + (size & 1)  # chunks are padded to even sizes
    return chunks


def _codec_name(tag: int) -> str:
    return _CODEC_NAMES.get(tag, f"codec 0x{tag:04x}")


def read_wav_file(data: bytes) -> WavFormat:
    """Parse a RIFF/WAVE file; :class:`WavError` says what is wrong or unsupported."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        kind = data[:4].decode("latin-1")
        raise WavError(f"a {kind!r} file (only little-endian RIFF WAV is read)")
    chunks = _chunks(data)
    fmt, samples = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or len(fmt) < 16:
        raise WavError("no format chunk")
    if samples is None:
        raise WavError("no data chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    extensible = tag == EXTENSIBLE
    if extensible:
        if len(fmt) < 40:
            raise WavError("a WAVE_FORMAT_EXTENSIBLE format chunk shorter than 40 bytes")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the sub-format GUID starts with the tag
    if tag not in (PCM, IEEE_FLOAT):
        raise WavError(f"{_codec_name(tag)}-encoded audio (only PCM and float WAV are read)")
    allowed_bits = (8, 16, 24, 32) if tag == PCM else (32, 64)
    if bits not in allowed_bits:
        kind = "PCM" if tag == PCM else "float"
        raise WavError(f"{bits}-bit {kind} samples (read: {'/'.join(map(str, allowed_bits))}-bit)")
    if channels < 1 or rate < 1 or block_align != channels * bits // 8:
        raise WavError(f"an inconsistent format chunk ({channels} channels, {rate} Hz)")
    whole = len(samples) - len(samples) % block_align
    return WavFormat(tag, channels, rate, bits, extensible, samples[:whole])


def _floats_to_s16(values: array[float]) -> bytes:
    out = array("h", (int(max(-1.0, min(1.0, v)) * 32767.0) for v in values))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def _to_s16(wav: WavFormat) -> bytes:
    """Every channel's samples as signed 16-bit little-endian, still interleaved."""
    data, bits = wav.data, wav.bits
    if wav.codec == IEEE_FLOAT:
        values = array("f" if bits == 32 else "d")
        values.frombytes(data)
        if sys.byteorder == "big":
            values.byteswap()
        return _floats_to_s16(values)
    if bits == 16:
        return data
    width = bits // 8
    out = bytearray(len(data) // width * 2)
    if bits == 8:  # unsigned, centred on 128: flip the top bit to make it signed
        out[1::2] = data.translate(bytes((b ^ 0x80) for b in range(256)))
    else:  # keep the two most significant bytes of each little-endian sample
        out[0::2] = data[width - 2 :: width]
        out[1::2] = data[width - 1 :: width]
    return bytes(out)


def mix_down(pcm: bytes, channels: int) -> bytes:
    """Average interleaved 16-bit little-endian channels into one (rounding down)."""
    if channels == 1:
        return pcm
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % (2 * channels)])
    if sys.byteorder == "big":
        samples.byteswap()
    lanes = [samples[lane::channels] for lane in range(channels)]
    mixed = array("h", (sum(frame) // channels for frame in zip(*lanes, strict=True)))
    if sys.byteorder == "big":
        mixed.byteswap()
    return mixed.tobytes()


def to_mono_s16(wav: WavFormat) -> bytes:
    """The file's audio as mono signed 16-bit little-endian PCM at its own rate."""
    return mix_down(_to_s16(wav), wav.channels)
