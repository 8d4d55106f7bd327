"""``python benchmarks/mypyc_build.py``: an opt-in mypyc-compiled copy of avatarwire, for measuring.

The package as installed and tested stays pure Python. This copies the package (its
linked folders resolved) into ``build/mypyc/`` and compiles the modules on the
per-message path there with mypyc, so a benchmark can run the same code compiled by
putting that folder first on ``PYTHONPATH``::

    .venv/bin/pip install mypy            # mypyc comes with it; needs a C compiler
    .venv/bin/python benchmarks/mypyc_build.py          # the core's per-message modules
    PYTHONPATH=build/mypyc .venv/bin/python benchmarks/instructions.py --clients asyncio

(a script, or ``pytest`` run as ``.venv/bin/pytest``, puts its own folder first on
``sys.path``, not the checkout's, so the compiled copy is the ``avatarwire`` imported;
``python -c`` / ``python -m`` from the checkout would import the pure one). The figures
record which modules were compiled. Compiled, a module checks the annotated types of
its arguments and of what it reads at run time: a wrong type is a ``TypeError`` before
the library's own check can name it, so this build is for measuring, not for shipping.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What every audio message and every frame goes through in the core.
CORE = (
    "core/session.py",
    "core/framing.py",
    "core/codec.py",
    "core/requests.py",
    "core/machine.py",
    "core/liveness.py",
    "core/events.py",
)
#: Not compiled, and why (mypyc refuses each): the generated protobuf module (the upb
#: runtime already parses and serialises in C); ``bindings/asyncio.py`` (its async
#: generator ``connect``); ``bindings/_base.py`` and ``bindings/_pacing.py`` (the
#: interpreted ``AsyncSession`` / ``PacedStream`` subclass their classes, which mypyc
#: forbids for a compiled base); ``core/pacing.py`` and ``bindings/pacer.py`` (classes
#: with an explicit ``__slots__``, which a compiled class may not have).
EXCLUDED = (
    "core/wire/avatarkit_pb2.py",
    "bindings/asyncio.py",
    "bindings/_base.py",
    "bindings/_pacing.py",
    "core/pacing.py",
    "bindings/pacer.py",
)


def copy_package(out: Path) -> Path:
    """The package's sources, linked folders resolved, fresh in ``out``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(
        ROOT / "avatarwire",
        out / "avatarwire",
        symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    return out


def compile_modules(out: Path, modules: list[str]) -> None:
    """mypyc over ``modules`` (paths under the package), the extensions left in place."""
    paths = [str(Path("avatarwire") / module) for module in modules]
    command = [
        sys.executable,
        "-m",
        "mypyc",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--python-version",
        f"{sys.version_info.major}.{sys.version_info.minor}",
        *paths,
    ]
    done = subprocess.run(command, cwd=out, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mypyc failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


def check_loaded(out: Path, modules: list[str]) -> list[str]:
    """The compiled modules a fresh interpreter with ``out`` on its path really loads."""
    names = ["avatarwire." + m[: -len(".py")].replace("/", ".") for m in modules]
    probe = (
        "import importlib, json, sys\n"
        f"names = {names!r}\n"
        "print(json.dumps([n for n in names "
        "if importlib.import_module(n).__file__.endswith('.so')]))"
    )
    env = {**os.environ, "PYTHONPATH": str(out)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd="/", env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"the compiled package does not import:\n{done.stderr[-2000:]}")
    loaded: list[str] = __import__("json").loads(done.stdout)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "mypyc"))
    parser.add_argument("--modules", default=None, help="comma-separated paths, e.g. core/codec.py")
    args = parser.parse_args()
    if importlib.util.find_spec("mypyc") is None:
        sys.exit("mypyc is not installed: pip install mypy")
    modules = args.modules.split(",") if args.modules else list(CORE)
    out = copy_package(Path(args.out).resolve())
    compile_modules(out, modules)
    loaded = check_loaded(out, modules)
    print(f"compiled {len(loaded)} of {len(modules)} modules: {', '.join(loaded)}")
    print(f"left pure (mypyc refuses them): {', '.join(EXCLUDED)}")
    print(f"use: PYTHONPATH={out}")


if __name__ == "__main__":
    main()
