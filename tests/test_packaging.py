"""The distribution ships every subpackage: each folder with an __init__.py is listed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGE_ROOTS = {"core": "avatarwire.core", "bindings": "avatarwire.bindings",
                    "emulator": "avatarwire.emulator", "cli": "avatarwire.cli"}  # fmt: skip


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is new in Python 3.11")
def test_every_package_folder_is_in_the_wheel() -> None:
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    on_disk = set()
    for folder, name in SUBPACKAGE_ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((name, *parts)))
    assert on_disk <= listed, f"not shipped: {sorted(on_disk - listed)}"
    for package in on_disk:
        folder = setup["package-dir"].get(package)
        assert folder is not None, f"{package} has no package-dir entry"
        assert (ROOT / folder / "__init__.py").is_file()
