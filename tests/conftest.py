"""Suite-wide settings: no test may ask the real config service on the internet.

Tests that exercise the environment lookup switch it back on with ``monkeypatch``
and point it at a loopback service; subprocesses (the CLI, examples) inherit this.
"""

from __future__ import annotations

import os

from avatarwire.bindings._common import NO_LOOKUP_ENV

os.environ[NO_LOOKUP_ENV] = "1"
