"""The emulator's ingress upgrade and session handshake: every refusal and the confirm."""

from __future__ import annotations

import json
import re
import time

import pytest
from emulator_client import RawIngress, config_for, configure_bytes, fetch_token, run_async
from wsproto.events import CloseConnection

from avatarwire.bindings.asyncio import connect
from avatarwire.core.config import LiveKitEgress
from avatarwire.core.errors import AvatarError
from avatarwire.core.wire import AgoraEgressConfig, LiveKitEgressConfig, Message
from avatarwire.core.wire import avatarkit_pb2 as pb
from avatarwire.emulator import Emulator

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@run_async
async def test_header_auth_and_query_auth_are_both_accepted() -> None:
    async with Emulator() as emu:
        assert (await RawIngress.open(emu)).status == 101
        assert (await RawIngress.open(emu, query_auth=True)).status == 101


@run_async
async def test_unknown_token_is_400_invalid_session_token() -> None:
    async with Emulator() as emu:
        raw = await RawIngress.open(emu, token="made-up-token")
        assert raw.status == 400
        assert json.loads(raw.body) == {"message": "Invalid session token"}


@run_async
async def test_a_token_opens_only_one_connection() -> None:
    async with Emulator() as emu:
        token = await fetch_token(emu)
        assert (await RawIngress.open(emu, token=token)).status == 101
        second = await RawIngress.open(emu, token=token)
        assert second.status == 400
        assert json.loads(second.body) == {"message": "Invalid session token"}


@run_async
async def test_expired_token_is_401_with_the_expired_body() -> None:
    now = [time.time()]
    async with Emulator(wall_clock=lambda: now[0]) as emu:
        token = await fetch_token(emu, lifetime=60)
        now[0] += 61
        raw = await RawIngress.open(emu, token=token)
        assert raw.status == 401
        assert json.loads(raw.body) == {
            "errors": [{"code": "expired", "detail": "session token expired"}]
        }


@run_async
async def test_token_of_another_app_is_400_app_id_mismatch() -> None:
    async with Emulator(extra_apps={"other-key": "other-app"}) as emu:
        token = await fetch_token(emu, api_key="other-key")
        raw = await RawIngress.open(emu, token=token)
        assert raw.status == 400
        assert "app id mismatch" in raw.body.decode()
        with pytest.raises(AvatarError) as caught:
            async with connect(
                config_for(emu), session_token=await fetch_token(emu, api_key="other-key")
            ):
                pass
        assert caught.value.code == "appIDMismatch"


@run_async
async def test_unknown_app_is_404() -> None:
    async with Emulator() as emu:
        raw = await RawIngress.open(emu, app_id="no-such-app")
        assert raw.status == 404
        with pytest.raises(AvatarError) as caught:
            async with connect(config_for(emu, app_id="no-such-app")):
                pass
        assert caught.value.code == "appIDUnrecognized"


@run_async
async def test_unknown_avatar_is_404_avatar_not_found() -> None:
    async with Emulator() as emu:
        raw = await RawIngress.open(emu, avatar_id="nobody")
        assert raw.status == 404
        assert "Avatar not found" in raw.body.decode()
        with pytest.raises(AvatarError) as caught:
            async with connect(config_for(emu, avatar_id="nobody")):
                pass
        assert caught.value.code == "avatarNotFound"


@run_async
async def test_upgrade_on_another_path_is_404() -> None:
    async with Emulator() as emu:
        raw = await RawIngress.open(emu, path="/v1/driveningress/websocket")
        assert raw.status == 404


@run_async
async def test_confirm_carries_a_uuid_connection_id_and_the_capabilities() -> None:
    async with Emulator() as emu, connect(config_for(emu)) as session:
        assert session.connection_id is not None and UUID.match(session.connection_id)
        assert session.capabilities == {"playback_control", "playback_state"}
    async with Emulator(capabilities=()) as emu, connect(config_for(emu)) as session:
        assert session.capabilities == frozenset()


@pytest.mark.parametrize(
    ("first", "text"),
    [
        (
            Message(type=pb.MESSAGE_CLIENT_AUDIO_INPUT).SerializeToString(),
            "expected clientconfiguresession message",
        ),
        (b"\xff\xff\xff", "failed to unmarshal initial message"),
    ],
)
@run_async
async def test_a_first_message_other_than_configure_gets_an_error_then_close(
    first: bytes, text: str
) -> None:
    async with Emulator() as emu:
        raw = await RawIngress.open(emu)
        raw.send(first)
        error = (await raw.receive_message()).server_error
        assert (error.code, error.message) == (0, text)
        assert isinstance(await raw.receive(), CloseConnection)


async def _refusal(emu: Emulator, configure: bytes) -> tuple[int, str]:
    raw = await RawIngress.open(emu)
    raw.send(configure)
    error = (await raw.receive_message()).server_error
    assert isinstance(await raw.receive(), CloseConnection)
    return error.code, error.message


@pytest.mark.parametrize(("audio_format", "rate"), [(0, 11025), (0, 12000), (1, 44100), (0, 0)])
@run_async
async def test_unsupported_sample_rate_is_refused_with_code_0(audio_format: int, rate: int) -> None:
    async with Emulator() as emu:
        fields = {
            "sample_rate": rate,
            "audio_format": audio_format,
            "bitrate": 32000 * audio_format,
        }
        code, text = await _refusal(emu, configure_bytes(**fields))
        assert (code, text) == (0, f"unsupported sample rate: {rate}")


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        (
            {
                "egress_type": 2,
                "agora_egress": AgoraEgressConfig(channel_name="c"),
                "livekit_egress": LiveKitEgressConfig(url="wss://lk", room_name="r", api_token="t"),
            },
            "at most one",
        ),
        ({"egress_type": 2, "agora_egress": AgoraEgressConfig(channel_name="")}, "channel_name"),
        ({"egress_type": 2}, "agora"),
        (
            {"egress_type": 1, "livekit_egress": LiveKitEgressConfig(room_name="r", api_token="t")},
            "url",
        ),
        (
            {
                "egress_type": 1,
                "livekit_egress": LiveKitEgressConfig(url="wss://lk", room_name="r"),
            },
            "api_token",
        ),
        ({"egress_type": 0, "agora_egress": AgoraEgressConfig(channel_name="c")}, "egress_type"),
    ],
)
@run_async
async def test_bad_egress_configs_are_refused_with_code_3(
    fields: dict[str, object], mentions: str
) -> None:
    async with Emulator() as emu:
        code, text = await _refusal(emu, configure_bytes(sample_rate=16000, **fields))
        assert code == 3
        assert "egress" in text and mentions in text


@run_async
async def test_livekit_token_the_room_refuses_is_code_16_unauthorized() -> None:
    async with Emulator() as emu:
        livekit = LiveKitEgress(
            url="wss://livekit.example", room_name="room", api_token="invalid-token"
        )
        with pytest.raises(AvatarError) as caught:
            async with connect(config_for(emu, livekit=livekit)):
                pass
        assert caught.value.code == "serverError"
        assert caught.value.server_code == "16"
        assert not caught.value.retryable
        assert "unauthorized: invalid token" in str(caught.value)


@run_async
async def test_capabilities_are_declared_per_avatar() -> None:
    options = {"avatar_capabilities": {"old-server": (), "state-only": ("playback_state",)}}
    async with Emulator(**options) as emu:
        declared = {}
        for avatar in (emu.avatar_id, "old-server", "state-only"):
            ingress = await RawIngress.open(emu, avatar_id=avatar)
            assert ingress.status == 101, avatar
            ingress.send(configure_bytes(sample_rate=16000))
            confirm = (await ingress.receive_message()).server_confirm_session
            assert confirm.connection_id
            declared[avatar] = tuple(confirm.capabilities)
            ingress.close()
        assert declared == {
            emu.avatar_id: ("playback_control", "playback_state"),
            "old-server": (),
            "state-only": ("playback_state",),
        }
