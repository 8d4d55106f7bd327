"""Every ```python block of README.md runs, against the emulator, and ends.

Each block runs in a fresh interpreter after :data:`PRELUDE`, which the README
states: ``config`` (the emulator's session config) and ``pcm`` (one second of
16 kHz audio). A block that cannot run here says so on its first line, visibly::

    # not run: <the reason>

and is skipped with that reason. The README's first program is also type-checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"

#: What the README promises every snippet finds defined.
PRELUDE = """\
import atexit as _atexit

from avatarwire.emulator import EmulatorThread as _EmulatorThread

_emulator = _EmulatorThread(realtime=False)
_emulator.start()
_atexit.register(_emulator.stop)
config = _emulator.session_config()
pcm = b"\\x10\\x00\\xf0\\xff" * 8000  # one second of 16-bit mono PCM at 16 kHz
"""

#: A snippet that has not ended by then never will.
SNIPPET_TIMEOUT = 60.0

SKIP_MARKER = re.compile(r"#\s*not run:(.*)")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Snippet:
    """One ```python block: where it is and what it says."""

    line: int
    heading: str
    code: str

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"line{self.line}-{slug or 'top'}"

    @property
    def skip_reason(self) -> str | None:
        """The reason after ``# not run:`` on the first line, if it is there."""
        first = self.code.lstrip("\n").split("\n", 1)[0].strip()
        marker = SKIP_MARKER.fullmatch(first)
        return None if marker is None else marker.group(1).strip()


def snippets(text: str) -> list[Snippet]:
    """The ```python blocks of a Markdown text, with the heading each sits under."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^#+ (.+)$", before, re.M)
        line = before.count("\n") + 2  # the block's first line of code
        found.append(Snippet(line, headings[-1] if headings else "", match.group(1)))
    return found


SNIPPETS = snippets(README.read_text(encoding="utf-8"))


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVATARKIT_", "SPATIALREAL_"))}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=SNIPPET_TIMEOUT,
    )


def test_the_readme_has_snippets_and_the_parser_finds_them() -> None:
    assert len(SNIPPETS) >= 6
    example = "# T\n\n```python\nprint(1)\n```\n\n## U\n\n```python\n# not run: why\n```\n"
    first, second = snippets(example)
    assert (first.line, first.heading, first.code, first.skip_reason) == (
        4,
        "T",
        "print(1)\n",
        None,
    )
    assert (second.heading, second.skip_reason) == ("U", "why")


def test_a_skip_marker_always_gives_a_reason() -> None:
    for snippet in SNIPPETS:
        assert snippet.skip_reason != "", f"README line {snippet.line}: '# not run:' needs a reason"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda snippet: snippet.name)
def test_the_snippet_runs_and_ends(snippet: Snippet, tmp_path: Path) -> None:
    if snippet.skip_reason:
        pytest.skip(f"README line {snippet.line}: {snippet.skip_reason}")
    try:
        done = run_python(PRELUDE + "\n" + snippet.code, tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"README line {snippet.line}: still running after {SNIPPET_TIMEOUT:g} s")
    assert done.returncode == 0, (
        f"README line {snippet.line} ({snippet.heading}) failed:\n{done.stdout}\n{done.stderr}"
    )


def test_the_first_program_runs_without_the_prelude_and_type_checks(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy comes with the 'test' extra")
    first = SNIPPETS[0]
    assert "avatarwire.connect" in first.code and "asyncio.run" in first.code
    done = run_python(first.code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "bytes of animation" in done.stdout
    # Checked from the repository root, so mypy reuses the project's cache and settings.
    stdout, stderr, status = api.run(["--strict", str(tmp_path / "snippet.py")])
    assert status == 0, stdout + stderr
