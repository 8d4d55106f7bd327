"""Each program in examples/ runs against the emulator and does what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from avatarwire.emulator import EmulatorThread

EXAMPLES = Path(__file__).parent.parent / "examples"
REQ_ID = r"\d{14}_[A-Za-z0-9_-]{12}"


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as emu:
        yield emu


def run_example(
    name: str, *args: str, emu: EmulatorThread | None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/NAME`` with the emulator's credentials in the environment (or none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVATARKIT_", "SPATIALREAL_"))}
    if emu is not None:
        env.update(
            AVATARKIT_API_KEY=emu.api_key,
            AVATARKIT_APP_ID=emu.app_id,
            AVATARKIT_AVATAR_ID=emu.avatar_id,
            AVATARKIT_CONSOLE_ENDPOINT=emu.console_url,
            AVATARKIT_INGRESS_ENDPOINT=emu.ingress_url,
        )
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def one_second_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\x10\x00\xf0\xff" * 8000)
    return path


def test_asyncio_barge_in_interrupts_the_answer_and_plays_the_reply(
    emulator: EmulatorThread,
) -> None:
    result = run_example("asyncio_agora_barge_in.py", "barge-in-test", emu=emulator)

    assert result.returncode == 0, result.stderr
    assert re.search(rf"answer {REQ_ID}: interrupted", result.stdout)
    assert re.search(rf"reply {REQ_ID}: played out", result.stdout)
    channels = emulator.egress()["agora"]
    assert isinstance(channels, dict)
    [publisher] = channels["barge-in-test"]
    assert publisher["interrupts"] == 1 and publisher["uid"] == 1001
    answer, reply = publisher["requests"]
    assert (answer["interrupted"], answer["audio_bytes"]) == (True, 32000)
    assert (reply["completed"], reply["audio_bytes"]) == (True, 16000)


def test_trio_stream_counts_the_frames_of_a_file(emulator: EmulatorThread, tmp_path: Path) -> None:
    audio = one_second_wav(tmp_path / "one.wav")

    result = run_example("trio_stream.py", str(audio), emu=emulator)

    assert result.returncode == 0, result.stderr
    assert "1.00 s of audio" in result.stdout
    assert re.search(rf"request {REQ_ID} finished with 25 frames", result.stdout)


def test_blocking_batch_sends_one_request_per_file(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    first = one_second_wav(tmp_path / "first.wav")
    second = one_second_wav(tmp_path / "second.wav")

    result = run_example("blocking_batch.py", str(first), str(second), emu=emulator)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, (first, second), strict=True):
        assert re.fullmatch(rf"{re.escape(str(path))}: {REQ_ID} 1\.00 s, 25 frames", line)


def test_blocking_batch_without_credentials_uses_the_emulator_and_the_sample() -> None:
    result = run_example("blocking_batch.py", emu=None)

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"hello\.wav: {REQ_ID} 6\.14 s, \d+ frames\n", result.stdout)
