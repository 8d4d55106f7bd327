"""``avatarwire.compat`` as a drop-in for the official ``spatialreal`` 0.2.2 SDK.

Each test ports one documented behaviour of that SDK (its docstrings and
protocol.md section 3) and checks it against the emulator on loopback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from enum import Enum, IntEnum
from typing import Any

import pytest

import avatarwire.bindings.compat as bindings_compat
from avatarwire import compat
from avatarwire.compat import (
    AgoraEgressConfig,
    AudioFormat,
    AvatarSDKError,
    AvatarSDKErrorCode,
    AvatarSession,
    CloseCode,
    InterruptReason,
    LiveKitEgressConfig,
    PlaybackSignal,
    PlaybackState,
    PlaybackStateEvent,
    SessionConfig,
    SessionTokenError,
    generate_log_id,
    new_avatar_session,
)
from avatarwire.core.errors import AvatarError, ErrorCode
from avatarwire.core.steps import Timeouts
from avatarwire.emulator import Emulator, Fault

WAIT = 10.0
SHORT = Timeouts(token=3, tcp_connect=3, upgrade=3, handshake=3, close=3)
PCM_200MS = b"\0\0" * 3200  # 0.2 s at 16 kHz: five keyframes

#: The names the official package exports (protocol.md section 3).
OFFICIAL_NAMES = {
    "AgoraEgressConfig",
    "AudioFormat",
    "AvatarSDKError",
    "AvatarSDKErrorCode",
    "AvatarSession",
    "CloseCode",
    "LiveKitEgressConfig",
    "PlaybackSignal",
    "PlaybackStateEvent",
    "PlaybackState",
    "InterruptReason",
    "SessionConfig",
    "SessionTokenError",
    "__version__",
    "generate_log_id",
    "new_avatar_session",
}

#: The fields of the official ``SessionConfig``, in order.
OFFICIAL_FIELDS = (
    "avatar_id",
    "api_key",
    "app_id",
    "use_query_auth",
    "expire_at",
    "sample_rate",
    "bitrate",
    "audio_format",
    "environment",
    "console_endpoint_url",
    "ingress_endpoint_url",
    "livekit_egress",
    "agora_egress",
    "on_playback",
    "on_playback_state",
    "transport_frames",
    "on_error",
    "on_close",
    "token_request_timeout",
)


class Recorder:
    """Every official callback, recording what it got and waking waiters."""

    def __init__(self) -> None:
        self.signals: list[PlaybackSignal] = []
        self.states: list[PlaybackStateEvent] = []
        self.frames: list[tuple[bytes, bool]] = []
        self.errors: list[Exception] = []
        self.order: list[str] = []
        self.closes = 0
        self._changed = asyncio.Event()

    def on_playback(self, signal: PlaybackSignal) -> None:
        self.signals.append(signal)
        self.order.append("on_playback")
        self._changed.set()

    def on_playback_state(self, event: PlaybackStateEvent) -> None:
        self.states.append(event)
        self._changed.set()

    def transport_frames(self, frame: bytes, is_last: bool) -> None:
        self.frames.append((frame, is_last))
        self.order.append("transport_frames")
        self._changed.set()

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)
        self._changed.set()

    def on_close(self) -> None:
        self.closes += 1
        self._changed.set()

    def callbacks(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in (
                "on_playback",
                "on_playback_state",
                "transport_frames",
                "on_error",
                "on_close",
            )
        }

    async def until(self, condition: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), WAIT)


def official_kwargs(emu: Emulator, **more: Any) -> dict[str, Any]:
    """What a user of the official SDK passes, pointing at the emulator."""
    kwargs: dict[str, Any] = {
        "api_key": emu.api_key,
        "app_id": emu.app_id,
        "avatar_id": emu.avatar_id,
        "console_endpoint_url": emu.console_url,
        "ingress_endpoint_url": emu.ingress_url,
        "timeouts": SHORT,
    }
    kwargs.update(more)
    return kwargs


def with_emulator(
    scenario: Callable[[Emulator], Awaitable[None]], **options: Any
) -> Callable[[], None]:
    """Run ``scenario`` against a fresh emulator (as fast as possible unless told)."""
    options.setdefault("realtime", False)

    async def main() -> None:
        async with Emulator(**options) as emu:
            await scenario(emu)

    return lambda: asyncio.run(asyncio.wait_for(main(), 30))


async def started(emu: Emulator, recorder: Recorder, **more: Any) -> AvatarSession:
    session = new_avatar_session(**official_kwargs(emu, **recorder.callbacks(), **more))
    await session.init()
    await session.start()
    return session


# --- the surface ------------------------------------------------------------------------------


def test_every_official_name_is_exported_and_bindings_compat_is_the_same_module() -> None:
    assert set(compat.__all__) >= OFFICIAL_NAMES
    for name in OFFICIAL_NAMES:
        assert getattr(compat, name) is getattr(bindings_compat, name)
    assert compat.__version__ == "0.2.2"


def test_the_exports_match_the_installed_official_package() -> None:
    spatialreal = pytest.importorskip("spatialreal", reason="the official SDK is not installed")
    assert set(spatialreal.__all__) <= set(compat.__all__)
    official_fields = [field.name for field in dataclasses.fields(spatialreal.SessionConfig)]
    assert official_fields == list(OFFICIAL_FIELDS)
    assert [code.value for code in spatialreal.AvatarSDKErrorCode] == [
        code.value for code in AvatarSDKErrorCode
    ]
    assert {c.name: c.value for c in spatialreal.CloseCode} == {c.name: c.value for c in CloseCode}
    for ours, theirs in (
        (PlaybackState, spatialreal.PlaybackState),
        (InterruptReason, spatialreal.InterruptReason),
        (AudioFormat, spatialreal.AudioFormat),
    ):
        assert {m.name: m.value for m in theirs} == {m.name: m.value for m in ours}


def test_session_config_has_the_official_fields_in_order_with_their_defaults() -> None:
    names = [field.name for field in dataclasses.fields(SessionConfig)]
    assert tuple(names[: len(OFFICIAL_FIELDS)]) == OFFICIAL_FIELDS
    config = SessionConfig()
    assert (config.sample_rate, config.bitrate, config.environment) == (16000, 0, "us-west")
    assert config.audio_format is AudioFormat.PCM_S16LE
    assert config.token_request_timeout == 30.0
    assert config.on_playback is None and config.on_close is None


def test_audio_format_is_a_str_enum_and_a_string_is_accepted() -> None:
    assert issubclass(AudioFormat, str) and issubclass(AudioFormat, Enum)
    assert AudioFormat.OGG_OPUS == "ogg_opus" and AudioFormat.PCM_S16LE == "pcm_s16le"
    config = SessionConfig(audio_format="ogg_opus")  # type: ignore[arg-type]
    assert config.audio_format is AudioFormat.OGG_OPUS


def test_new_avatar_session_accepts_every_official_keyword() -> None:
    kwargs = {
        "avatar_id": "a",
        "api_key": "key-0123",
        "app_id": "app",
        "use_query_auth": False,
        "expire_at": datetime.now(timezone.utc) + timedelta(hours=1),
        "sample_rate": 24000,
        "bitrate": 0,
        "audio_format": "pcm_s16le",
        "environment": "us-west",
        "console_endpoint_url": "",
        "ingress_endpoint_url": "",
        "livekit_egress": None,
        "agora_egress": AgoraEgressConfig(channel_name="room-1"),
        "on_playback": print,
        "on_playback_state": print,
        "transport_frames": print,
        "on_error": print,
        "on_close": print,
        "token_request_timeout": 5.0,
    }
    assert set(kwargs) == set(OFFICIAL_FIELDS)
    session = new_avatar_session(**kwargs)
    assert isinstance(session.config, SessionConfig)
    assert session.config.sample_rate == 24000 and session.config.environment == "us-west"
    assert session.connection_id is None and session.capabilities == ()


def test_an_unknown_keyword_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="'on_frames'"):
        new_avatar_session(api_key="k", app_id="a", avatar_id="v", on_frames=print)


def test_an_avatar_session_is_made_from_a_session_config() -> None:
    config = SessionConfig(avatar_id="v", api_key="key-0123", app_id="app")
    session = AvatarSession(config)
    assert session.config is config


def test_an_unknown_environment_is_refused_naming_the_known_ones() -> None:
    # As in the official SDK, the name is checked when init() resolves it (the config
    # service may know names the presets lack).
    session = new_avatar_session(api_key="k", app_id="a", avatar_id="v", environment="mars-north")
    with pytest.raises(ValueError, match="us-west"):
        asyncio.run(session.init())


def test_error_codes_are_a_str_enum_of_the_twenty_official_codes() -> None:
    assert issubclass(AvatarSDKErrorCode, str) and issubclass(AvatarSDKErrorCode, Enum)
    assert len(AvatarSDKErrorCode) == 20
    assert AvatarSDKErrorCode.concurrencyLimit.value == "concurrencyLimit"
    assert AvatarSDKErrorCode("sessionTokenInvalid") is AvatarSDKErrorCode.sessionTokenInvalid
    assert {code.value for code in AvatarSDKErrorCode} == {code.value for code in ErrorCode}


def test_avatar_sdk_error_is_built_positionally_with_the_official_fields() -> None:
    error = AvatarSDKError(AvatarSDKErrorCode.serverError, "inference failed")
    assert (error.code, error.message, error.phase) == (
        "serverError",
        "inference failed",
        "unknown",
    )
    assert str(error) == "serverError: inference failed"
    for name in (
        "http_status",
        "server_code",
        "server_detail",
        "connection_id",
        "req_id",
        "raw_body",
        "close_code",
        "close_reason",
    ):
        assert getattr(error, name) is None
    assert isinstance(error, AvatarError) and isinstance(error, Exception)
    full = AvatarSDKError(
        code=AvatarSDKErrorCode.upstreamError,
        message="m",
        phase="websocket_runtime",
        server_code="14",
        close_code=4503,
        close_reason="upstream unavailable",
    )
    assert (full.server_code, full.close_code, full.phase) == ("14", 4503, "websocket_runtime")


@pytest.mark.parametrize(
    ("code", "close_code", "retryable"),
    [
        (AvatarSDKErrorCode.creditsExhausted, 4001, False),
        (AvatarSDKErrorCode.sessionDurationExceeded, 4002, True),
        (AvatarSDKErrorCode.concurrencyLimit, 4003, False),
        (AvatarSDKErrorCode.sessionTokenInvalid, 4010, False),
        (AvatarSDKErrorCode.upstreamError, 4503, True),
        (AvatarSDKErrorCode.connectionClosed, 4099, False),
        (AvatarSDKErrorCode.connectionClosed, 4599, True),
        (AvatarSDKErrorCode.connectionClosed, 1011, True),
        (AvatarSDKErrorCode.connectionFailed, None, True),
        (AvatarSDKErrorCode.connectionClosed, None, True),
        (AvatarSDKErrorCode.upstreamError, None, True),
        (AvatarSDKErrorCode.serverError, None, False),
        (AvatarSDKErrorCode.sessionTokenInvalid, None, False),
        (AvatarSDKErrorCode.protocolError, None, False),
    ],
)
def test_retryable_follows_the_close_code_contract(
    code: AvatarSDKErrorCode, close_code: int | None, retryable: bool
) -> None:
    assert AvatarSDKError(code, "m", close_code=close_code).retryable is retryable


def test_session_token_error_is_an_sdk_error_of_the_token_phase() -> None:
    error = SessionTokenError("refused", code=AvatarSDKErrorCode.billingRequired, http_status=402)
    assert isinstance(error, AvatarSDKError)
    assert (error.code, error.phase, error.http_status) == ("billingRequired", "session_token", 402)
    assert SessionTokenError("x").code is AvatarSDKErrorCode.invalidRequest


def test_close_codes_are_an_int_enum_of_the_contract() -> None:
    assert issubclass(CloseCode, IntEnum)
    assert [(code.name, int(code)) for code in CloseCode] == [
        ("CREDITS_EXHAUSTED", 4001),
        ("SESSION_TIMEOUT", 4002),
        ("CONCURRENCY_LIMIT", 4003),
        ("AUTH_FAILED", 4010),
        ("UPSTREAM_UNAVAILABLE", 4503),
    ]


def test_playback_states_and_interrupt_reasons_are_str_enums() -> None:
    assert [state.value for state in PlaybackState] == [
        "unspecified",
        "playing",
        "paused",
        "ended",
        "interrupted",
    ]
    assert [reason.value for reason in InterruptReason] == [
        "explicit",
        "preempted",
        "pause_timeout",
    ]
    event = PlaybackStateEvent("r", PlaybackState.PAUSED)
    assert (event.played_ms, event.reason, event.connection_id) == (0, "", "")
    signal = PlaybackSignal("r", True)
    assert (signal.connection_id, signal.avatar_id, signal.has_animation) == ("", "", False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.end = False  # type: ignore[misc]


def test_generate_log_id_has_the_official_format() -> None:
    first, second = generate_log_id(), generate_log_id()
    assert re.fullmatch(r"\d{14}_[A-Za-z0-9_-]{12}", first)
    assert first != second


def test_egress_configs_keep_the_official_fields_and_hide_secrets() -> None:
    livekit = LiveKitEgressConfig(url="wss://lk.example", api_token="lk-SECRET-1", room_name="r")
    assert livekit.extra_attributes == {} and livekit.idle_timeout == 0
    agora = AgoraEgressConfig(channel_name="c", token="agora-SECRET-1", uid=3, publisher_id="p")
    assert "SECRET" not in repr(livekit) + repr(agora)


# --- calls out of order -----------------------------------------------------------------------


def test_calls_on_an_unstarted_session_raise_value_error() -> None:
    async def scenario() -> None:
        session = new_avatar_session(api_key="key-0123", app_id="a", avatar_id="v")
        for call in (
            session.start(),
            session.send_audio(b"\0\0"),
            session.interrupt(),
            session.pause(),
            session.resume(),
        ):
            with pytest.raises(ValueError):
                await call
        await session.close()

    asyncio.run(scenario())


# --- against the emulator ---------------------------------------------------------------------


def test_start_returns_the_connection_id_and_capabilities_are_a_tuple_of_str() -> None:
    async def scenario(emu: Emulator) -> None:
        session = new_avatar_session(**official_kwargs(emu))
        await session.init()
        connection_id = await session.start()
        assert connection_id and session.connection_id == connection_id
        assert session.capabilities == ("playback_control", "playback_state")
        await session.close()

    with_emulator(scenario)()


def test_an_older_server_declares_no_capabilities() -> None:
    async def scenario(emu: Emulator) -> None:
        session = new_avatar_session(**official_kwargs(emu))
        await session.init()
        await session.start()
        assert session.capabilities == ()
        await session.close()

    with_emulator(scenario, capabilities=())()


def test_a_request_keeps_its_req_id_until_end_and_the_next_gets_a_new_one() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        first = await session.send_audio(PCM_200MS)
        assert await session.send_audio(PCM_200MS, end=True) == first
        second = await session.send_audio(PCM_200MS, end=True)
        assert second != first
        await recorder.until(lambda: sum(s.end for s in recorder.signals) == 2)
        await session.close()

    with_emulator(scenario)()


def test_on_playback_gets_a_signal_per_frame_before_transport_frames() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        req_id = await session.send_audio(PCM_200MS, end=True)
        await recorder.until(lambda: any(signal.end for signal in recorder.signals))
        await session.close()
        assert len(recorder.signals) == len(recorder.frames) == 5
        assert recorder.order == ["on_playback", "transport_frames"] * 5
        assert [signal.end for signal in recorder.signals] == [False] * 4 + [True]
        assert [last for _, last in recorder.frames] == [False] * 4 + [True]
        for signal in recorder.signals:
            assert (signal.req_id, signal.connection_id) == (req_id, session.connection_id)
            assert signal.avatar_id == emu.avatar_id and signal.has_animation

    with_emulator(scenario)()


def test_egress_frames_are_control_signals_without_animation() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder, agora_egress=AgoraEgressConfig("room-1", uid=7))
        req_id = await session.send_audio(PCM_200MS, end=True)
        await recorder.until(lambda: any(signal.end for signal in recorder.signals))
        await session.close()
        assert recorder.signals and not any(s.has_animation for s in recorder.signals)
        assert {signal.req_id for signal in recorder.signals} == {req_id}
        assert len(recorder.frames) == len(recorder.signals)  # raw frames in both modes

    with_emulator(scenario)()


def test_pause_and_resume_each_get_a_playback_state_reply() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder, agora_egress=AgoraEgressConfig("room-1"))
        req_id = await session.send_audio(b"\0\0" * 16000 * 3)  # 3 s, playout in real time
        await recorder.until(lambda: any(s.state is PlaybackState.PLAYING for s in recorder.states))
        assert await session.pause() == req_id
        await recorder.until(lambda: recorder.states[-1].state is PlaybackState.PAUSED)
        paused = recorder.states[-1]
        assert await session.send_audio(b"\0\0" * 160, end=True) == req_id  # pause keeps it
        assert await session.resume() == req_id
        await recorder.until(lambda: recorder.states[-1].state is not PlaybackState.PAUSED)
        resumed = recorder.states[-1]
        assert resumed.state is PlaybackState.PLAYING and resumed.req_id == req_id
        assert resumed.played_ms >= paused.played_ms
        assert paused.connection_id == session.connection_id
        assert await session.interrupt() == req_id
        await session.close()
        assert recorder.errors == []

    with_emulator(scenario, realtime=True)()


def test_pause_on_a_server_without_playback_control_sends_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        req_id = await session.send_audio(PCM_200MS, end=True)
        with caplog.at_level(logging.WARNING, logger="avatarwire.compat"):
            assert await session.pause() == req_id
            assert await session.resume() == req_id
        await recorder.until(lambda: any(signal.end for signal in recorder.signals))
        await session.close()
        assert recorder.states == [] and recorder.errors == []
        assert "playback_control" in caplog.text

    with_emulator(scenario, capabilities=())()


def test_interrupt_pause_and_resume_with_no_request_raise_value_error() -> None:
    async def scenario(emu: Emulator) -> None:
        session = await started(emu, Recorder())
        for call in (session.interrupt, session.pause, session.resume):
            with pytest.raises(ValueError):
                await call()
        await session.close()

    with_emulator(scenario)()


def test_interrupt_targets_the_most_recent_request_even_after_its_end() -> None:
    async def scenario(emu: Emulator) -> None:
        session = await started(emu, Recorder())
        req_id = await session.send_audio(PCM_200MS, end=True)
        assert await session.interrupt() == req_id
        assert await session.send_audio(PCM_200MS) != req_id
        await session.close()

    with_emulator(scenario)()


def test_close_is_idempotent_and_on_close_fires_exactly_once() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        await session.close()
        await session.close()
        assert recorder.closes == 1
        for call in (session.send_audio(b"\0\0"), session.interrupt(), session.pause()):
            with pytest.raises(ValueError):
                await call

    with_emulator(scenario)()


def test_a_relayed_server_error_is_server_error_with_a_string_code_and_the_session_goes_on() -> (
    None
):
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        req_id = await session.send_audio(PCM_200MS, end=True)
        await recorder.until(lambda: bool(recorder.errors))
        [error] = recorder.errors
        assert isinstance(error, AvatarSDKError)
        assert (error.code, error.server_code, error.close_code) == ("serverError", "14", None)
        assert error.retryable is False and error.req_id == req_id
        assert error.server_detail == "inference server Animate failed"
        await recorder.until(lambda: any(signal.end for signal in recorder.signals))
        assert recorder.closes == 0
        await session.close()

    fault = Fault.server_error(code=14, text="inference server Animate failed")
    with_emulator(scenario, fault=fault)()


def test_a_server_close_code_names_the_error_then_on_close_fires_once() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        await session.send_audio(PCM_200MS)
        await recorder.until(lambda: recorder.closes == 1)
        [error] = recorder.errors
        assert isinstance(error, AvatarSDKError)
        assert (error.code, error.close_code) == ("sessionDurationExceeded", 4002)
        assert error.retryable is True and error.phase == "websocket_runtime"
        await session.close()
        assert recorder.closes == 1
        with pytest.raises(ValueError):
            await session.send_audio(PCM_200MS)

    with_emulator(scenario, fault=Fault.close(4002))()


def test_a_wrong_api_key_is_session_token_invalid_and_not_retryable() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = new_avatar_session(
            **official_kwargs(emu, api_key="wrong-key", **recorder.callbacks())
        )
        with pytest.raises(SessionTokenError) as caught:
            await session.init()
        error = caught.value
        assert (error.code, error.http_status, error.phase) == (
            "sessionTokenInvalid",
            401,
            "session_token",
        )
        assert error.retryable is False and recorder.errors == []
        await session.close()
        assert recorder.closes == 1

    with_emulator(scenario)()


def test_the_token_request_times_out_as_a_retryable_connection_failure() -> None:
    async def scenario(emu: Emulator) -> None:
        kwargs = official_kwargs(emu, token_request_timeout=0.3)
        del kwargs["timeouts"]
        session = new_avatar_session(**kwargs)
        with pytest.raises(SessionTokenError) as caught:
            await session.init()
        assert caught.value.code is AvatarSDKErrorCode.connectionFailed
        assert caught.value.retryable is True
        await session.close()

    with_emulator(scenario, fault=Fault.token_hang())()


def test_a_raising_callback_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()

        def on_playback(signal: PlaybackSignal) -> None:
            recorder.on_playback(signal)
            raise RuntimeError("bug in the application")

        callbacks = {**recorder.callbacks(), "on_playback": on_playback}
        session = new_avatar_session(**official_kwargs(emu, **callbacks))
        await session.init()
        await session.start()
        await session.send_audio(PCM_200MS, end=True)
        await recorder.until(lambda: any(last for _, last in recorder.frames))
        await session.close()
        assert len(recorder.signals) == 5

    with caplog.at_level(logging.ERROR, logger="avatarwire"):
        with_emulator(scenario)()
    assert caplog.text.count("bug in the application") >= 5


def test_a_one_byte_chunk_is_accepted_as_a_tts_byte_stream_splits_samples() -> None:
    async def scenario(emu: Emulator) -> None:
        recorder = Recorder()
        session = await started(emu, recorder)
        req_id = await session.send_audio(b"\x03")
        assert await session.send_audio(b"\x00" + PCM_200MS[:-1]) == req_id
        assert await session.send_audio(b"\x00", end=True) == req_id
        await recorder.until(lambda: any(signal.end for signal in recorder.signals))
        await session.close()
        assert recorder.errors == [] and {s.req_id for s in recorder.signals} == {req_id}

    with_emulator(scenario)()
