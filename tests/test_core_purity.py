"""The core stays pure: it imports no I/O, threading, clock or randomness module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import avatarwire.core

FORBIDDEN = {"asyncio", "trio", "socket", "ssl", "threading", "time", "random", "selectors"}
CORE = Path(avatarwire.core.__file__).resolve().parent
#: A developer script that runs protoc; shipped beside the schema, never imported by the core.
DEV_SCRIPTS = {CORE / "wire" / "regenerate.py"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_core_module_imports_io_clocks_or_randomness() -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in CORE.rglob("*.py")
        if path not in DEV_SCRIPTS
    }
    assert {name: found for name, found in offenders.items() if found} == {}


#: threading and time come in with the standard library's own imports (logging, h11's
#: dependencies); what must never load with the core is an event loop or a socket.
IO_MODULES = sorted(FORBIDDEN - {"threading", "time", "random"})


def test_importing_the_core_loads_no_event_loop_or_socket_module() -> None:
    probe = (
        "import sys; import avatarwire.core.session, avatarwire.core.token, "
        "avatarwire.core.server, avatarwire.core.motion, avatarwire.core.retry; "
        f"print(sorted(m for m in {IO_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
