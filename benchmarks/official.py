"""Driver for the official ``avatarkit`` SDK (asyncio + websockets + aiohttp)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncio_workloads
from common import SAMPLE_RATE, EmulatorInfo
from recorder import FrameRecorder

NAME = "official"


@asynccontextmanager
async def open_session(info: EmulatorInfo, frames: FrameRecorder) -> AsyncIterator[Any]:
    """A started official session whose frames go to ``frames``."""
    from avatarkit import new_avatar_session

    session = new_avatar_session(
        avatar_id=info.avatar_id,
        api_key=info.api_key,
        app_id=info.app_id,
        console_endpoint_url=info.console_url,
        ingress_endpoint_url=info.ingress_url,
        expire_at=datetime.now(timezone.utc) + timedelta(hours=1),
        sample_rate=SAMPLE_RATE,
        transport_frames=frames,
    )
    await session.init()
    await session.start()
    try:
        yield session
    finally:
        await session.close()


def run(workload: str, infos: list[EmulatorInfo], **params: Any) -> dict[str, Any]:
    """Run one workload on an asyncio loop."""
    import asyncio

    return asyncio.run(getattr(asyncio_workloads, workload)(open_session, infos, **params))
