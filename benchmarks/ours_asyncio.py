"""Driver for avatarwire's asyncio binding: client ``asyncio`` (the standard loop) or
``uvloop``; a ``-paced`` suffix streams the scale workload through the library's
shared pacer (``session.stream(..., realtime=True)``) instead of a sleeping task per
session, ``-paced-ahead`` with ``ahead=0.02`` (two 20 ms chunks per message)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncio_workloads
from common import EmulatorInfo
from recorder import FrameRecorder

from avatarwire.core.config import SessionConfig

NAME = "asyncio"


def session_config(info: EmulatorInfo) -> SessionConfig:
    """Our configuration for one emulator."""
    return SessionConfig(
        api_key=info.api_key,
        app_id=info.app_id,
        avatar_id=info.avatar_id,
        console_url=info.console_url,
        ingress_url=info.ingress_url,
    )


@asynccontextmanager
async def open_session(info: EmulatorInfo, frames: FrameRecorder) -> AsyncIterator[Any]:
    """A ready session whose frames go to ``frames``."""
    from avatarwire.bindings.asyncio import connect

    async with connect(
        session_config(info), transport_frames=frames, queue_events=False
    ) as session:
        yield session


def run(
    workload: str, infos: list[EmulatorInfo], client: str = "asyncio", **params: Any
) -> dict[str, Any]:
    """Run one workload on an asyncio loop (uvloop's for the ``uvloop`` clients)."""
    import asyncio

    if workload == "scale" and "-paced" in client:
        workload = "scale_paced"
        params["ahead"] = 0.02 if client.endswith("-ahead") else 0.0
    main = getattr(asyncio_workloads, workload)(open_session, infos, **params)
    if client.startswith("uvloop"):
        import uvloop

        result: dict[str, Any] = uvloop.run(main)
        return result
    return asyncio.run(main)
