"""The framework examples run against the emulator and do what they say."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from avatarwire.emulator import EmulatorThread

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as emu:
        yield emu


def run_example(name: str, *args: str, emu: EmulatorThread) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVATARKIT_", "SPATIALREAL_"))}
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
        timeout=120,
    )


def test_pipecat_example_speaks_the_sample_into_the_channel(emulator: EmulatorThread) -> None:
    pytest.importorskip("pipecat", reason="the pipecat extra is not installed")

    result = run_example("pipecat_avatar.py", "pipecat-test", emu=emulator)

    assert result.returncode == 0, result.stderr
    assert "avatar started speaking\navatar stopped speaking\n" in result.stdout
    assert "segment 1 completed: played 6.14 s of 6.14 s" in result.stdout
    [publisher] = emulator.egress()["agora"]["pipecat-test"]
    [request] = publisher["requests"]
    assert request["completed"] and request["audio_seconds"] == pytest.approx(6.14, abs=0.01)


def test_livekit_example_loads_against_the_installed_framework(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It needs a LiveKit server to run; here its imports and names must resolve."""
    pytest.importorskip("livekit.agents", reason="the livekit extra is not installed")
    spec = importlib.util.spec_from_file_location("livekit_agent", EXAMPLES / "livekit_agent.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert inspect.iscoroutinefunction(module.entrypoint)
    monkeypatch.setenv("AVATARKIT_API_KEY", "key")
    monkeypatch.setenv("AVATARKIT_APP_ID", "app")
    monkeypatch.setenv("AVATARKIT_AVATAR_ID", "avatar")
    assert module.avatar_config().avatar_id == "avatar"
    monkeypatch.delenv("AVATARKIT_AVATAR_ID")
    with pytest.raises(KeyError, match="AVATARKIT_AVATAR_ID"):
        module.avatar_config()
