"""Code written for ``spatialreal`` 0.2.2 runs on avatarwire by changing the import only.

One program, written against the official SDK, runs twice against the emulator: as
written (with the official package, where it is installed) and with its import
line swapped for ``avatarwire.compat``. Both runs must observe the same frames,
playback signals, playback states, errors (code, retryable, close code, server
code) and closes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from avatarwire.emulator import Emulator, Fault

OFFICIAL_IMPORT = "from spatialreal import "

PROGRAM = """
import asyncio
from datetime import datetime, timedelta, timezone

from spatialreal import AgoraEgressConfig, PlaybackState, new_avatar_session

WAIT = 15


async def run(emu, scenario):
    seen = {"signals": [], "frames": 0, "states": [], "errors": [], "closes": 0}
    changed = asyncio.Event()

    def note(key, value):
        seen[key].append(value)
        changed.set()

    async def until(condition):
        while not condition():
            changed.clear()
            await asyncio.wait_for(changed.wait(), WAIT)

    def on_frame(frame, is_last):
        seen["frames"] += 1

    def on_close():
        seen["closes"] += 1
        changed.set()

    session = new_avatar_session(
        api_key=emu.api_key,
        app_id=emu.app_id,
        avatar_id=emu.avatar_id,
        expire_at=datetime.now(timezone.utc) + timedelta(minutes=5),
        console_endpoint_url=emu.console_url,
        ingress_endpoint_url=emu.ingress_url,
        agora_egress=AgoraEgressConfig(channel_name="room-1") if scenario == "pause" else None,
        on_playback=lambda s: note("signals", (s.end, s.has_animation, s.avatar_id != "")),
        on_playback_state=lambda e: note("states", (e.state.value, e.reason)),
        transport_frames=on_frame,
        on_error=lambda e: note(
            "errors", (e.code.value, e.retryable, e.close_code, e.server_code)
        ),
        on_close=on_close,
    )
    await session.init()
    connection_id = await session.start()
    seen["capabilities"] = session.capabilities
    seen["connection_id_kept"] = session.connection_id == connection_id
    if scenario == "frames":
        await session.send_audio(b"\\0\\0" * 8000, end=True)
        await until(lambda: any(end for end, _, _ in seen["signals"]))
    elif scenario == "pause":
        req_id = await session.send_audio(b"\\0\\0" * 16000 * 4)
        await until(lambda: seen["states"][-1:] == [("playing", "")])
        assert await session.pause() == req_id
        await until(lambda: seen["states"][-1][0] == PlaybackState.PAUSED.value)
        assert await session.resume() == req_id
        await until(lambda: len(seen["states"]) == 3)
        assert await session.interrupt() == req_id
        await until(lambda: seen["states"][-1][0] == "interrupted")
    elif scenario == "errors":
        await session.send_audio(b"\\0\\0" * 1600)
        await until(lambda: len(seen["errors"]) == 1)
        await session.send_audio(b"\\0\\0" * 1600)
        await until(lambda: seen["closes"] == 1)
        try:
            await session.send_audio(b"\\0\\0")
        except ValueError:
            seen["send_after_close"] = "ValueError"
    await session.close()
    await session.close()
    return seen
"""

#: The emulator each scenario runs against.
SCENARIOS: dict[str, dict[str, Any]] = {
    "frames": {"realtime": False},
    "pause": {"realtime": True},
    "errors": {
        "realtime": False,
        "fault": [
            Fault.server_error(code=14, text="inference server Animate failed"),
            Fault.close(4002, after_audio=2),
        ],
    },
}


def run_program(module: str, scenario: str) -> dict[str, Any]:
    """Run :data:`PROGRAM` with its official import swapped for ``module``'s."""
    source = PROGRAM.replace(OFFICIAL_IMPORT, f"from {module} import ")
    assert source.count(f"from {module} import ") == 1
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<program on {module}>", "exec"), namespace)

    async def main() -> dict[str, Any]:
        async with Emulator(**SCENARIOS[scenario]) as emu:
            seen: dict[str, Any] = await namespace["run"](emu, scenario)
            return seen

    return asyncio.run(asyncio.wait_for(main(), 60))


#: What the program observes on avatarwire, per scenario; the official SDK must agree.
EXPECTED: dict[str, dict[str, Any]] = {
    "frames": {
        "signals": [(False, True, True)] * 12 + [(True, True, True)],
        "frames": 13,
        "states": [("playing", ""), ("ended", "")],
        "errors": [],
        "closes": 1,
    },
    "pause": {
        "signals": [(False, False, False)],
        "frames": 1,
        "states": [
            ("playing", ""),
            ("paused", ""),
            ("playing", ""),
            ("interrupted", "explicit"),
        ],
        "errors": [],
        "closes": 1,
    },
    "errors": {
        "states": [("playing", "")],
        "errors": [
            ("serverError", False, None, "14"),
            ("sessionDurationExceeded", True, 4002, None),
        ],
        "closes": 1,
        "send_after_close": "ValueError",
    },
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_program_observes_the_documented_results_on_avatarwire(scenario: str) -> None:
    seen = run_program("avatarwire.compat", scenario)
    assert seen["capabilities"] == ("playback_control", "playback_state")
    assert seen["connection_id_kept"] is True
    for key, value in EXPECTED[scenario].items():
        assert seen[key] == value, key


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_official_sdk_observes_the_same_with_only_the_import_changed(scenario: str) -> None:
    pytest.importorskip("spatialreal", reason="the official SDK (extra 'official') is absent")
    official = run_program("spatialreal", scenario)
    ours = run_program("avatarwire.compat", scenario)
    assert official == ours
