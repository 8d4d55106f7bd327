"""The close-code contract, table-driven: every party names each wire event alike.

For each close code of the contract (4001, 4002, 4003, 4010, 4503, an unknown 40xx
and an unknown 45xx) and each relayed gRPC code (3, 14, 16), the emulator emits the
wire event (a runtime ``ServerError``, a close frame, both, or a refusal at the
handshake), and three clients report it: the client core (its view of the official
code), ``avatarwire.compat``, and the official ``spatialreal`` client where it is
installed. All must give the same ``code``, ``close_code`` and ``retryable``.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from avatarwire.bindings._compat_errors import AvatarSDKError, to_sdk_error
from avatarwire.bindings.asyncio import connect
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import ServerError, SessionClosed
from avatarwire.core.steps import Timeouts
from avatarwire.emulator import Emulator, Fault

WAIT = 10.0
AUDIO = b"\0\0" * 1600

#: What the official SDK reports for each code: (code, close_code, retryable).
CONTRACT: dict[int, tuple[str, int | None, bool]] = {
    4001: ("creditsExhausted", 4001, False),
    4002: ("sessionDurationExceeded", 4002, True),
    4003: ("concurrencyLimit", 4003, False),
    4010: ("sessionTokenInvalid", 4010, False),
    4503: ("upstreamError", 4503, True),
    4099: ("connectionClosed", 4099, False),  # an unknown 40xx: the request is at fault
    4599: ("connectionClosed", 4599, True),  # an unknown 45xx: retry
}
RELAYED: dict[int, tuple[str, int | None, bool]] = {
    3: ("serverError", None, False),
    14: ("serverError", None, False),
    16: ("serverError", None, False),
}

Seen = tuple[str, int | None, bool]


@dataclass(frozen=True)
class Form:
    """How the emulator puts a code on the wire, and how many errors a client sees."""

    name: str
    fault: Callable[[int], Fault]
    errors: int
    refused: bool = False
    closes: bool = False


FORMS = {
    "server_error": Form(
        "server_error", lambda code: Fault.server_error(code=code, text=f"error {code}"), 1
    ),
    "close_frame": Form("close_frame", lambda code: Fault.close(code), 1, closes=True),
    "server_error_then_close": Form(
        "server_error_then_close", lambda code: Fault.end_session(code), 2, closes=True
    ),
    "refused_at_handshake": Form(
        "refused_at_handshake", lambda code: Fault.refuse_session(code), 1, refused=True
    ),
}

CASES = [
    pytest.param(code, form, expected, id=f"{code}-{form}")
    for code, expected in CONTRACT.items()
    for form in FORMS
] + [
    pytest.param(code, form, expected, id=f"{code}-{form}")
    for code, expected in RELAYED.items()
    for form in ("server_error", "refused_at_handshake")
]


# --- the three clients ------------------------------------------------------------------------


def core_view(error: AvatarError) -> Seen:
    """The client core's view of the official code for its error."""
    official = to_sdk_error(error, AvatarSDKError)
    return official.code.value, official.close_code, official.retryable


async def through_the_core(emu: Emulator, form: Form, code: int) -> list[Seen]:
    """Drive the native asyncio binding; check the raw wire facts on the way."""
    seen: list[Seen] = []
    config = emu.session_config()
    try:
        async with connect(config, timeouts=Timeouts(close=3)) as session:
            await session.send_audio(AUDIO)
            async for event in session:
                error = event.error if isinstance(event, (ServerError, SessionClosed)) else None
                if error is not None:
                    wire = error.close_code if error.close_code else error.server_code
                    assert str(wire) == str(code), (wire, code)
                    seen.append(core_view(error))
                if isinstance(event, SessionClosed) or len(seen) == form.errors:
                    break
    except AvatarError as refusal:
        assert form.refused
        assert str(refusal.server_code) == str(code)
        seen.append(core_view(refusal))
    return seen


async def through_an_official_api(emu: Emulator, form: Form, module: Any) -> list[Seen]:
    """Drive ``avatarwire.compat`` or ``spatialreal`` the same way: its own callbacks."""
    seen: list[Seen] = []
    closed = asyncio.Event()
    changed = asyncio.Event()

    def on_error(error: Any) -> None:
        seen.append((error.code.value, error.close_code, error.retryable))
        changed.set()

    session = module.new_avatar_session(
        api_key=emu.api_key,
        app_id=emu.app_id,
        avatar_id=emu.avatar_id,
        expire_at=datetime.now(timezone.utc) + timedelta(minutes=5),
        console_endpoint_url=emu.console_url,
        ingress_endpoint_url=emu.ingress_url,
        on_error=on_error,
        on_close=closed.set,
    )
    await session.init()
    try:
        await session.start()
    except module.AvatarSDKError as refusal:
        assert form.refused
        seen.append((refusal.code.value, refusal.close_code, refusal.retryable))
        await session.close()
        return seen
    await session.send_audio(AUDIO)

    async def settled() -> None:
        while not (len(seen) >= form.errors and (closed.is_set() or not form.closes)):
            changed.clear()
            waiters = [asyncio.ensure_future(e.wait()) for e in (changed, closed)]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    await asyncio.wait_for(settled(), WAIT)
    await session.close()
    return seen


def observe(client: str, form: Form, code: int) -> list[Seen]:
    async def main() -> list[Seen]:
        async with Emulator(realtime=False, fault=form.fault(code)) as emu:
            if client == "core":
                return await through_the_core(emu, form, code)
            return await through_an_official_api(emu, form, importlib.import_module(client))

    return asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize(("code", "form", "expected"), CASES)
@pytest.mark.parametrize("client", ["core", "avatarwire.compat", "spatialreal"])
def test_every_client_names_the_wire_event_as_the_contract_says(
    client: str, code: int, form: str, expected: Seen
) -> None:
    if client == "spatialreal":
        pytest.importorskip("spatialreal", reason="the official SDK (extra 'official') is absent")
    assert observe(client, FORMS[form], code) == [expected] * FORMS[form].errors
