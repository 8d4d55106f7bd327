"""The framework examples run against the emulator and do what they say."""

from __future__ import annotations

import importlib.util
import inspect

import pytest
from test_examples import EXAMPLES, emulator, run_example

from avatarwire.emulator import EmulatorThread

__all__ = ["emulator"]  # the fixture, shared with the other examples' tests


def test_pipecat_example_speaks_the_sample_into_the_channel(emulator: EmulatorThread) -> None:
    pytest.importorskip("pipecat", reason="the pipecat extra is not installed")

    result = run_example("pipecat_avatar.py", "pipecat-test", emu=emulator, timeout=120)

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
