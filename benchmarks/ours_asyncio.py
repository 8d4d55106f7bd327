"""Driver for avatarwire's asyncio binding."""

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

    async with connect(session_config(info), transport_frames=frames) as session:
        yield session


def run(workload: str, infos: list[EmulatorInfo], **params: Any) -> dict[str, Any]:
    """Run one workload on an asyncio loop."""
    import asyncio

    return asyncio.run(getattr(asyncio_workloads, workload)(open_session, infos, **params))
