"""The fastest WebSocket masker installed, injected into the core by every binding.

Masking is a third of the cost of sending a message in pure Python; ``websockets``
ships the same XOR in C (installed with the ``fast`` extra). The core's own
:func:`~avatarwire.core.framing.mask` stays the fallback and the reference.
"""

from __future__ import annotations

from functools import cache

from avatarwire.core.framing import Masker, mask

__all__ = ["fastest_masker"]


@cache
def fastest_masker() -> Masker:
    """``websockets.speedups.apply_mask`` where it is built, else the pure-Python mask."""
    try:
        from websockets.speedups import apply_mask  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # not installed, or a build without its C extension
        return mask
    masker: Masker = apply_mask
    return masker
