"""The README's "Migrating" snippets run as they stand against the emulator."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def snippet(heading: str) -> str:
    """The Python block right under a README heading."""
    text = README.read_text()
    start = text.index(heading)
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match is not None, heading
    return match.group(1)


def run(source: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("old", ["spatialreal", "avatarkit"])
def test_each_migration_snippet_changes_only_the_import(old: str) -> None:
    source = snippet(f"#### From `{old}`")
    [commented] = re.findall(rf"^# from {old} import (.*)$", source, re.M)
    [ours] = re.findall(r"^from avatarwire\.compat import (.*)$", source, re.M)
    assert commented == ours


def test_the_spatialreal_snippet_runs_against_the_emulator() -> None:
    out = run(snippet("#### From `spatialreal`")).splitlines()
    assert out[0].startswith("connected ")
    assert "('playback_control', 'playback_state')" in out[0]
    assert out[-1] == "closed" and out.count("closed") == 1
    assert not [line for line in out if line.startswith("error")]


def test_the_avatarkit_snippet_runs_against_the_emulator() -> None:
    out = run(snippet("#### From `avatarkit`")).splitlines()
    assert out == ["closed", "13 frames; sessionTokenInvalid"]
