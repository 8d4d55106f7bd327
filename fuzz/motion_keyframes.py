"""Fuzz the opt-in Flame keyframe decoder with arbitrary frame bytes.

The input is the raw message given to :func:`decode_keyframes`. It may raise
``RemoteProtocolError`` only; a result is a tuple of keyframes of float tuples.

Run: ``python fuzz/motion_keyframes.py fuzz/seeds/motion_keyframes -max_total_time=120``.
"""

from __future__ import annotations

import sys

from invariants import check

from avatarwire.core.errors import RemoteProtocolError
from avatarwire.core.motion import Keyframe, decode_keyframes


def TestOneInput(data: bytes) -> None:
    """Decode one input; only the core's protocol error may escape."""
    try:
        keyframes = decode_keyframes(data)
    except RemoteProtocolError:
        return
    check(isinstance(keyframes, tuple), "decode_keyframes did not return a tuple")
    for keyframe in keyframes:
        check(isinstance(keyframe, Keyframe), f"not a Keyframe: {type(keyframe).__name__}")
        check(all(isinstance(v, float) for v in keyframe.expression), "non-float expression")


def main() -> None:
    """Run under atheris with coverage of every module loaded so far."""
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
