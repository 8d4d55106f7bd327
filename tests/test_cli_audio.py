"""``avatarwire speak`` takes any WAV, Ogg Opus as it is, and names what it refuses;
it reports who ended each request, its timings, and saves the frames on request."""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_cli import clean_env, run_cli, service_env, write_wav

from avatarwire.cli.containers import sniff
from avatarwire.cli.frames_file import FrameFileError, read_frames
from avatarwire.cli.wav import read_wav_file, to_mono_s16
from avatarwire.core.codec import decode_message
from avatarwire.core.motion import decode_keyframes
from avatarwire.emulator import EmulatorThread, Fault

SECONDS = 0.5
HAS_SOXR = importlib.util.find_spec("soxr") is not None
needs_soxr = pytest.mark.skipif(not HAS_SOXR, reason="resampling needs soxr (extra 'cli')")

PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def tone(index: int, rate: int) -> float:
    """A 440 Hz tone at half scale."""
    return 0.5 * math.sin(2 * math.pi * 440 * index / rate)


def encode_sample(value: float, bits: int, is_float: bool) -> bytes:
    if is_float:
        return struct.pack("<f" if bits == 32 else "<d", value)
    if bits == 8:
        return bytes([int(value * 127) + 128])
    full = (1 << (bits - 1)) - 1
    return int(value * full).to_bytes(bits // 8, "little", signed=True)


def wav_bytes(
    *,
    rate: int,
    bits: int,
    channels: int = 1,
    is_float: bool = False,
    extensible: bool = False,
    seconds: float = SECONDS,
) -> bytes:
    """A WAV of a tone (left channel; the others silent), written field by field."""
    frames = int(rate * seconds)
    silent = encode_sample(0.0, bits, is_float)
    data = b"".join(
        encode_sample(tone(i, rate), bits, is_float) + silent * (channels - 1)
        for i in range(frames)
    )
    tag = 3 if is_float else 1
    block = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits
    )
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, (1 << channels) - 1)
        fmt += struct.pack("<H", tag) + PCM_GUID_TAIL
    elif is_float:
        fmt += struct.pack("<H", 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if is_float:
        chunks += b"fact" + struct.pack("<II", 4, frames)
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def expected_s16(rate: int, divisor: int = 1) -> list[int]:
    return [int(tone(i, rate) * 32767) // divisor for i in range(int(rate * SECONDS))]


# --- reading WAV files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "is_float", "extensible", "tolerance"),
    [
        (8, False, False, 400),  # 8-bit steps are 256 apart
        (16, False, False, 1),
        (24, False, False, 2),
        (32, False, False, 2),
        (32, True, False, 1),
        (64, True, False, 1),
        (24, False, True, 2),
        (32, True, True, 1),
    ],
)
def test_every_wav_kind_reads_as_the_same_16_bit_samples(
    bits: int, is_float: bool, extensible: bool, tolerance: int
) -> None:
    wav = read_wav_file(wav_bytes(rate=8000, bits=bits, is_float=is_float, extensible=extensible))
    pcm = to_mono_s16(wav)

    got = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    want = expected_s16(8000)
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= tolerance
    assert wav.extensible is extensible and f"{bits}-bit" in wav.description


def test_stereo_is_averaged_into_mono() -> None:
    wav = read_wav_file(wav_bytes(rate=8000, bits=24, channels=2))
    pcm = to_mono_s16(wav)

    got = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(abs(a - b) for a, b in zip(got, expected_s16(8000, 2), strict=True)) <= 2
    assert "stereo" in wav.description


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(40), "MP3"),
        (b"\xff\xfb\x90\x64" + bytes(40), "MP3"),
        (b"fLaC\x00\x00\x00\x22" + bytes(40), "FLAC"),
        (b"\x00\x00\x00\x20ftypM4A " + bytes(40), "MP4/M4A"),
        (b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis" + bytes(30), "Ogg Vorbis"),
        (b"FORM\x00\x00\x00\x00AIFF" + bytes(40), "AIFF"),
        (b"\x1a\x45\xdf\xa3" + bytes(40), "WebM/Matroska"),
    ],
)
def test_containers_are_told_by_their_first_bytes(head: bytes, name: str) -> None:
    assert sniff(head) == name


def test_silence_and_a_tone_as_raw_pcm_are_not_taken_for_a_container() -> None:
    assert sniff(bytes(64)) is None
    assert (
        sniff(b"".join(struct.pack("<h", int(tone(i, 16000) * 32767)) for i in range(64))) is None
    )


# --- speak: any WAV reaches the service at the session's rate ----------------------------


def speak_summary(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli("speak", "--fast", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def published(summary: dict[str, Any]) -> dict[str, Any]:
    """What the emulator's Agora sink recorded for the run's one request."""
    [request] = summary["egress"]["requests"]
    assert isinstance(request, dict)
    return request


CASES = [
    pytest.param(8000, 16, 1, False, False, 8000, id="8k-16bit-mono"),
    pytest.param(11025, 24, 2, False, False, 16000, id="11025-24bit-stereo", marks=needs_soxr),
    pytest.param(12000, 8, 1, False, False, 16000, id="12k-8bit-mono", marks=needs_soxr),
    pytest.param(22050, 32, 1, False, False, 22050, id="22050-32bit-mono"),
    pytest.param(32000, 32, 2, True, False, 32000, id="32k-float-stereo"),
    pytest.param(44100, 16, 2, False, True, 44100, id="44100-16bit-stereo-extensible"),
    pytest.param(48000, 64, 1, True, False, 48000, id="48k-double-mono"),
]


@pytest.mark.parametrize(("rate", "bits", "channels", "is_float", "extensible", "session"), CASES)
def test_speak_takes_the_wav_and_the_service_gets_it_at_the_session_rate(
    tmp_path: Path,
    rate: int,
    bits: int,
    channels: int,
    is_float: bool,
    extensible: bool,
    session: int,
) -> None:
    audio = tmp_path / "speech.wav"
    audio.write_bytes(
        wav_bytes(rate=rate, bits=bits, channels=channels, is_float=is_float, extensible=extensible)
    )

    summary = speak_summary(str(audio), "--agora-channel", "room-1")

    assert summary["sample_rate"] == session
    assert summary["audio"]["resampled_from"] == (rate if rate != session else None)
    [request] = summary["requests"]
    assert request["outcome"] == "completed"
    sink = published(summary)
    # The sink counts seconds at the session's rate: right only if the audio is at it.
    assert sink["audio_bytes"] == request["audio_bytes"]
    assert sink["audio_seconds"] == pytest.approx(SECONDS, abs=0.002)
    assert request["audio_bytes"] == pytest.approx(2 * session * SECONDS, abs=4)


@needs_soxr
def test_session_rate_resamples_to_the_rate_asked_for(tmp_path: Path) -> None:
    audio = tmp_path / "speech.wav"
    audio.write_bytes(wav_bytes(rate=48000, bits=16))

    summary = speak_summary(str(audio), "--session-rate", "24000", "--agora-channel", "room-1")

    assert (summary["sample_rate"], summary["audio"]["resampled_from"]) == (24000, 48000)
    assert published(summary)["audio_seconds"] == pytest.approx(SECONDS, abs=0.002)


# --- speak: what it refuses ----------------------------------------------------------------


@pytest.mark.parametrize("with_rate", [False, True], ids=["alone", "with-sample-rate"])
def test_an_mp3_is_refused_by_name_even_with_a_sample_rate(tmp_path: Path, with_rate: bool) -> None:
    mp3 = tmp_path / "talk.mp3"
    mp3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 500)

    result = run_cli(
        "speak", str(mp3), "--fast", *(["--sample-rate", "16000"] if with_rate else [])
    )

    assert result.returncode == 2
    assert f"{mp3}: MP3 audio" in result.stderr
    assert "connection" not in result.stdout  # nothing was streamed


def test_a_wav_of_another_codec_is_refused_naming_the_codec(tmp_path: Path) -> None:
    data = bytearray(wav_bytes(rate=16000, bits=16))
    struct.pack_into("<H", data, 20, 0x0055)
    audio = tmp_path / "mp3-in.wav"
    audio.write_bytes(bytes(data))

    result = run_cli("speak", str(audio), "--fast")

    assert result.returncode == 2
    assert "MP3-encoded audio" in result.stderr


# --- speak: Ogg Opus passes through --------------------------------------------------------


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], granule: int, sequence: int, flags: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, 7, sequence, 0, len(lacing))
    page = header + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(*, seconds: float, channels: int = 1, input_rate: int = 16000) -> bytes:
    """An Ogg Opus stream of 20 ms silent CELT frames, one page per second."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 312, input_rate, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 6) + b"tester" + struct.pack("<I", 0)
    pages = [_ogg_page([head], 0, 0, 0x02), _ogg_page([tags], 0, 1, 0)]
    packets = round(seconds * 50)
    for start in range(0, packets, 50):
        count = min(50, packets - start)
        granule = 312 + 960 * (start + count)
        last = start + count == packets
        pages.append(_ogg_page([b"\xf8\xff\xfe"] * count, granule, len(pages), 0x04 * last))
    return b"".join(pages)


def test_ogg_opus_is_passed_through_as_one_ogg_opus_request(tmp_path: Path) -> None:
    audio = tmp_path / "speech.opus"
    audio.write_bytes(ogg_opus(seconds=2.0))

    summary = speak_summary(str(audio), "--agora-channel", "room-1", "--bitrate", "24000")

    assert (summary["audio_format"], summary["sample_rate"]) == ("ogg_opus", 16000)
    assert summary["audio"]["seconds"] == pytest.approx(2.0)
    [request] = summary["requests"]
    assert request["outcome"] == "completed"
    assert published(summary)["audio_bytes"] == audio.stat().st_size == request["audio_bytes"]


def test_stereo_opus_and_split_opus_are_usage_errors(tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.opus"
    stereo.write_bytes(ogg_opus(seconds=1.0, channels=2))
    mono = tmp_path / "mono.opus"
    mono.write_bytes(ogg_opus(seconds=1.0))

    refused = run_cli("speak", str(stereo), "--fast")
    split = run_cli("speak", str(mono), "--fast", "--split-every", "0.5")

    assert refused.returncode == split.returncode == 2
    assert "Ogg Opus with 2 channels" in refused.stderr
    assert "--split-every is for PCM" in split.stderr


# --- speak: outcomes, timings, saved frames ---------------------------------------------


def test_a_server_close_is_named_with_its_code(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=1.0)
    with EmulatorThread(realtime=False, fault=Fault.close(4001, after_audio=3)) as emu:
        table = run_cli("speak", str(audio), "--fast", env=service_env(emu))
        result = run_cli("speak", str(audio), "--fast", "--json", env=service_env(emu))

    assert table.returncode == result.returncode == 1
    assert "closed by the server (4001)" in table.stdout
    [request] = json.loads(result.stdout)["requests"]
    assert (request["outcome"], request["close_code"]) == ("closed_by_server", 4001)


def test_an_interrupt_of_ours_is_named_as_ours(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=1.0)

    table = run_cli("speak", str(audio), "--fast", "--interrupt-after", "0.5")
    summary = speak_summary(str(audio), "--interrupt-after", "0.5")

    assert table.returncode == 0 and "interrupted by you" in table.stdout
    assert summary["requests"][0]["outcome"] == "interrupted_by_you"


def test_paced_timings_are_measured_per_request(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "two.wav", seconds=2.0)

    result = run_cli("speak", str(audio), "--json", "--split-every", "1")

    assert result.returncode == 0, result.stderr
    requests = json.loads(result.stdout)["requests"]
    assert len(requests) == 2
    for request in requests:
        assert request["time_to_first_frame"] > 0
        assert request["frames_per_second"] > 0
        assert request["end_to_last_frame"] is not None


def test_saved_frames_read_back_and_decode(tmp_path: Path) -> None:
    frames_file = tmp_path / "frames.bin"

    summary = speak_summary("--save-frames", str(frames_file), "--split-every", "3")

    records = list(read_frames(frames_file.read_bytes()))
    assert summary["frames_saved"] == len(records) == sum(r["frames"] for r in summary["requests"])
    req_ids = {r["req_id"] for r in summary["requests"]}
    messages = [decode_message(record).server_response_animation for record in records]
    assert {m.req_id for m in messages} == req_ids
    assert sum(m.end for m in messages) == len(req_ids)
    assert sum(len(decode_keyframes(record)) for record in records) > 0
    with pytest.raises(FrameFileError):
        list(read_frames(frames_file.read_bytes()[:-1]))


def test_an_unwritable_frames_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("speak", "--fast", "--save-frames", str(tmp_path / "no" / "such" / "f"))

    assert result.returncode == 2
    assert "--save-frames" in result.stderr


# --- the command itself ------------------------------------------------------------------


def test_version_and_python_dash_m_avatarwire() -> None:
    from avatarwire import __version__

    direct = run_cli("--version")
    module = subprocess.run(
        [sys.executable, "-m", "avatarwire", "--version"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )

    assert direct.stdout.strip() == module.stdout.strip() == f"avatarwire {__version__}"


def test_query_auth_reaches_the_service(tmp_path: Path) -> None:
    summary = speak_summary("--query-auth")

    assert summary["requests"][0]["outcome"] == "completed"


def test_a_wrong_api_key_reads_session_token_invalid() -> None:
    with EmulatorThread(realtime=False) as emu:
        result = run_cli("speak", "--fast", env=service_env(emu, AVATARKIT_API_KEY="sk-wrong-1"))

    assert result.returncode == 1
    assert "error: [sessionTokenInvalid]" in result.stderr
    assert "sk-wrong-1" not in result.stdout + result.stderr


# --- speak --opus: PCM encoded on this side ------------------------------------------------


def test_opus_encodes_the_pcm_here_and_the_service_decodes_its_whole_length(
    tmp_path: Path,
) -> None:
    pytest.importorskip("av", reason="--opus needs the opus extra (PyAV)")
    audio = tmp_path / "speech.wav"
    audio.write_bytes(wav_bytes(rate=22050, bits=16))

    summary = speak_summary(str(audio), "--opus", "--bitrate", "24000", "--agora-channel", "r")

    # 22050 Hz PCM goes out as Opus at 24 kHz, the lowest Opus rate that keeps its band.
    assert (summary["audio_format"], summary["sample_rate"]) == ("ogg_opus", 24000)
    [request] = summary["requests"]
    assert request["outcome"] == "completed"
    assert request["audio_bytes"] < 2 * 22050 * SECONDS / 6  # PCM would be 6x more at least
    sink = published(summary)
    assert (sink["audio_format"], sink["bitrate"]) == ("ogg_opus", 24000)
    assert sink["decoded_seconds"] == pytest.approx(SECONDS, abs=0.04)


def test_opus_is_refused_for_a_file_that_is_opus_already(tmp_path: Path) -> None:
    audio = tmp_path / "speech.opus"
    audio.write_bytes(ogg_opus(seconds=1.0))

    result = run_cli("speak", str(audio), "--opus", "--fast")

    assert result.returncode == 2
    assert "--opus encodes PCM" in result.stderr


def test_bitrate_without_opus_is_refused_for_pcm(tmp_path: Path) -> None:
    audio = tmp_path / "speech.wav"
    audio.write_bytes(wav_bytes(rate=16000, bits=16))

    result = run_cli("speak", str(audio), "--bitrate", "24000", "--fast")

    assert result.returncode == 2
    assert "--bitrate is for Ogg Opus" in result.stderr
