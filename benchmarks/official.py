"""Drivers for the official SDKs: ``avatarkit`` 0.1.7 (client ``official``) and its
successor ``spatialreal`` 0.2.x (client ``spatialreal``); both asyncio + websockets.

Both offer permessage-deflate, websockets' default; a ``-nodeflate`` suffix on the
client name turns it off (``compression=None``), so a server that accepts the
extension shows what it costs.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncio_workloads
from common import SAMPLE_RATE, EmulatorInfo
from recorder import FrameRecorder

PACKAGES = {"official": "avatarkit", "spatialreal": "spatialreal"}


def package_of(client: str) -> str:
    """The import name of a client such as ``spatialreal-nodeflate``."""
    return PACKAGES[client.removesuffix("-nodeflate")]


def without_deflate() -> None:
    """Make every ``websockets.connect`` in this process offer no compression."""
    import websockets

    websockets.connect = functools.partial(websockets.connect, compression=None)


def opener(package: str) -> Any:
    @asynccontextmanager
    async def open_session(info: EmulatorInfo, frames: FrameRecorder) -> AsyncIterator[Any]:
        """A started official session whose frames go to ``frames``."""
        sdk = importlib.import_module(package)
        session = sdk.new_avatar_session(
            avatar_id=info.avatar_id,
            api_key=info.api_key,
            app_id=info.app_id,
            console_endpoint_url=info.console_url,
            ingress_endpoint_url=info.ingress_url,
            expire_at=datetime.now(timezone.utc) + timedelta(hours=1),
            sample_rate=SAMPLE_RATE,
            transport_frames=frames,
        )
        try:
            await session.init()
        except Exception:
            if package != "spatialreal":
                raise
            # The emulator serves only the older token route; the token is setup, not
            # what is measured, so take it from our binding and hand it over.
            session._session_token = await _token_from_us(info)
        await session.start()
        try:
            yield session
        finally:
            await session.close()

    return open_session


async def _token_from_us(info: EmulatorInfo) -> str:
    from ours_asyncio import session_config

    from avatarwire.bindings.asyncio import fetch_token

    return await fetch_token(session_config(info))


def run(workload: str, infos: list[EmulatorInfo], client: str = "official", **params: Any) -> Any:
    """Run one workload on an asyncio loop."""
    import asyncio

    if client.endswith("-nodeflate"):
        without_deflate()
    workload_function = getattr(asyncio_workloads, workload)
    return asyncio.run(workload_function(opener(package_of(client)), infos, **params))
