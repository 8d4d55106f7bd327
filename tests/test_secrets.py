"""Secrets never show: with DEBUG logging on, sessions through every binding (happy,
egress, query auth, and every way of failing) leave no API key, session token, Agora
token or LiveKit credential in any log record, in the repr of configs, sessions,
events and errors, or in the text of any error raised."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from binding_adapters import BINDINGS, Api, Session, api_for
from scripted_peer import ScriptedPeer, confirm, pump, server_error

from avatarwire.bindings._common import ConnectOptions
from avatarwire.core.config import AgoraEgress, LiveKitEgress, SessionConfig
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import Event, RequestFinished, ServerError, SessionClosed
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession
from avatarwire.emulator import EmulatorThread, Fault

API_KEY = "sk-SECRETTEST-api-key-a1b2c3"
WRONG_API_KEY = "sk-SECRETTEST-wrong-key-d4e5"
AGORA_TOKEN = "agora-SECRETTEST-rtc-token-f6a7"
LK_TOKEN = "lk-SECRETTEST-jwt-b8c9"
LK_KEY = "lk-SECRETTEST-key-d0e1"
LK_SECRET = "lk-SECRETTEST-secret-f2a3"
LK_BAD_TOKEN = "lk-SECRETTEST-refused-jwt-b4c5"
BOGUS_TOKEN = "tok-SECRETTEST-bogus-d6e7"
FIXED_SECRETS = (
    API_KEY,
    WRONG_API_KEY,
    AGORA_TOKEN,
    LK_TOKEN,
    LK_KEY,
    LK_SECRET,
    LK_BAD_TOKEN,
    BOGUS_TOKEN,
)

ERROR_AVATAR = "secrets-server-error"
CLOSE_AVATAR = "secrets-close-4010"
DROP_AVATAR = "secrets-drop"
PCM = b"\x01\x00\xff\x7f" * 800  # 100 ms at 16 kHz


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    faults = {
        ERROR_AVATAR: Fault.server_error(at_message=1),
        CLOSE_AVATAR: Fault.close(4010, after_audio=1),
        DROP_AVATAR: Fault.drop(after_audio=1),
    }
    with EmulatorThread(
        realtime=False,
        api_key=API_KEY,
        faults=faults,
        rejected_livekit_tokens=frozenset({LK_BAD_TOKEN}),
    ) as running:
        yield running


def config_for(emu: EmulatorThread, **overrides: Any) -> SessionConfig:
    fields: dict[str, Any] = {
        "api_key": API_KEY,
        "app_id": emu.app_id,
        "avatar_id": emu.avatar_id,
        "console_url": emu.console_url,
        "ingress_url": emu.ingress_url,
    }
    fields.update(overrides)
    return SessionConfig(**fields)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="avatarwire")
    return caplog


# --- what was shown, and where ------------------------------------------------------------


@dataclass
class Shown:
    """Every text a user could see, labelled by where it came from, and the session
    tokens issued along the way (secrets too)."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    def add(self, where: str, *objects: object) -> None:
        for obj in objects:
            self.texts.append((where, repr(obj)))
            if isinstance(obj, BaseException):
                self.texts.append((where, str(obj)))
            if isinstance(obj, AvatarError):
                self.texts.append((where, repr(vars(obj))))
            error = getattr(obj, "error", None)
            if isinstance(error, AvatarError):
                self.add(where, error)

    def add_records(self, records: list[logging.LogRecord]) -> None:
        formatter = logging.Formatter()
        for record in records:
            where = f"log record {record.name}:{record.lineno}"
            self.texts.append((where, record.getMessage()))
            self.texts.append((where, repr(vars(record))))
            if record.exc_info:
                self.texts.append((where, formatter.formatException(record.exc_info)))

    def leaks(self) -> list[str]:
        secrets = FIXED_SECRETS + tuple(self.tokens)
        return [
            f"{where}: {secret!r} in {text[:300]!r}"
            for where, text in self.texts
            for secret in secrets
            if secret in text
        ]


async def _until_closed(session: Session) -> list[Event]:
    return await session.events_until_closed(timeout=5)


async def _normal_session(api: Api, shown: Shown, where: str, config: SessionConfig) -> None:
    """Fetch a token (remembered as a secret), stream a request, interrupt, close."""
    token = await api.fetch_token(config)
    shown.tokens.append(token)
    shown.add(where, config)
    async with api.connect(config, session_token=token) as session:
        req_id = await session.send_audio(PCM, end=True)
        events: list[Event] = []
        while RequestFinished(req_id, interrupted=False) not in events:
            events.append(await session.next_event())
        await session.interrupt()
        shown.add(where, session.raw, session.raw._core, *events)
        await session.close()
        shown.add(where, *(await _until_closed(session)), session.raw, session.raw._core)


async def _refused_session(
    api: Api, shown: Shown, where: str, config: SessionConfig, token: str | None = None
) -> None:
    """A session that must fail to open; its error is shown."""
    if token is None:
        token = await api.fetch_token(config)
        shown.tokens.append(token)
    shown.add(where, config)
    with pytest.raises(AvatarError) as info:
        async with api.connect(config, session_token=token):
            pytest.fail(f"{where}: the session opened")
    shown.add(where, info.value)


async def _failing_session(api: Api, shown: Shown, where: str, config: SessionConfig) -> None:
    """A session the service breaks at runtime (a server error, a close, a drop); the
    events up to the first error are shown."""
    token = await api.fetch_token(config)
    shown.tokens.append(token)
    events: list[Event] = []
    async with api.connect(config, session_token=token) as session:
        await session.send_audio(PCM, end=True)
        while not any(isinstance(event, (ServerError, SessionClosed)) for event in events):
            events.append(await session.next_event())
        shown.add(where, *events, session.raw, session.raw._core)
    assert any(getattr(event, "error", None) is not None for event in events), where


async def every_path(api: Api, emu: EmulatorThread) -> Shown:
    shown = Shown()
    livekit = LiveKitEgress(
        url="wss://lk.example", room_name="room", api_token=LK_TOKEN, api_key=LK_KEY,
        api_secret=LK_SECRET,
    )  # fmt: skip
    await _normal_session(api, shown, "header-auth", config_for(emu))
    await _normal_session(api, shown, "query-auth", config_for(emu, use_query_auth=True))
    await _normal_session(
        api, shown, "agora", config_for(emu, agora=AgoraEgress("chan", token=AGORA_TOKEN))
    )
    await _normal_session(api, shown, "livekit", config_for(emu, livekit=livekit))

    refused_livekit = LiveKitEgress(url="wss://lk.example", room_name="r", api_token=LK_BAD_TOKEN)
    await _refused_session(api, shown, "livekit-refused", config_for(emu, livekit=refused_livekit))
    await _refused_session(api, shown, "bad-avatar", config_for(emu, avatar_id="nobody"))
    await _refused_session(
        api,
        shown,
        "bad-avatar-query-auth",
        config_for(emu, avatar_id="nobody", use_query_auth=True),
    )
    await _refused_session(api, shown, "bogus-token", config_for(emu), BOGUS_TOKEN)
    await _refused_session(
        api, shown, "bogus-token-query-auth", config_for(emu, use_query_auth=True), BOGUS_TOKEN
    )
    used = await api.fetch_token(config_for(emu))
    shown.tokens.append(used)
    await _refused_session(api, shown, "first-use", config_for(emu), "x" + used)
    async with api.connect(config_for(emu), session_token=used):
        pass
    await _refused_session(api, shown, "used-token", config_for(emu), used)

    with pytest.raises(AvatarError) as info:
        await api.fetch_token(config_for(emu, api_key=WRONG_API_KEY))
    shown.add("wrong-api-key", info.value)
    with pytest.raises(AvatarError) as info:
        async with api.connect(config_for(emu, api_key=WRONG_API_KEY)):
            pytest.fail("a wrong API key opened a session")
    shown.add("wrong-api-key-connect", info.value)

    await _failing_session(api, shown, "server-error", config_for(emu, avatar_id=ERROR_AVATAR))
    await _failing_session(api, shown, "close-4010", config_for(emu, avatar_id=CLOSE_AVATAR))
    await _failing_session(api, shown, "drop", config_for(emu, avatar_id=DROP_AVATAR))
    return shown


@pytest.mark.parametrize("binding", BINDINGS)
def test_no_secret_in_logs_reprs_or_errors_on_any_path(
    binding: str, emu: EmulatorThread, debug_logs: pytest.LogCaptureFixture
) -> None:
    api = api_for(binding)
    shown = api.run(lambda api: every_path(api, emu))
    records = debug_logs.records
    assert any(r.name.startswith("avatarwire") for r in records), "nothing was logged"
    shown.add_records(records)
    assert len(shown.tokens) >= 10, "the emulator issued fewer tokens than expected"
    assert shown.leaks() == []


def test_query_auth_puts_the_token_in_the_upgrade_url_only(
    emu: EmulatorThread, debug_logs: pytest.LogCaptureFixture
) -> None:
    """The token does go into the URL (that is what query auth is), yet no log record,
    repr or redacted URL shows it."""
    config = config_for(emu, use_query_auth=True)
    client = ClientSession(config, BOGUS_TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    assert peer.upgrade is not None and f"sessionKey={BOGUS_TOKEN}" in peer.upgrade.target
    shown = Shown()
    shown.add("query-auth", config, client, config.ingress_endpoint)
    shown.texts.append(("redacted url", config.ingress_endpoint.redacted_url))
    shown.add_records(debug_logs.records)
    assert shown.leaks() == []


def test_connect_options_do_not_show_the_session_token() -> None:
    assert BOGUS_TOKEN not in repr(ConnectOptions(session_token=BOGUS_TOKEN))


# --- a service that echoes secrets back -------------------------------------------------------
# The console leg masks the API key and token in whatever the console says; the
# ingress leg must do the same with what it knows: the session token, the API key and
# the egress credentials.

ECHO_TOKEN = "tok-SECRETTEST-echoed-a9b8"


def _echo_client() -> tuple[ClientSession, ScriptedPeer]:
    livekit = LiveKitEgress(
        url="wss://lk.example", room_name="room", api_token=LK_TOKEN, api_key=LK_KEY,
        api_secret=LK_SECRET,
    )  # fmt: skip
    config = SessionConfig(
        api_key=API_KEY,
        app_id="app-1",
        avatar_id="avatar-1",
        ingress_url="ws://127.0.0.1:9/v2/driveningress",
        console_url="http://127.0.0.1:9/v1/console",
        livekit=livekit,
    )
    client = ClientSession(config, ECHO_TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    return client, peer


def _ready(client: ClientSession, peer: ScriptedPeer) -> None:
    peer.accept()
    pump(client, peer)
    peer.send(confirm())
    pump(client, peer)


ECHOED = f"{ECHO_TOKEN} {API_KEY} {LK_TOKEN} {LK_KEY} {LK_SECRET}"


def _reject_echoing(client: ClientSession, peer: ScriptedPeer) -> None:
    peer.reject(400, json.dumps({"message": f"Invalid session token {ECHOED}"}).encode())
    pump(client, peer)


def _refuse_echoing(client: ClientSession, peer: ScriptedPeer) -> None:
    peer.accept()
    pump(client, peer)
    peer.send(server_error(16, f"failed to connect to livekit room: bad token {ECHOED}"))
    pump(client, peer)


def _runtime_error_echoing(client: ClientSession, peer: ScriptedPeer) -> None:
    _ready(client, peer)
    req_id = client.send_audio(PCM)
    pump(client, peer)
    peer.send(server_error(0, f"driven server request failed for {ECHOED}", req_id))
    peer.close(4010, f"auth failed {ECHO_TOKEN}")
    pump(client, peer)


ECHOES: dict[str, Callable[[ClientSession, ScriptedPeer], None]] = {
    "upgrade-rejection": _reject_echoing,
    "handshake-refusal": _refuse_echoing,
    "runtime-error-and-close-reason": _runtime_error_echoing,
}


@pytest.mark.parametrize("echo", ECHOES)
def test_secrets_the_service_echoes_are_masked(echo: str) -> None:
    client, peer = _echo_client()
    ECHOES[echo](client, peer)
    events = client.events()
    errors = [e.error for e in events if isinstance(e, (ServerError, SessionClosed)) and e.error]
    assert errors, events
    shown = Shown()
    shown.tokens.append(ECHO_TOKEN)
    shown.add(echo, client, *events)
    for error in errors:
        shown.texts.append((echo, repr(error.raw_body)))
    assert shown.leaks() == []
