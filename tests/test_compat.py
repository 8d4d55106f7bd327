"""The official-SDK facade over real loopback sockets: callbacks, once-only close, errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from loopback_service import CONNECTION_ID, Behaviour, LoopbackService

from avatarwire.bindings.compat import (
    ACCEPTED_KEYWORDS,
    AgoraEgressConfig,
    AudioFormat,
    AvatarSDKError,
    AvatarSDKErrorCode,
    AvatarSession,
    LiveKitEgressConfig,
    SessionTokenError,
    SessionUsageError,
    new_avatar_session,
)
from avatarwire.core.errors import AvatarError, ConfigError, ErrorCode, Phase
from avatarwire.core.server import (
    AudioReceived,
    HttpRequestReceived,
    ServerConnection,
    ServerEvent,
    parse_token_request,
)
from avatarwire.core.steps import Timeouts
from avatarwire.core.wire import Message
from avatarwire.emulator import Emulator

WAIT = 5.0
SHORT = Timeouts(token=2, tcp_connect=2, upgrade=2, handshake=2, close=2)


class ScriptedService(LoopbackService):
    """The loopback service, plus: a console that may refuse, recorded ``expireAt``s,
    and audio payloads that make the service misbehave once the session is open.

    ``b"ERRORS"`` -> a runtime ``ServerError`` for that request (the session goes on);
    ``b"CLOSE!"`` -> the service closes the socket with 4503.
    """

    def __init__(self, behaviour: Behaviour | None = None, *, console_status: int = 200) -> None:
        super().__init__(behaviour)
        self.console_status = console_status
        self.expire_ats: list[int] = []

    async def _answer(
        self, conn: ServerConnection, event: ServerEvent, writer: asyncio.StreamWriter
    ) -> None:
        if isinstance(event, HttpRequestReceived):
            self.expire_ats.append(parse_token_request(event.body))
            if self.console_status != 200:
                conn.respond(
                    self.console_status,
                    {"errors": [{"code": "expired", "detail": "session token expired"}]},
                )
                return
        if isinstance(event, AudioReceived) and event.audio == b"ERRORS":
            conn.send_error(0, "driven server request failed", req_id=event.req_id)
            return
        if isinstance(event, AudioReceived) and event.audio == b"CLOSE!":
            conn.close(4503, "upstream unavailable")
            return
        await super()._answer(conn, event, writer)


def official_kwargs(service: LoopbackService, **more: Any) -> dict[str, Any]:
    """The keywords a user of the official SDK passes, pointing at the service."""
    kwargs: dict[str, Any] = {
        "api_key": "loopback-api-key-0123456789",
        "app_id": "loopback-app",
        "avatar_id": "loopback-avatar",
        "console_endpoint_url": f"http://127.0.0.1:{service.port}/v1/console",
        "ingress_endpoint_url": f"http://127.0.0.1:{service.port}/v2/driveningress",
        "timeouts": SHORT,
    }
    kwargs.update(more)
    return kwargs


class Recorder:
    """The three official callbacks, recording what they got."""

    def __init__(self) -> None:
        self.frames: list[tuple[bytes, bool]] = []
        self.errors: list[AvatarError] = []
        self.closes = 0
        self.last_frame = asyncio.Event()
        self.error_seen = asyncio.Event()
        self.closed = asyncio.Event()

    def transport_frames(self, frame: bytes, is_last: bool) -> None:
        self.frames.append((frame, is_last))
        if is_last:
            self.last_frame.set()

    def on_error(self, error: AvatarError) -> None:
        self.errors.append(error)
        self.error_seen.set()

    def on_close(self) -> None:
        self.closes += 1
        self.closed.set()

    def callbacks(self) -> dict[str, Any]:
        return {
            "transport_frames": self.transport_frames,
            "on_error": self.on_error,
            "on_close": self.on_close,
        }


def run_with(
    service: LoopbackService, scenario: Callable[[LoopbackService], Awaitable[None]]
) -> None:
    with service:
        asyncio.run(asyncio.wait_for(scenario(service), 20))


async def started(service: LoopbackService, recorder: Recorder, **more: Any) -> AvatarSession:
    session = new_avatar_session(**official_kwargs(service, **recorder.callbacks(), **more))
    await session.init()
    assert await session.start() == CONNECTION_ID
    return session


def frame_fields(frame: bytes) -> tuple[str, bool]:
    message = Message()
    message.ParseFromString(frame)
    return message.server_response_animation.req_id, message.server_response_animation.end


# --- over the wire ------------------------------------------------------------------------


def test_transport_frames_get_raw_frames_and_is_last_in_order() -> None:
    async def scenario(service: LoopbackService) -> None:
        recorder = Recorder()
        session = await started(service, recorder)
        first = await session.send_audio(b"\0\0" * 160)
        assert await session.send_audio(b"\0\0" * 160, end=True) == first
        await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
        recorder.last_frame.clear()
        second = await session.send_audio(b"\0\0" * 160, end=True)
        await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
        await session.close()

        assert second != first
        assert [last for _, last in recorder.frames] == [False, False, False, True, False, True]
        assert [frame_fields(frame) for frame, _ in recorder.frames] == [
            (first, False),
            (first, False),
            (first, False),
            (first, True),
            (second, False),
            (second, True),
        ]
        assert recorder.errors == []

    run_with(LoopbackService(Behaviour(frames_per_audio=2)), scenario)


def test_on_close_is_called_exactly_once_when_the_user_closes() -> None:
    async def scenario(service: LoopbackService) -> None:
        recorder = Recorder()
        session = await started(service, recorder)
        await session.send_audio(b"\0\0" * 160, end=True)
        await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
        await session.close()
        assert recorder.closes == 1
        await session.close()
        assert recorder.closes == 1
        assert recorder.errors == []

    run_with(LoopbackService(), scenario)


def test_user_close_sends_a_normal_close_frame() -> None:
    service = LoopbackService()

    async def scenario(service: LoopbackService) -> None:
        session = await started(service, Recorder())
        await session.close()
        assert service.wait_until(lambda record: record.client_closes == [1000])

    run_with(service, scenario)


def test_server_error_goes_to_on_error_and_the_session_goes_on() -> None:
    async def scenario(service: LoopbackService) -> None:
        recorder = Recorder()
        session = await started(service, recorder)
        failed = await session.send_audio(b"ERRORS", end=True)
        await asyncio.wait_for(recorder.error_seen.wait(), WAIT)
        [error] = recorder.errors
        assert isinstance(error, AvatarSDKError)
        assert error.code == AvatarSDKErrorCode.serverError  # a relayed error, not a close code
        assert error.native is not None and error.native.code is ErrorCode.UPSTREAM_ERROR
        assert error.req_id == failed
        assert error.phase is Phase.WEBSOCKET_RUNTIME

        after = await session.send_audio(b"\0\0" * 160, end=True)
        await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
        assert frame_fields(recorder.frames[-1][0]) == (after, True)
        assert recorder.closes == 0
        await session.close()
        assert recorder.closes == 1

    run_with(ScriptedService(), scenario)


def test_service_close_reports_the_error_then_on_close_once() -> None:
    async def scenario(service: LoopbackService) -> None:
        recorder = Recorder()
        session = await started(service, recorder)
        await session.send_audio(b"CLOSE!")
        await asyncio.wait_for(recorder.closed.wait(), WAIT)
        [error] = recorder.errors
        assert error.code == ErrorCode.UPSTREAM_ERROR
        assert error.close_code == 4503 and error.retryable
        await session.close()  # the official SDK would call on_close a second time here
        assert recorder.closes == 1
        with pytest.raises(ValueError, match="closed"):
            await session.send_audio(b"\0\0")

    run_with(ScriptedService(), scenario)


def test_a_raising_callback_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames: list[bool] = []
    finished = asyncio.Event()

    def transport_frames(frame: bytes, is_last: bool) -> None:
        frames.append(is_last)
        if len(frames) == 1:
            raise RuntimeError("boom in the application")
        if is_last:
            finished.set()

    async def scenario(service: LoopbackService) -> None:
        kwargs = official_kwargs(service, transport_frames=transport_frames)
        session = new_avatar_session(**kwargs)
        await session.init()
        await session.start()
        await session.send_audio(b"\0\0" * 160, end=True)
        await asyncio.wait_for(finished.wait(), WAIT)
        await session.close()

    with caplog.at_level(logging.ERROR, logger="avatarwire"):
        run_with(LoopbackService(Behaviour(frames_per_audio=3)), scenario)
    assert frames == [False, False, True]
    [record] = [r for r in caplog.records if "transport_frames" in r.getMessage()]
    assert record.exc_info is not None and "boom in the application" in str(record.exc_info[1])


def test_interrupt_returns_the_most_recent_request_also_after_its_end() -> None:
    service = LoopbackService()

    async def scenario(service: LoopbackService) -> None:
        session = await started(service, Recorder())
        with pytest.raises(ValueError, match="interrupt"):
            await session.interrupt()
        req_id = await session.send_audio(b"\0\0" * 160, end=True)
        assert await session.interrupt() == req_id
        assert service.wait_until(lambda record: record.interrupts == [req_id])
        await session.close()

    run_with(service, scenario)


def test_expire_at_is_sent_as_unix_seconds() -> None:
    service = ScriptedService()
    expire_at = datetime.now(timezone.utc) + timedelta(minutes=10, microseconds=700)

    async def scenario(service: LoopbackService) -> None:
        session = new_avatar_session(**official_kwargs(service, expire_at=expire_at))
        await session.init()
        await session.close()

    run_with(service, scenario)
    assert service.expire_ats == [int(expire_at.timestamp())]


def test_console_refusal_raises_session_token_error_and_not_on_error() -> None:
    # A 401 from the console is a bad API key: sessionTokenInvalid, as the official SDK says.
    async def scenario(service: LoopbackService) -> None:
        recorder = Recorder()
        session = new_avatar_session(**official_kwargs(service, **recorder.callbacks()))
        with pytest.raises(SessionTokenError) as caught:
            await session.init()
        assert caught.value.code == ErrorCode.SESSION_TOKEN_INVALID
        assert caught.value.http_status == 401
        assert recorder.errors == []
        await session.close()
        assert recorder.closes == 1

    run_with(ScriptedService(console_status=401), scenario)


def test_a_failed_start_is_raised_once_and_close_still_calls_on_close_once() -> None:
    async def scenario(service: LoopbackService) -> None:
        recorder = Recorder()
        session = new_avatar_session(
            **official_kwargs(service, **recorder.callbacks(), timeouts=Timeouts(upgrade=0.3))
        )
        await session.init()
        with pytest.raises(AvatarError) as caught:
            await session.start()
        assert caught.value.phase is Phase.WEBSOCKET_CONNECT
        assert recorder.errors == [] and recorder.closes == 0
        await session.close()
        assert recorder.closes == 1

    run_with(LoopbackService(Behaviour(accept_upgrade=False)), scenario)


# --- without a service ---------------------------------------------------------------------


def test_unknown_keyword_is_a_type_error_naming_it_and_the_accepted_ones() -> None:
    with pytest.raises(TypeError) as caught:
        new_avatar_session(api_key="k", app_id="a", avatar="v")
    message = str(caught.value)
    assert "'avatar'" in message
    assert "did you mean 'avatar_id'" in message
    for name in ACCEPTED_KEYWORDS:
        assert name in message


def test_client_side_opus_encoding_is_refused_with_a_config_error() -> None:
    session = new_avatar_session(
        api_key="k", app_id="a", avatar_id="v", ogg_opus_encoder=None, on_encoded_audio=None
    )
    assert session.config.avatar_id == "v"
    with pytest.raises(ConfigError, match="ogg_opus_encoder"):
        new_avatar_session(api_key="k", app_id="a", avatar_id="v", ogg_opus_encoder=object())


def test_values_are_checked_when_the_session_is_made() -> None:
    with pytest.raises(ConfigError, match="naive"):
        new_avatar_session(
            api_key="k", app_id="a", avatar_id="v", expire_at=datetime.now() + timedelta(hours=1)
        )
    with pytest.raises(ConfigError, match="sample_rate"):
        new_avatar_session(api_key="k", app_id="a", avatar_id="v", sample_rate=12345)
    with pytest.raises(ConfigError, match="on_close"):
        new_avatar_session(api_key="k", app_id="a", avatar_id="v", on_close="not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="agora"):
        new_avatar_session(
            api_key="k",
            app_id="a",
            avatar_id="v",
            agora_egress=AgoraEgressConfig("c"),
            livekit_egress=LiveKitEgressConfig("wss://lk.example", room_name="r", api_token="t"),
        )


def test_official_names_map_onto_the_config() -> None:
    session = new_avatar_session(
        api_key="k",
        app_id="a",
        avatar_id="v",
        audio_format="ogg_opus",
        sample_rate=24000,
        bitrate=24000,
        use_query_auth=True,
        ingress_endpoint_url="https://ingress.example/v2/driveningress",
        agora_egress=AgoraEgressConfig(channel_name="room", token="agora-SECRET", uid=7),
    )
    assert session.config.agora_egress is not None
    config = session.native_config
    assert config.audio_format is AudioFormat.OGG_OPUS
    assert (config.sample_rate, config.bitrate, config.use_query_auth) == (24000, 24000, True)
    assert config.ingress_endpoint.url.startswith("wss://ingress.example/")
    assert config.console_endpoint.url.startswith("https://api.spatialreal.cloud/")
    assert config.agora is not None and config.agora.uid == 7


def test_calls_out_of_order_are_value_errors() -> None:
    async def scenario() -> None:
        session = new_avatar_session(api_key="k", app_id="a", avatar_id="v")
        with pytest.raises(SessionUsageError, match="init"):
            await session.start()
        with pytest.raises(ValueError, match="start"):
            await session.send_audio(b"\0\0")
        await session.close()
        with pytest.raises(ValueError, match="closed"):
            await session.init()

    asyncio.run(scenario())


def test_egress_config_reprs_hide_secrets() -> None:
    agora = AgoraEgressConfig("channel", token="agora-SECRET-1")
    with pytest.warns(FutureWarning, match="api_token"):
        livekit = LiveKitEgressConfig(
            "wss://lk.example", api_key="lk-KEY-1", api_secret="lk-SECRET-1", room_name="r"
        )
    shown = (
        repr(agora)
        + repr(livekit)
        + repr(new_avatar_session(api_key="key-SECRET-1", app_id="a", avatar_id="v"))
    )
    assert "SECRET" not in shown and "lk-KEY" not in shown
    assert "channel" in shown


def test_official_error_code_names_equal_ours() -> None:
    assert AvatarSDKErrorCode.sessionTokenExpired == ErrorCode.SESSION_TOKEN_EXPIRED
    assert set(AvatarSDKErrorCode) == set(ErrorCode)
    assert all(getattr(AvatarSDKErrorCode, code.value) == code for code in ErrorCode)
    assert issubclass(AvatarSDKError, AvatarError)


# --- against the emulator --------------------------------------------------------------------


def emulator_kwargs(emu: Emulator, **more: Any) -> dict[str, Any]:
    """The official keywords pointing at an emulator."""
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


def test_a_request_against_the_emulator_ends_with_one_last_frame_and_one_close() -> None:
    async def scenario() -> None:
        async with Emulator(realtime=False) as emu:
            recorder = Recorder()
            session = new_avatar_session(**emulator_kwargs(emu, **recorder.callbacks()))
            await session.init()
            assert await session.start() == session.connection_id
            req_id = await session.send_audio(b"\0\0" * 3200, end=True)  # 0.2 s
            await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
            await session.close()
            assert [last for _, last in recorder.frames] == [False] * 4 + [True]
            assert {frame_fields(frame)[0] for frame, _ in recorder.frames} == {req_id}
            assert recorder.errors == [] and recorder.closes == 1

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_agora_egress_config_reaches_the_service() -> None:
    async def scenario() -> None:
        async with Emulator(realtime=False) as emu:
            recorder = Recorder()
            egress = AgoraEgressConfig("channel-1", token="agora-token", uid=42)
            session = new_avatar_session(
                **emulator_kwargs(emu, **recorder.callbacks(), agora_egress=egress)
            )
            await session.init()
            connection_id = await session.start()
            req_id = await session.send_audio(b"\0\0" * 3200, end=True)
            await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
            await session.close()
            report: Any = emu.egress()
            [publisher] = report["agora"]["channel-1"]
            assert (publisher["connection_id"], publisher["uid"]) == (connection_id, 42)
            assert publisher["token_present"] is True
            [published] = publisher["requests"]
            assert (published["req_id"], published["audio_bytes"]) == (req_id, 6400)
            assert recorder.closes == 1

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_an_unknown_avatar_fails_start_as_the_refused_upgrade_it_is() -> None:
    # The upgrade is refused with 404; the official SDK names any refusal but 401/403
    # connectionFailed (the native API says avatarNotFound).
    async def scenario() -> None:
        async with Emulator(realtime=False) as emu:
            recorder = Recorder()
            session = new_avatar_session(
                **emulator_kwargs(emu, **recorder.callbacks(), avatar_id="nobody")
            )
            await session.init()
            with pytest.raises(AvatarSDKError) as caught:
                await session.start()
            assert caught.value.code == AvatarSDKErrorCode.connectionFailed
            assert caught.value.http_status == 404
            assert caught.value.native is not None
            assert caught.value.native.code is ErrorCode.AVATAR_NOT_FOUND
            assert recorder.errors == []
            await session.close()
            assert recorder.closes == 1

    asyncio.run(asyncio.wait_for(scenario(), 20))


# --- the retired SDK's surface ---------------------------------------------------------------

#: Everything ``avatarkit`` 0.1.7 exports.
AVATARKIT_NAMES = (
    "AvatarSession",
    "SessionTokenError",
    "AvatarSDKError",
    "AvatarSDKErrorCode",
    "new_avatar_session",
    "AudioFormat",
    "OggOpusEncoderConfig",
    "SessionConfig",
    "SessionConfigBuilder",
    "LiveKitEgressConfig",
    "AgoraEgressConfig",
    "generate_log_id",
)


def test_every_avatarkit_name_is_importable_from_both_modules() -> None:
    import avatarwire.bindings.compat as bindings_compat
    from avatarwire import compat

    for name in AVATARKIT_NAMES:
        assert getattr(compat, name) is getattr(bindings_compat, name)


def test_the_session_config_builder_builds_what_new_avatar_session_takes() -> None:
    from avatarwire.compat import OggOpusEncoderConfig, SessionConfigBuilder

    config = (
        SessionConfigBuilder()
        .with_avatar_id("v")
        .with_api_key("key-0123")
        .with_app_id("a")
        .with_sample_rate(24000)
        .with_audio_format("pcm_s16le")
        .with_agora_egress(AgoraEgressConfig("room"))
        .with_on_close(print)
        .build()
    )
    assert (config.avatar_id, config.sample_rate, config.on_close) == ("v", 24000, print)
    assert config.audio_format is AudioFormat.PCM_S16LE
    assert AvatarSession(config).config is config
    with pytest.raises(AttributeError, match="with_avatar"):
        SessionConfigBuilder().with_avatar("v")
    encoded = SessionConfigBuilder().with_avatar_id("v").with_api_key("key-0123")
    with pytest.raises(ConfigError, match="ogg_opus_encoder"):
        AvatarSession(encoded.with_app_id("a").with_ogg_opus_encoder().build())
    assert OggOpusEncoderConfig().frame_duration_ms == 20


def test_frames_of_an_interrupted_request_still_in_flight_are_handed_on_as_officially() -> None:
    """The official SDK passes on every frame it reads, also those of a request it
    interrupted; the facade keeps that (the native session drops them)."""

    async def scenario() -> None:
        async with Emulator(realtime=False) as emu:
            recorder = Recorder()
            session = new_avatar_session(**emulator_kwargs(emu, **recorder.callbacks()))
            await session.init()
            await session.start()
            first = await session.send_audio(b"\x10\x27" * 16000 * 4, end=True)
            while not recorder.frames:
                await asyncio.sleep(0.001)
            assert await session.interrupt() == first
            second = await session.send_audio(b"\0\0" * 3200, end=True)
            await asyncio.wait_for(recorder.last_frame.wait(), WAIT)
            while not any(frame_fields(f)[0] == second and last for f, last in recorder.frames):
                await asyncio.sleep(0.001)
            status = session.native.request(first)
            assert status is not None and status.frames_dropped == 0
            handed_on = [f for f, _ in recorder.frames if frame_fields(f)[0] == first]
            assert len(handed_on) == status.frames
            await session.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))
