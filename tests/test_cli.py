"""The ``avatarwire`` command, run as a subprocess against the emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from avatarwire.emulator import EmulatorThread, Fault

SAMPLE = Path(__file__).parent.parent / "cli" / "samples" / "hello.wav"
SECRET_KEY = "sk-test-9d2f6a71c4"
CLI = [sys.executable, "-m", "avatarwire.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any credentials, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AVATARKIT_", "SPATIALREAL_"))
    }
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m avatarwire.cli ARGS`` to completion."""
    completed = subprocess.run(
        [*CLI, *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        encoding="latin-1",
        env=env if env is not None else clean_env(),
        timeout=60,
    )
    return completed


def speak_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``speak --fast --json ARGS``; its summary, checking it exited 0."""
    result = run_cli("speak", "--fast", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def write_wav(
    path: Path, *, seconds: float, rate: int = 16000, width: int = 2, channels: int = 1
) -> Path:
    """A WAV of a quiet ramp: ``seconds`` long, with the given format."""
    frames = int(seconds * rate)
    sample = bytes(range(width))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(sample * channels * frames)
    return path


def sample_bytes() -> int:
    with wave.open(str(SAMPLE)) as wav:
        return int(wav.getnframes()) * 2


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False, api_key=SECRET_KEY) as emu:
        yield emu


def service_env(emu: EmulatorThread, prefix: str = "AVATARKIT_", **extra: str) -> dict[str, str]:
    """Credentials and endpoints of ``emu`` in the environment, as for the real service."""
    given = {
        prefix + "API_KEY": emu.api_key,
        prefix + "APP_ID": emu.app_id,
        prefix + "AVATAR_ID": emu.avatar_id,
        prefix + "CONSOLE_ENDPOINT": emu.console_url,
        prefix + "INGRESS_ENDPOINT": emu.ingress_url,
    }
    return clean_env(**{**given, **extra})


# --- speak: output ------------------------------------------------------------------------


def test_speak_without_credentials_says_it_uses_the_emulator_and_prints_a_table() -> None:
    result = run_cli("speak", "--fast")

    assert result.returncode == 0, result.stderr
    assert "no AVATARKIT_* credentials set: using the built-in emulator at http://127.0.0.1:" in (
        result.stderr
    )
    assert "req_id" in result.stdout and "frames" in result.stdout
    assert "completed" in result.stdout
    assert "6.14" in result.stdout  # seconds of the built-in sample


def test_speak_json_is_one_object_with_every_field() -> None:
    summary = speak_json()

    assert summary["emulator"] is True
    assert summary["connection_id"]
    assert summary["errors"] == []
    assert summary["egress"] is None
    [request] = summary["requests"]
    assert set(request) == {
        "req_id",
        "audio_bytes",
        "audio_seconds",
        "frames",
        "completed",
        "interrupted",
        "outcome",
        "close_code",
        "time_to_first_frame",
        "frames_per_second",
        "end_to_last_frame",
    }
    assert (request["outcome"], request["close_code"]) == ("completed", None)
    assert request["time_to_first_frame"] > 0 and request["frames_per_second"] > 0
    assert request["end_to_last_frame"] is not None
    assert (summary["audio_format"], summary["sample_rate"]) == ("pcm_s16le", 16000)
    assert summary["audio"]["format"] == "16-bit PCM, mono, 16000 Hz"
    assert request["audio_bytes"] == sample_bytes()
    assert request["audio_seconds"] == pytest.approx(sample_bytes() / 32000)
    assert request["frames"] >= 150  # 25 keyframes a second of audio
    assert (request["completed"], request["interrupted"]) == (True, False)


@pytest.mark.parametrize("binding", ["asyncio", "trio", "blocking"])
def test_each_binding_splits_and_interrupts_the_same_way(binding: str) -> None:
    summary = speak_json("--binding", binding, "--split-every", "2", "--interrupt-after", "3")

    assert summary["binding"] == binding
    requests = summary["requests"]
    # 0-2 s completes; 2-3 s is cut and interrupted; 4-6 s and the tail go on.
    assert [r["audio_bytes"] for r in requests] == [64000, 32000, 64000, sample_bytes() - 192000]
    assert [r["interrupted"] for r in requests] == [False, True, False, False]
    assert [r["completed"] for r in requests] == [True, False, True, True]
    assert len({r["req_id"] for r in requests}) == 4
    assert summary["errors"] == []


def test_interrupt_after_stops_sending_and_marks_the_request_interrupted(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "two.wav", seconds=2.0)

    summary = speak_json(str(audio), "--interrupt-after", "0.5")

    [request] = summary["requests"]
    assert request["audio_seconds"] == pytest.approx(0.5)
    assert (request["completed"], request["interrupted"]) == (False, True)


def test_a_paced_run_takes_the_audio_s_duration(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=1.0)
    started = time.monotonic()

    result = run_cli("speak", str(audio), "--json", "--chunk-ms", "100")

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    assert json.loads(result.stdout)["requests"][0]["completed"] is True


@pytest.mark.parametrize("binding", ["asyncio", "trio", "blocking"])
def test_real_time_speech_reaches_the_service_at_the_session_rate(
    binding: str, emulator: EmulatorThread, tmp_path: Path
) -> None:
    audio = write_wav(tmp_path / "paced.wav", seconds=0.6)
    channel = f"paced-{binding}"
    args = ["--json", "--binding", binding, "--agora-channel", channel]
    result = run_cli("speak", str(audio), *args, env=service_env(emulator))

    assert result.returncode == 0, result.stderr
    [request] = json.loads(result.stdout)["requests"]
    arrivals = emulator.emulator.sink.arrivals(request["req_id"])
    assert sum(size for _, size in arrivals) == request["audio_bytes"] == 0.6 * 32000
    # The library's pacer sends each 20 ms chunk when its audio would start: by the
    # emulator's own record the last arrives ~0.58 s after the first, where a run
    # that did not pace would send them all at once (half of that is the bound).
    assert len(arrivals) >= 15
    assert arrivals[-1][0] - arrivals[0][0] >= 0.58 / 2


# --- speak: egress flags reach the emulator's sink ---------------------------------------


def test_agora_flags_reach_the_sink_and_the_token_is_never_printed(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=1.0)
    args = ["--agora-channel", "demo room", "--agora-token", "agora-secret-77"]
    args += ["--agora-uid", "4242", "--agora-publisher-id", "pub-1"]
    result = run_cli("speak", str(audio), "--fast", "--json", *args)

    assert result.returncode == 0, result.stderr
    assert "agora-secret-77" not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    egress = summary["egress"]
    assert (egress["kind"], egress["channel"]) == ("agora", "demo room")
    assert (egress["uid"], egress["publisher_id"], egress["token_present"]) == (4242, "pub-1", True)
    assert egress["connection_id"] == summary["connection_id"]
    assert egress["closed"] is True
    [published] = egress["requests"]
    assert published["req_id"] == summary["requests"][0]["req_id"]
    assert published["audio_bytes"] == 32000
    assert published["completed"] is True


def test_agora_interrupt_is_recorded_by_the_sink(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "two.wav", seconds=2.0)

    summary = speak_json(str(audio), "--agora-channel", "barge", "--interrupt-after", "1")

    egress = summary["egress"]
    assert egress["interrupts"] == 1
    [published] = egress["requests"]
    assert published["interrupted"] is True
    assert published["audio_bytes"] == 32000


def test_livekit_flags_reach_the_sink(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=1.0)
    args = ["--livekit-url", "wss://livekit.example", "--livekit-room", "room-7"]
    args += ["--livekit-token", "lk-secret-55", "--livekit-publisher-id", "avatar-pub"]
    args += ["--livekit-attribute", "role=avatar"]
    result = run_cli("speak", str(audio), "--fast", "--json", *args)

    assert result.returncode == 0, result.stderr
    assert "lk-secret-55" not in result.stdout + result.stderr
    egress = json.loads(result.stdout)["egress"]
    assert (egress["kind"], egress["room"], egress["publisher_id"]) == (
        "livekit",
        "room-7",
        "avatar-pub",
    )
    assert egress["token_present"] is True
    assert egress["requests"][0]["completed"] is True


def test_a_refused_livekit_token_is_a_service_error_with_its_code(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=0.2)
    args = ["--livekit-url", "wss://livekit.example", "--livekit-room", "r", "--livekit-token"]

    result = run_cli("speak", str(audio), "--fast", "--json", *args, "invalid")

    assert result.returncode == 1
    assert "error: [serverError]" in result.stderr
    [error] = json.loads(result.stdout)["errors"]
    assert (error["code"], error["phase"]) == ("serverError", "websocket_handshake")


def test_flags_of_both_egress_kinds_are_a_usage_error() -> None:
    result = run_cli("speak", "--agora-channel", "a", "--livekit-room", "r")

    assert result.returncode == 2
    assert "choose one egress" in result.stderr


# --- speak: audio input ------------------------------------------------------------------


def test_stereo_is_mixed_down_to_mono(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "stereo.wav", seconds=0.5, channels=2, rate=24000)

    [request] = speak_json(str(audio))["requests"]

    assert request["audio_bytes"] == 24000  # 0.5 s of mono 16-bit at 24 kHz
    assert request["audio_seconds"] == pytest.approx(0.5)


def test_raw_pcm_needs_and_uses_sample_rate(tmp_path: Path) -> None:
    raw = tmp_path / "speech.pcm"
    raw.write_bytes(b"\x01\x00" * 8000)

    refused = run_cli("speak", str(raw), "--fast")
    [request] = speak_json(str(raw), "--sample-rate", "8000")["requests"]

    assert refused.returncode == 2
    assert "--sample-rate" in refused.stderr
    assert request["audio_seconds"] == pytest.approx(1.0)


def test_raw_pcm_from_stdin() -> None:
    result = run_cli(
        "speak", "-", "--sample-rate", "16000", "--fast", "--json", stdin=b"\x00\x01" * 3200
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["requests"][0]["audio_bytes"] == 6400


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: write_wav(d / "a.wav", seconds=0.0), "holds no audio"),
        (lambda d: d / "missing.wav", "cannot read"),
    ],
    ids=["empty", "missing"],
)
def test_unusable_audio_is_a_usage_error_that_says_what_is_accepted(
    tmp_path: Path, make: Any, expected: str
) -> None:
    result = run_cli("speak", str(make(tmp_path)), "--fast")

    assert result.returncode == 2
    assert expected in result.stderr
    if "cannot read" not in expected:
        assert "accepted: a WAV file" in result.stderr


def test_a_raw_rate_out_of_range_is_a_usage_error() -> None:
    result = run_cli("speak", "-", "--sample-rate", "99", stdin=b"\x00\x00")

    assert result.returncode == 2
    assert "expected a rate from 1000 to 768000 Hz" in result.stderr


# --- speak: credentials ------------------------------------------------------------------


def test_a_missing_credential_is_named_and_the_key_is_not_printed() -> None:
    result = run_cli("speak", "--fast", env=clean_env(AVATARKIT_API_KEY=SECRET_KEY))

    assert result.returncode == 2
    assert "AVATARKIT_APP_ID" in result.stderr and "AVATARKIT_AVATAR_ID" in result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr


def test_credentials_from_the_environment_reach_the_service(emulator: EmulatorThread) -> None:
    result = run_cli("speak", "--fast", "--json", env=service_env(emulator))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["emulator"] is False
    assert summary["requests"][0]["completed"] is True
    assert "built-in emulator" not in result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr


def test_spatialreal_names_are_the_fallback(emulator: EmulatorThread) -> None:
    env = service_env(emulator, prefix="SPATIALREAL_", AVATARKIT_APP_ID=emulator.app_id)

    summary = speak_json(env=env)

    assert summary["emulator"] is False
    assert summary["requests"][0]["completed"] is True


def test_a_refused_api_key_exits_1_with_its_code(emulator: EmulatorThread) -> None:
    env = service_env(emulator, AVATARKIT_API_KEY="sk-wrong-31337")

    result = run_cli("speak", "--fast", "--json", env=env)

    assert result.returncode == 1
    assert "error: [" in result.stderr
    assert "sk-wrong-31337" not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests"] == [] and summary["connection_id"] is None
    assert summary["errors"][0]["phase"] == "session_token"


def test_the_service_closing_mid_run_exits_1_with_its_code(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "one.wav", seconds=1.0)
    with EmulatorThread(realtime=False, fault=Fault.close(4001, after_audio=3)) as emu:
        result = run_cli("speak", str(audio), "--fast", env=service_env(emu))

    assert result.returncode == 1
    assert "error: [creditsExhausted]" in result.stderr


# --- speak: Ctrl-C ---------------------------------------------------------------------------


def _published_audio(emu: EmulatorThread) -> bool:
    publishers = emu.egress()["agora"]
    assert isinstance(publishers, dict)
    return any(publisher["requests"] for publisher in publishers.get("ctrl-c", []))


@pytest.mark.parametrize("binding", ["asyncio", "trio", "blocking"])
def test_ctrl_c_closes_the_session_cleanly_and_exits_130(binding: str) -> None:
    with EmulatorThread() as emu:
        process = subprocess.Popen(
            [*CLI, "speak", "--json", "--binding", binding, "--agora-channel", "ctrl-c"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=service_env(emu),
        )
        try:
            deadline = time.monotonic() + 20
            while not _published_audio(emu) and time.monotonic() < deadline:
                time.sleep(0.02)  # until audio flows: the run is past connecting
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        [publisher] = emu.egress()["agora"]["ctrl-c"]

    assert process.returncode == 130, err
    summary = json.loads(out)
    assert summary["stopped_by_user"] is True
    assert summary["errors"] == []  # closed with a normal close, not dropped
    assert publisher["closed"] is True
    assert publisher["connection_id"] == summary["connection_id"]


# --- token and emulator --------------------------------------------------------------------


def test_token_prints_a_session_token(emulator: EmulatorThread) -> None:
    result = run_cli("token", env=service_env(emulator))

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and result.stdout.strip()
    assert SECRET_KEY not in result.stdout + result.stderr


def test_token_errors_have_exit_codes(emulator: EmulatorThread) -> None:
    refused = run_cli("token", env=service_env(emulator, AVATARKIT_API_KEY="sk-nope-4444"))
    missing = run_cli("token")

    assert refused.returncode == 1 and "error: [" in refused.stderr
    assert "sk-nope-4444" not in refused.stderr
    assert missing.returncode == 2 and "AVATARKIT_API_KEY" in missing.stderr


def test_emulator_command_serves_with_faults_until_ctrl_c(tmp_path: Path) -> None:
    command = [*CLI, "emulator", "--port", "0", "--fast"]
    command += ["--fault", "close:code=4001,after=2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        env = clean_env(
            AVATARKIT_API_KEY=info["api_key"],
            AVATARKIT_APP_ID=info["app_id"],
            AVATARKIT_AVATAR_ID=info["avatar_id"],
            AVATARKIT_CONSOLE_ENDPOINT=info["console_url"],
            AVATARKIT_INGRESS_ENDPOINT=info["ingress_url"],
        )
        audio = write_wav(tmp_path / "one.wav", seconds=1.0)
        result = run_cli("speak", str(audio), "--fast", env=env)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert result.returncode == 1
    assert "error: [creditsExhausted]" in result.stderr


def test_emulator_command_refuses_an_unknown_fault() -> None:
    result = run_cli("emulator", "--fault", "explode")

    assert result.returncode == 2
    assert "unknown fault kind 'explode'" in result.stderr


def test_no_command_is_a_usage_error() -> None:
    result = run_cli()

    assert result.returncode == 2
    assert "speak" in result.stderr
