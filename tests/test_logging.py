"""Session logs carry the connection id and, where there is one, the request id."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from binding_adapters import BINDINGS, Api, api_for
from test_bindings_behaviour import config_for, events_until_finished

from avatarwire.emulator import EmulatorThread, Fault

ERROR_AVATAR = "logging-error-avatar"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    faults = {ERROR_AVATAR: Fault.server_error(at_message=1, text="driven server request failed")}
    with EmulatorThread(realtime=False, faults=faults) as running:
        yield running


@pytest.mark.parametrize("binding", BINDINGS)
def test_records_name_the_connection_and_the_request(
    binding: str, emu: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    api: Api = api_for(binding)
    caplog.set_level(logging.DEBUG, logger="avatarwire")

    async def scenario(api: Api) -> tuple[str, str | None, str]:
        async with api.connect(config_for(emu, avatar_id=ERROR_AVATAR)) as session:
            req_id = await session.send_audio(b"\x01\x00" * 800, end=True)
            await events_until_finished(session, req_id)
            interrupted = await session.interrupt()
            return req_id, session.connection_id, interrupted

    req_id, connection_id, interrupted = api.run(scenario)
    records = [r for r in caplog.records if r.name == "avatarwire.session"]
    assert records, "the session logged nothing"
    ready = [r for r in records if "ready" in r.getMessage()]
    assert ready and ready[0].connection_id == connection_id  # type: ignore[attr-defined]
    audio = [r for r in records if r.getMessage().startswith("audio:")]
    assert audio and {r.req_id for r in audio} == {req_id}  # type: ignore[attr-defined]
    assert all(r.connection_id == connection_id for r in audio)  # type: ignore[attr-defined]
    errors = [r for r in records if r.levelno == logging.WARNING]
    assert errors and "upstreamError" in errors[0].getMessage()
    stops = [r for r in records if r.getMessage() == "interrupt"]
    assert [r.req_id for r in stops] == [interrupted]  # type: ignore[attr-defined]


def test_query_auth_warns_that_the_token_travels_in_the_url(
    emu: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    from avatarwire.bindings.blocking import connect, fetch_token

    config = config_for(emu, use_query_auth=True)
    token = fetch_token(config)
    caplog.set_level(logging.DEBUG, logger="avatarwire")
    with connect(config, session_token=token) as session:
        assert session.connection_id
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("URL" in r.getMessage() for r in warnings)
    assert all(token not in r.getMessage() for r in caplog.records)
