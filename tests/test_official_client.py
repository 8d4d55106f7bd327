"""The unmodified official ``spatialreal`` 0.2.2 client against the emulator, on loopback.

What today's official client sends and expects: its token route, the handshake, frames
through ``transport_frames``, ``on_playback`` signals, pause / resume with
``on_playback_state``, Agora egress control frames, and every refusal with the code and
``retryable`` the official SDK itself gives (``CONSOLE_REFUSALS``, ``START_REFUSALS`` and
``RUNTIME_ENDINGS`` below are that table). The refusal tests run the same table through
``avatarwire.compat`` too: the emulator, the official client and avatarwire's facade (over
the native core's classification) must agree on every code, ``retryable``, close code and
server code of the contract.

The official client never leaves the machine: every session gets both endpoint URLs,
and with both given the SDK does no config-service lookup (its ``_console_endpoint`` /
``_ingress_endpoint`` return them before resolving an environment; the tests check its
lookup cache stays empty). Should a lookup happen anyway, the SDK's documented config
URL constant (``spatialreal.environments.CONFIG_SERVICE_URL``) points at a closed
loopback port for every test, so it fails at once and falls back to its presets
instead of waiting out its 3 s timeout; the environment test points it at the
emulator's own ``GET /sdk``. Proxy variables are cleared so ``websockets`` connects
directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from emulator_client import run_async

spatialreal = pytest.importorskip(
    "spatialreal",
    minversion="0.2.2",
    reason="the official spatialreal client is an optional test dependency: "
    "pip install -e '.[official]'",
)
environments = pytest.importorskip("spatialreal.environments")

import avatarwire.compat  # noqa: E402
from avatarwire.core.errors import ConfigError  # noqa: E402
from avatarwire.core.wire import Message  # noqa: E402
from avatarwire.emulator import Emulator, Fault  # noqa: E402

#: The clients every refusal goes through: the official SDK and avatarwire's drop-in.
CLIENTS = {"spatialreal": spatialreal, "avatarwire.compat": avatarwire.compat}

#: Where the official SDK's config lookup goes in these tests: nothing listens there.
CLOSED_PORT_CONFIG_URL = "http://127.0.0.1:9/sdk"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy")
STEP = 5.0  # seconds any one await may take


@pytest.fixture(autouse=True)
def _official_client_stays_on_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setattr(environments, "CONFIG_SERVICE_URL", CLOSED_PORT_CONFIG_URL)
    environments.reset_cache()
    yield
    environments.reset_cache()


def tone(seconds: float, rate: int = 16000) -> bytes:
    """A square-ish tone as 16-bit little-endian PCM."""
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *((4000 if (i // 20) % 2 else -4000) for i in range(count)))


@dataclass
class Recorder:
    """Everything the official client hands its callbacks, in order."""

    signals: list[Any] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)
    frames: list[tuple[bytes, bool]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    closes: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_playback": self._add(self.signals),
            "on_playback_state": self._add(self.states),
            "transport_frames": lambda raw, last: self._add(self.frames)((raw, last)),
            "on_error": self._add(self.errors),
            "on_close": self._closed,
        }

    def _add(self, into: list[Any]) -> Callable[[Any], None]:
        def add(item: Any) -> None:
            into.append(item)
            self.changed.set()

        return add

    def _closed(self) -> None:
        self.closes += 1
        self.changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float = STEP) -> None:
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def state_list(self) -> list[tuple[str, str, int, str]]:
        return [(s.req_id, s.state.value, s.played_ms, s.reason) for s in self.states]


def official(
    emu: Emulator, recorder: Recorder | None = None, *, sdk: Any = spatialreal, **overrides: Any
) -> Any:
    """A session of ``sdk`` (the official one unless told) aimed at the emulator with
    both endpoint URLs given."""
    options: dict[str, Any] = {
        "api_key": emu.api_key,
        "app_id": emu.app_id,
        "avatar_id": emu.avatar_id,
        "console_endpoint_url": emu.console_url,
        "ingress_endpoint_url": emu.ingress_url,
        "expire_at": datetime.now(timezone.utc) + timedelta(minutes=10),
        "token_request_timeout": STEP,
    }
    if recorder is not None:
        options.update(recorder.callbacks())
    options.update(overrides)
    return sdk.new_avatar_session(**options)


async def opened(emu: Emulator, recorder: Recorder, **overrides: Any) -> Any:
    session = official(emu, recorder, **overrides)
    await asyncio.wait_for(session.init(), STEP)
    await asyncio.wait_for(session.start(), STEP)
    return session


# --- the happy paths --------------------------------------------------------------------


@run_async
async def test_token_handshake_frames_and_playback_signals() -> None:
    recorder = Recorder()
    async with Emulator(realtime=False) as emu:
        session = await opened(emu, recorder)
        assert session.connection_id
        assert session.capabilities == ("playback_control", "playback_state")
        audio = tone(0.4)
        # A TTS byte stream splits samples across chunks; the official client forwards it.
        req_id = await session.send_audio(audio[:1])
        assert await session.send_audio(audio[1:6401]) == req_id
        assert await session.send_audio(audio[6401:], end=True) == req_id
        await recorder.until(lambda: any(s.end for s in recorder.signals))
        await session.close()
        assert recorder.closes == 1 and recorder.errors == []
        assert len(recorder.signals) == len(recorder.frames) == 10
        assert [last for _, last in recorder.frames] == [False] * 9 + [True]
        for signal, (raw, _) in zip(recorder.signals, recorder.frames, strict=True):
            assert (signal.req_id, signal.avatar_id) == (req_id, emu.avatar_id)
            assert signal.connection_id == session.connection_id and signal.has_animation
            animation = Message.FromString(raw).server_response_animation
            assert animation.req_id == req_id and len(animation.animation.keyframes) == 1
        assert environments._cache is None  # no config lookup: both URLs were given


@run_async
async def test_the_api_root_works_as_the_console_url_too() -> None:
    recorder = Recorder()
    async with Emulator(realtime=False) as emu:
        session = await opened(emu, recorder, console_endpoint_url=emu.api_url)
        await session.send_audio(tone(0.1), end=True)
        await recorder.until(lambda: any(s.end for s in recorder.signals))
        await session.close()


@run_async
async def test_an_environment_resolves_through_the_emulator_config_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    async with Emulator(realtime=False, environments=("us-west", "emulator")) as emu:
        monkeypatch.setattr(environments, "CONFIG_SERVICE_URL", emu.config_url)
        environments.reset_cache()
        session = await opened(
            emu, recorder, environment="emulator", console_endpoint_url="", ingress_endpoint_url=""
        )
        assert environments._cache == {
            name: {"api": emu.api_url, "driveningress": emu.api_url}
            for name in ("us-west", "emulator")
        }
        await session.send_audio(tone(0.1), end=True)
        await recorder.until(lambda: any(s.end for s in recorder.signals))
        await session.close()
        unknown = official(emu, environment="mars", console_endpoint_url="")
        with pytest.raises(ValueError, match="emulator"):
            await unknown.init()


@run_async
async def test_agora_egress_control_frames_and_the_repeated_drain_end() -> None:
    recorder = Recorder()
    agora = spatialreal.AgoraEgressConfig(channel_name="room-7", token="agora-tok", uid=7)
    async with Emulator(realtime=False) as emu:
        session = await opened(emu, recorder, agora_egress=agora)
        audio = tone(0.3)
        req_id = await session.send_audio(audio, end=True)
        await recorder.until(lambda: [s.end for s in recorder.signals] == [False, True, True])
        await recorder.until(lambda: len(recorder.states) == 2)
        await session.close()
        assert all(s.req_id == req_id and not s.has_animation for s in recorder.signals)
        assert [last for _, last in recorder.frames] == [False, True, True]
        assert recorder.state_list() == [(req_id, "playing", 0, ""), (req_id, "ended", 300, "")]
        (publisher,) = emu.egress()["agora"]["room-7"]
        (request,) = publisher["requests"]
        assert publisher["uid"] == 7 and publisher["token_present"]
        assert request["audio_sha256"] == hashlib.sha256(audio).hexdigest()
        assert request["completed"] and recorder.errors == []


@run_async
async def test_a_drain_end_without_req_id_reaches_the_official_client_as_is() -> None:
    recorder = Recorder()
    agora = spatialreal.AgoraEgressConfig(channel_name="anon")
    async with Emulator(realtime=False, drain_end_without_req_id=True) as emu:
        session = await opened(emu, recorder, agora_egress=agora)
        req_id = await session.send_audio(tone(0.1), end=True)
        await recorder.until(lambda: len(recorder.signals) == 3)
        await session.close()
        assert [(s.req_id, s.end) for s in recorder.signals] == [
            (req_id, False),
            (req_id, True),
            ("", True),
        ]


@run_async
async def test_pause_and_resume_with_playback_states() -> None:
    recorder = Recorder()
    agora = spatialreal.AgoraEgressConfig(channel_name="pause")
    async with Emulator() as emu:
        session = await opened(emu, recorder, agora_egress=agora)
        req_id = await session.send_audio(tone(0.3))
        await recorder.until(lambda: len(recorder.states) == 1)
        assert await session.pause() == req_id
        await recorder.until(lambda: len(recorder.states) == 2)
        paused = recorder.states[1]
        assert paused.state is spatialreal.PlaybackState.PAUSED and paused.req_id == req_id
        assert 0 <= paused.played_ms <= 300
        # The client keeps sending while paused; the request goes on after resume.
        assert await session.send_audio(tone(0.2), end=True) == req_id
        assert await session.resume() == req_id
        await recorder.until(lambda: len(recorder.states) == 4)
        await session.close()
        assert recorder.state_list() == [
            (req_id, "playing", 0, ""),
            (req_id, "paused", paused.played_ms, ""),
            (req_id, "playing", paused.played_ms, ""),
            (req_id, "ended", 500, ""),
        ]
        assert [s.end for s in recorder.signals] == [False, True, True]


@run_async
async def test_a_late_pause_and_a_pause_past_the_limit_as_the_official_client_sees_them() -> None:
    recorder = Recorder()
    agora = spatialreal.AgoraEgressConfig(channel_name="late")
    async with Emulator(realtime=False, pause_timeout=0.2) as emu:
        session = await opened(emu, recorder, agora_egress=agora)
        first = await session.send_audio(tone(0.1), end=True)
        await recorder.until(lambda: len(recorder.states) == 2)
        assert await session.pause() == first  # playout ended already: the pause did nothing
        await recorder.until(lambda: len(recorder.states) == 3)
        second = await session.send_audio(tone(0.12))  # 3 keyframes, no end yet
        await recorder.until(lambda: len(recorder.states) == 4)
        await session.pause()
        await recorder.until(lambda: len(recorder.states) == 6)
        await session.close()
        timeout = spatialreal.InterruptReason.PAUSE_TIMEOUT.value
        assert recorder.state_list() == [
            (first, "playing", 0, ""),
            (first, "ended", 100, ""),
            (first, "ended", 100, ""),
            (second, "playing", 0, ""),
            (second, "paused", 120, ""),
            (second, "interrupted", 120, timeout),
        ]


@run_async
async def test_interrupt_reports_interrupted_explicit() -> None:
    recorder = Recorder()
    agora = spatialreal.AgoraEgressConfig(channel_name="barge")
    async with Emulator() as emu:
        session = await opened(emu, recorder, agora_egress=agora)
        req_id = await session.send_audio(tone(2.0), end=True)
        await recorder.until(lambda: len(recorder.states) == 1)
        assert await session.interrupt() == req_id
        await recorder.until(lambda: len(recorder.states) == 2)
        await session.close()
        interrupted = recorder.states[1]
        assert interrupted.state is spatialreal.PlaybackState.INTERRUPTED
        assert interrupted.reason == spatialreal.InterruptReason.EXPLICIT.value
        assert interrupted.played_ms < 2000 and not any(s.end for s in recorder.signals)


@run_async
async def test_an_older_server_declares_nothing_and_pause_is_ignored() -> None:
    recorder = Recorder()
    agora = spatialreal.AgoraEgressConfig(channel_name="old")
    async with Emulator(realtime=False, avatar_capabilities={"old-avatar": ()}) as emu:
        session = await opened(emu, recorder, avatar_id="old-avatar", agora_egress=agora)
        assert session.capabilities == ()
        req_id = await session.send_audio(tone(0.1))
        await session.pause()
        await session.send_audio(b"", end=True)
        await recorder.until(lambda: [s.end for s in recorder.signals] == [False, True, True])
        await session.close()
        assert recorder.states == [] and {s.req_id for s in recorder.signals} == {req_id}


# --- refusals: what the official client itself reports ---------------------------------


@dataclass(frozen=True)
class Refusal:
    """One refusal case: how to cause it and what the official SDK reports."""

    name: str
    code: str
    retryable: bool
    close_code: int | None = None
    http_status: int | None = None
    server_code: str | None = None
    emulator: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)


CONSOLE_REFUSALS = [
    Refusal("bad api key", "sessionTokenInvalid", False, None, 401, "unauthorized",
            session={"api_key": "wrong-key"}),
    Refusal("console 402", "billingRequired", False, None, 402, "PAYMENT_REQUIRED",
            emulator={"fault": Fault.token_status(402)}),
    Refusal("unknown app (console 403)", "appIDUnrecognized", False, None, 403,
            "PERMISSION_DENIED", emulator={"fault": Fault.token_status(403)}),
    Refusal("unknown avatar (console 404)", "avatarNotFound", False, None, 404, "NOT_FOUND",
            emulator={"fault": Fault.token_status(404)}),
    Refusal("concurrency (console 429)", "concurrencyLimit", False, None, 429,
            "RESOURCE_EXHAUSTED", emulator={"fault": Fault.token_status(429)}),
    Refusal("console 500", "serverError", False, None, 500, "INTERNAL",
            emulator={"fault": Fault.token_status(500)}),
    Refusal("console 503", "serverError", False, None, 503, "UNAVAILABLE",
            emulator={"fault": Fault.token_status(503)}),
    Refusal("console 200 not JSON", "protocolError", False,
            emulator={"fault": Fault.token_garbage()}),
]  # fmt: skip

START_REFUSALS = [
    Refusal("unknown avatar (upgrade 404)", "connectionFailed", True, None, 404,
            session={"avatar_id": "nobody"}),
    Refusal("unknown app (upgrade 404)", "connectionFailed", True, None, 404,
            session={"app_id": "no-such-app"}),
    Refusal("bad sample rate", "serverError", False, None, None, "0",
            session={"sample_rate": 12345}),
    Refusal("credits 4001", "creditsExhausted", False, 4001, None, "4001",
            emulator={"fault": Fault.refuse_session(4001)}),
    Refusal("duration 4002", "sessionDurationExceeded", True, 4002, None, "4002",
            emulator={"fault": Fault.refuse_session(4002)}),
    Refusal("concurrency 4003", "concurrencyLimit", False, 4003, None, "4003",
            emulator={"fault": Fault.refuse_session(4003)}),
    Refusal("auth 4010", "sessionTokenInvalid", False, 4010, None, "4010",
            emulator={"fault": Fault.refuse_session(4010)}),
    Refusal("upstream 4503", "upstreamError", True, 4503, None, "4503",
            emulator={"fault": Fault.refuse_session(4503)}),
    Refusal("gRPC 14 at the handshake", "serverError", False, None, None, "14",
            emulator={"fault": Fault.refuse_session(14, "failed to create egress connection")}),
]  # fmt: skip


def _check(error: Any, case: Refusal, sdk: Any = spatialreal) -> None:
    assert isinstance(error, sdk.AvatarSDKError), error
    assert isinstance(error.code, sdk.AvatarSDKErrorCode)
    found = (error.code.value, error.retryable, error.close_code, error.http_status)
    assert found == (case.code, case.retryable, case.close_code, case.http_status), case.name
    assert error.server_code == case.server_code, case.name


def _as_avatarwire_reports(case: Refusal, client: str) -> Refusal:
    """The case as ``client`` reports it: where avatarwire deliberately differs from the
    official SDK, what it says instead (every other field is the same)."""
    if client != "avatarwire.compat":
        return case
    if case.name == "console 200 not JSON":
        return replace(case, http_status=200)  # it keeps the status it got
    if case.name == "expired":  # it reads errors[0].code of an upgrade refusal's body too
        return replace(case, server_code="expired")
    return case


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("case", CONSOLE_REFUSALS, ids=lambda case: case.name)
@run_async
async def test_console_refusals_as_the_official_client_reports_them(
    case: Refusal, client: str
) -> None:
    sdk = CLIENTS[client]
    async with Emulator(**case.emulator) as emu:
        session = official(emu, sdk=sdk, **case.session)
        with pytest.raises(sdk.SessionTokenError) as caught:
            await asyncio.wait_for(session.init(), STEP)
        _check(caught.value, _as_avatarwire_reports(case, client), sdk)
        assert caught.value.phase == "session_token"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("case", START_REFUSALS, ids=lambda case: case.name)
@run_async
async def test_upgrade_and_handshake_refusals_as_the_official_client_reports_them(
    case: Refusal, client: str
) -> None:
    sdk = CLIENTS[client]
    recorder = Recorder()
    async with Emulator(**case.emulator) as emu:
        if client == "avatarwire.compat" and "sample_rate" in case.session:
            # avatarwire refuses a rate the service refuses before connecting at all
            with pytest.raises(ConfigError, match="sample_rate: got 12345"):
                official(emu, recorder, sdk=sdk, **case.session)
            return
        session = official(emu, recorder, sdk=sdk, **case.session)
        await asyncio.wait_for(session.init(), STEP)
        with pytest.raises(sdk.AvatarSDKError) as caught:
            await asyncio.wait_for(session.start(), STEP)
        _check(caught.value, case, sdk)
        expected_phase = "websocket_connect" if case.http_status else "websocket_handshake"
        assert caught.value.phase == expected_phase
        assert recorder.errors == []


@pytest.mark.parametrize("client", CLIENTS)
@run_async
async def test_an_expired_token_at_the_upgrade_is_session_token_invalid(client: str) -> None:
    sdk = CLIENTS[client]
    clock = [time.time() + 3600.0]  # the emulator's clock runs an hour ahead
    async with Emulator(wall_clock=lambda: clock[0]) as emu:
        expire_at = datetime.fromtimestamp(clock[0] + 60, timezone.utc)
        session = official(emu, sdk=sdk, expire_at=expire_at)
        await asyncio.wait_for(session.init(), STEP)
        clock[0] += 120  # the token expires before it is used
        with pytest.raises(sdk.AvatarSDKError) as caught:
            await asyncio.wait_for(session.start(), STEP)
        expired = Refusal("expired", "sessionTokenInvalid", False, None, 401)
        _check(caught.value, _as_avatarwire_reports(expired, client), sdk)


@pytest.mark.parametrize("client", CLIENTS)
@run_async
async def test_a_token_of_another_app_at_the_upgrade_is_a_connection_failure(client: str) -> None:
    sdk = CLIENTS[client]
    async with Emulator(extra_apps={"key-b": "app-b"}) as emu:
        session = official(emu, sdk=sdk, api_key="key-b")  # app-b's token, for the default app
        await asyncio.wait_for(session.init(), STEP)
        with pytest.raises(sdk.AvatarSDKError) as caught:
            await asyncio.wait_for(session.start(), STEP)
        _check(caught.value, Refusal("app mismatch", "connectionFailed", True, None, 400), sdk)


RUNTIME_ENDINGS = [(4001, "creditsExhausted", False), (4002, "sessionDurationExceeded", True),
                   (4003, "concurrencyLimit", False), (4010, "sessionTokenInvalid", False),
                   (4503, "upstreamError", True)]  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("close_code", "code", "retryable"), RUNTIME_ENDINGS)
@run_async
async def test_a_session_ended_with_a_close_code_reports_it_twice_then_closes_once(
    close_code: int, code: str, retryable: bool, client: str
) -> None:
    sdk = CLIENTS[client]
    recorder = Recorder()
    async with Emulator(fault=Fault.end_session(close_code, after_audio=1)) as emu:
        session = await opened(emu, recorder, sdk=sdk)
        req_id = await session.send_audio(tone(0.1))
        await recorder.until(lambda: recorder.closes == 1)
        server_error, closed = recorder.errors
        as_server_error = Refusal("ServerError", code, retryable, close_code, None, str(close_code))
        _check(server_error, as_server_error, sdk)
        assert server_error.req_id == req_id and server_error.phase == "websocket_runtime"
        _check(closed, Refusal("close frame", code, retryable, close_code), sdk)
        assert closed.close_reason == server_error.server_detail
        await session.close()
        assert recorder.closes == 1


@pytest.mark.parametrize("client", CLIENTS)
@run_async
async def test_a_close_frame_alone_maps_by_its_code(client: str) -> None:
    sdk = CLIENTS[client]
    recorder = Recorder()
    async with Emulator(fault=Fault.close(4503, after_audio=1)) as emu:
        session = await opened(emu, recorder, sdk=sdk)
        await session.send_audio(tone(0.1))
        await recorder.until(lambda: recorder.closes == 1)
        (error,) = recorder.errors
        _check(error, Refusal("close 4503", "upstreamError", True, 4503), sdk)


@pytest.mark.parametrize("client", CLIENTS)
@run_async
async def test_a_relayed_grpc_14_is_a_server_error_and_the_session_goes_on(client: str) -> None:
    sdk = CLIENTS[client]
    recorder = Recorder()
    fault = Fault.server_error(at_message=1, code=14, text="inference server Animate failed")
    async with Emulator(realtime=False, fault=fault) as emu:
        session = await opened(emu, recorder, sdk=sdk)
        await session.send_audio(tone(0.1), end=True)
        await recorder.until(lambda: any(s.end for s in recorder.signals))
        await session.close()
        (error,) = recorder.errors
        _check(error, Refusal("gRPC 14", "serverError", False, None, None, "14"), sdk)
        assert error.server_detail == "inference server Animate failed"


@pytest.mark.parametrize("client", CLIENTS)
@run_async
async def test_a_dropped_connection_is_connection_closed_and_retryable(client: str) -> None:
    sdk = CLIENTS[client]
    recorder = Recorder()
    async with Emulator(fault=Fault.drop(after_audio=1)) as emu:
        session = await opened(emu, recorder, sdk=sdk)
        await session.send_audio(tone(0.1))
        await recorder.until(lambda: recorder.closes == 1)
        (error,) = recorder.errors
        _check(error, Refusal("drop", "connectionClosed", True), sdk)


@pytest.mark.parametrize("client", ["spatialreal", "avatarwire.compat"])
@run_async
async def test_the_idle_timeout_is_a_server_error_then_a_normal_close(client: str) -> None:
    sdk = CLIENTS[client]
    recorder = Recorder()
    async with Emulator(idle_timeout=0.2) as emu:
        await opened(emu, recorder, sdk=sdk)
        await recorder.until(lambda: recorder.closes == 1)
        (error,) = recorder.errors
        _check(error, Refusal("idle", "serverError", False, None, None, "0"), sdk)
        assert "no audio input for 0.2 seconds" in error.server_detail
