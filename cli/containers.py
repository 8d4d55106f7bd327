"""What kind of file some audio bytes are, from their first bytes (magic numbers).

``speak`` streams WAV and raw PCM and passes Ogg Opus through; every other container
or codec is named in a refusal rather than being sent to the service as if it were
PCM (which the service would lip-sync as noise, reporting success).
"""

from __future__ import annotations

__all__ = ["OGG_OPUS", "WAV", "sniff"]

WAV = "WAV"
OGG_OPUS = "Ogg Opus"


def _ogg_codec(data: bytes) -> str:
    """The codec of an Ogg stream, from its first packet's signature."""
    if len(data) < 27:
        return "Ogg"
    segments = data[26]
    first_packet = data[27 + segments : 27 + segments + 8]
    codecs = {
        b"OpusHead": OGG_OPUS,
        b"\x01vorbis": "Ogg Vorbis",
        b"\x7fFLAC": "Ogg FLAC",
        b"Speex   ": "Ogg Speex",
    }
    for signature, name in codecs.items():
        if first_packet.startswith(signature):
            return name
    return "Ogg (unknown codec)"


def _mpeg_audio(head: bytes) -> str | None:
    """MP3 / AAC by a valid frame header, for files without a tag."""
    if len(head) < 4 or head[0] != 0xFF:
        return None
    if head[1] in (0xF1, 0xF9):  # ADTS: MPEG-4 / MPEG-2 AAC without CRC
        return "AAC (ADTS)"
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    valid = head[1] & 0xE0 == 0xE0 and version != 0b01 and layer != 0
    if valid and bitrate not in (0, 0b1111) and rate != 0b11:
        return "MP3" if layer == 0b01 else "MPEG audio (layer I/II)"
    return None


def sniff(data: bytes) -> str | None:
    """The name of the format the bytes start with, or ``None`` (raw PCM, perhaps)."""
    head = data[:64]
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"RIFF":
        return f"RIFF {head[8:12].decode('latin-1').strip() or '?'} (not WAVE)"
    if head[:4] == b"OggS":
        return _ogg_codec(data)
    if head[:3] == b"ID3":
        return "MP3"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM/Matroska"
    if head[:4] == b"caff":
        return "CAF"
    if head[:5] == b"#!AMR":
        return "AMR"
    if head[:4] == b".snd":
        return "AU"
    return _mpeg_audio(head)
