"""The same behaviour, asserted once, for the asyncio, trio and blocking bindings:
real loopback sockets against the emulator (handshake, streaming, the utterance
and interrupt rules, egress, every refusal, TLS, and the official SDK's callbacks)."""

from __future__ import annotations

import hashlib
import ssl
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from binding_adapters import BINDINGS, UVLOOP, Api, Session, api_for

from avatarwire.core.config import AgoraEgress, LiveKitEgress, SessionConfig
from avatarwire.core.errors import AvatarError, ErrorCode, Phase, Retry
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    RequestFinished,
    ServerError,
    SessionClosed,
)
from avatarwire.core.wire import FlameAnimation, Message, MessageType, ServerResponseAnimation
from avatarwire.emulator import DEFAULT_CAPABILITIES, EmulatorThread, Fault
from avatarwire.emulator.motion import MotionSynthesizer, loudness_level

SAMPLE_RATE = 16000
KEYFRAMES_PER_SECOND = 25
#: PCM bytes under one keyframe at 16 kHz (640 samples).
KEYFRAME_BYTES = 2 * SAMPLE_RATE // KEYFRAMES_PER_SECOND
ERROR_AVATAR = "avatar-with-server-error"
SERVER_ERROR_TEXT = "driven server returned non-200 status code"


def tone(keyframes: int, *, first_db: int = 3) -> bytes:
    """PCM whose loudness steps down 3 dB per keyframe, so every frame differs."""
    chunks = []
    for index in range(keyframes):
        amplitude = int(32767 * 10 ** (-(first_db + 3 * index) / 20))
        high, low = (
            amplitude.to_bytes(2, "little", signed=True),
            (-amplitude).to_bytes(2, "little", signed=True),
        )
        chunks.append((high + low) * (KEYFRAME_BYTES // 4))
    return b"".join(chunks)


def expected_frames(
    audio: bytes, *, req_id: str, connection_id: str, avatar_id: str
) -> list[bytes]:
    """The animation messages the emulator sends for one request of ``audio``, encoded
    here independently: one keyframe per message, the last one ``end``."""
    motion = MotionSynthesizer(KEYFRAMES_PER_SECOND)
    count = -(-len(audio) // KEYFRAME_BYTES)
    frames = []
    for index in range(count):
        level = loudness_level(audio[index * KEYFRAME_BYTES : (index + 1) * KEYFRAME_BYTES])
        message = Message(
            type=MessageType.MESSAGE_SERVER_RESPONSE_ANIMATION,
            server_response_animation=ServerResponseAnimation(
                connection_id=connection_id,
                req_id=req_id,
                end=index == count - 1,
                animation=FlameAnimation.FromString(motion.keyframe(level, index)),
                avatar_id=avatar_id,
            ),
        )
        frames.append(message.SerializeToString())
    return frames


def config_for(emu: EmulatorThread, **overrides: Any) -> SessionConfig:
    """A client config pointing at the emulator with its credentials."""
    return emu.session_config(**overrides)


def unique(prefix: str, api: Api) -> str:
    """A channel / room name no other test uses."""
    return f"{prefix}-{api.name}-{uuid.uuid4().hex[:8]}"


async def events_until_finished(session: Session, req_id: str) -> list[Event]:
    """Events up to and including ``RequestFinished`` of ``req_id``."""
    events: list[Event] = []
    while True:
        event = await session.next_event()
        events.append(event)
        if isinstance(event, RequestFinished) and event.req_id == req_id:
            return events
        assert not isinstance(event, SessionClosed), f"closed before {req_id} finished: {event}"


def frames_of(events: list[Event], req_id: str) -> list[AnimationFrame]:
    return [e for e in events if isinstance(e, AnimationFrame) and e.req_id == req_id]


def finished_counts(events: list[Event]) -> Counter[tuple[str, bool]]:
    return Counter((e.req_id, e.interrupted) for e in events if isinstance(e, RequestFinished))


@pytest.fixture(params=(*BINDINGS, UVLOOP))
def api(request: pytest.FixtureRequest) -> Api:
    """Each binding; asyncio once more on uvloop, where it is installed."""
    return api_for(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    faults = {ERROR_AVATAR: Fault.server_error(at_message=1, text=SERVER_ERROR_TEXT)}
    with EmulatorThread(realtime=False, faults=faults) as running:
        yield running


@pytest.fixture(scope="module")
def paced_emu() -> Iterator[EmulatorThread]:
    """Frames paced in real time, so a request is still playing when we interrupt it."""
    with EmulatorThread(realtime=True) as running:
        yield running


# --- handshake and streaming ---------------------------------------------------------------------


def test_handshake_gives_a_connection_id_and_the_capabilities(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> list[str | None]:
        ids = []
        for _ in range(2):
            async with api.connect(config_for(emu)) as session:
                assert session.capabilities == frozenset(DEFAULT_CAPABILITIES)
                ids.append(session.connection_id)
        return ids

    ids = api.run(scenario)
    assert all(ids) and ids[0] != ids[1]


def test_frames_arrive_in_order_and_byte_identical_to_what_the_service_sent(
    api: Api, emu: EmulatorThread
) -> None:
    audio = tone(10)

    async def scenario(api: Api) -> None:
        async with api.connect(config_for(emu)) as session:
            req_id = await session.send_audio(audio[:5000])
            assert await session.send_audio(audio[5000:9000]) == req_id
            assert await session.send_audio(audio[9000:], end=True) == req_id
            events = await events_until_finished(session, req_id)
            assert session.connection_id is not None
            expected = expected_frames(
                audio, req_id=req_id, connection_id=session.connection_id, avatar_id=emu.avatar_id
            )
            frames = frames_of(events, req_id)
            assert [frame.data for frame in frames] == expected
            assert [frame.end for frame in frames] == [False] * 9 + [True]
            assert len([e for e in events if isinstance(e, AnimationFrame)]) == len(frames)
            assert events[-1] == RequestFinished(req_id, interrupted=False)
            status = session.request(req_id)
            assert status is not None
            assert status.audio_seconds == pytest.approx(0.4)
            assert (status.frames, status.messages_sent, status.audio_bytes) == (10, 3, len(audio))
            assert status.audio_ended and status.finished and not status.interrupted

    api.run(scenario)


def test_each_request_finishes_exactly_once_and_the_next_audio_opens_a_new_request(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(config_for(emu)) as session:
            first = await session.send_audio(tone(3), end=True)
            events = await events_until_finished(session, first)
            second = await session.send_audio(tone(2)[:1000])
            second_again = await session.send_audio(tone(2)[1000:], end=True)
            events += await events_until_finished(session, second)
            await session.close()
            events += await session.events_until_closed()
        assert first != second == second_again
        assert finished_counts(events) == {(first, False): 1, (second, False): 1}
        assert [len(frames_of(events, first)), len(frames_of(events, second))] == [3, 2]
        closed = events[-1]
        assert isinstance(closed, SessionClosed) and closed.error is None
        assert sum(isinstance(e, SessionClosed) for e in events) == 1

    api.run(scenario)


def test_an_empty_end_message_finishes_a_request_whose_frames_all_went_out(
    api: Api, emu: EmulatorThread
) -> None:
    """A TTS stream often ends with ``send_audio(b"", end=True)`` after its last chunk;
    the request must still finish (the service owes an ``end`` frame)."""

    async def scenario(api: Api) -> None:
        async with api.connect(config_for(emu)) as session:
            req_id = await session.send_audio(tone(2))
            events: list[Event] = []
            while len(frames_of(events, req_id)) < 2:  # every keyframe already went out
                events.append(await session.next_event())
            assert await session.send_audio(b"", end=True) == req_id
            events += await events_until_finished(session, req_id)
            assert finished_counts(events) == {(req_id, False): 1}

    api.run(scenario)


def test_interrupt_mid_request_finishes_it_interrupted_and_the_next_audio_gets_a_new_req_id(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(config_for(emu)) as session:
            first = await session.send_audio(tone(4))
            assert await session.interrupt() == first
            events = await events_until_finished(session, first)
            assert events[-1] == RequestFinished(first, interrupted=True)
            second = await session.send_audio(tone(2), end=True)
            assert second != first
            events += await events_until_finished(session, second)
            await session.close()
            events += await session.events_until_closed()
        assert finished_counts(events) == {(first, True): 1, (second, False): 1}
        assert not any(frame.end for frame in frames_of(events, first))
        assert [frame.end for frame in frames_of(events, second)] == [False, True]

    api.run(scenario)


def test_interrupt_after_end_targets_the_finished_request(
    api: Api, paced_emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(config_for(paced_emu)) as session:
            first = await session.send_audio(tone(25), end=True)  # one second of playout
            await session.next_event()  # the request is playing
            assert await session.interrupt() == first
            events = await events_until_finished(session, first)
            second = await session.send_audio(tone(1), end=True)
            events += await events_until_finished(session, second)
        assert second != first
        assert finished_counts(events) == {(first, True): 1, (second, False): 1}
        assert len(frames_of(events, first)) < 25

    api.run(scenario)


# --- egress --------------------------------------------------------------------------------------


def test_agora_egress_sends_no_motion_on_the_socket_and_finishes_once_when_drained(
    api: Api, emu: EmulatorThread
) -> None:
    channel = unique("agora", api)
    agora = AgoraEgress(
        channel_name=channel, token="agora-rtc-token", uid=4242, publisher_id="pub-7"
    )
    first_audio, second_audio = tone(10), tone(4, first_db=9)

    async def scenario(api: Api) -> str | None:
        async with api.connect(config_for(emu, agora=agora)) as session:
            first = await session.send_audio(first_audio[:6400])
            await session.send_audio(first_audio[6400:], end=True)
            events = await events_until_finished(session, first)
            second = await session.send_audio(second_audio, end=True)
            events += await events_until_finished(session, second)
            connection_id = session.connection_id
            await session.close()
            events += await session.events_until_closed()
        assert finished_counts(events) == {(first, False): 1, (second, False): 1}
        for frame in (e for e in events if isinstance(e, AnimationFrame)):
            body = Message.FromString(frame.data).server_response_animation
            assert not body.HasField("animation"), "motion went to Agora, not the socket"
        # the service repeated the drained end: the dedupe was exercised
        assert sum(frame.end for frame in frames_of(events, first)) >= 2
        return connection_id

    connection_id = api.run(scenario)
    [publisher] = emu.egress()["agora"][channel]
    assert publisher["connection_id"] == connection_id
    assert (publisher["uid"], publisher["publisher_id"], publisher["token_present"]) == (
        4242,
        "pub-7",
        True,
    )
    published = {record["req_id"]: record for record in publisher["requests"]}
    assert [r["audio_sha256"] for r in published.values()] == [
        hashlib.sha256(first_audio).hexdigest(),
        hashlib.sha256(second_audio).hexdigest(),
    ]
    assert [r["audio_seconds"] for r in published.values()] == pytest.approx([0.4, 0.16])
    assert all(r["completed"] and not r["interrupted"] for r in published.values())


def test_livekit_egress_publishes_into_the_room(api: Api, emu: EmulatorThread) -> None:
    room = unique("room", api)
    livekit = LiveKitEgress(
        url="wss://livekit.invalid", room_name=room, api_token="lk-token", publisher_id="agent-1"
    )
    audio = tone(5)

    async def scenario(api: Api) -> str:
        async with api.connect(config_for(emu, livekit=livekit)) as session:
            req_id = await session.send_audio(audio, end=True)
            events = await events_until_finished(session, req_id)
        assert finished_counts(events) == {(req_id, False): 1}
        return req_id

    req_id = api.run(scenario)
    [publisher] = emu.egress()["livekit"][room]
    assert (publisher["publisher_id"], publisher["uid"], publisher["token_present"]) == (
        "agent-1",
        None,
        True,
    )
    [record] = publisher["requests"]
    assert record["req_id"] == req_id
    assert record["audio_sha256"] == hashlib.sha256(audio).hexdigest()
    assert record["completed"]


# --- refusals ------------------------------------------------------------------------------------


def connect_error(api: Api, config: SessionConfig, **options: Any) -> AvatarError:
    """The error that opening a session raises."""

    async def scenario(api: Api) -> None:
        async with api.connect(config, **options):
            pass

    with pytest.raises(AvatarError) as caught:
        api.run(scenario)
    return caught.value


def test_a_wrong_api_key_is_refused_by_the_console_and_is_not_retryable(
    api: Api, emu: EmulatorThread
) -> None:
    error = connect_error(api, config_for(emu, api_key="not-the-key"))
    assert error.phase is Phase.SESSION_TOKEN
    assert error.http_status == 401
    assert error.code in (ErrorCode.SESSION_TOKEN_INVALID, ErrorCode.SESSION_TOKEN_EXPIRED)
    assert not error.retryable
    assert "not-the-key" not in str(error) + repr(error)


def test_an_unknown_avatar_is_refused_at_the_upgrade(api: Api, emu: EmulatorThread) -> None:
    error = connect_error(api, config_for(emu, avatar_id="no-such-avatar"))
    assert (error.code, error.phase, error.http_status) == (
        ErrorCode.AVATAR_NOT_FOUND,
        Phase.WEBSOCKET_CONNECT,
        404,
    )
    assert not error.retryable


def test_an_unknown_app_is_refused_at_the_upgrade(api: Api, emu: EmulatorThread) -> None:
    error = connect_error(api, config_for(emu, app_id="no-such-app"))
    assert (error.code, error.phase, error.http_status) == (
        ErrorCode.APP_ID_UNRECOGNIZED,
        Phase.WEBSOCKET_CONNECT,
        404,
    )


def test_a_session_token_opens_one_connection_only(api: Api, emu: EmulatorThread) -> None:
    config = config_for(emu)

    async def scenario(api: Api) -> str:
        token = await api.fetch_token(config)
        async with api.connect(config, session_token=token) as session:
            assert session.connection_id
        return token

    token = api.run(scenario)
    error = connect_error(api, config, session_token=token)
    assert (error.code, error.phase, error.http_status) == (
        ErrorCode.SESSION_TOKEN_INVALID,
        Phase.WEBSOCKET_CONNECT,
        400,
    )
    assert error.retry is Retry.NEW_TOKEN
    assert token not in str(error) + repr(error)


def test_an_invalid_session_token_is_refused_at_the_upgrade(api: Api, emu: EmulatorThread) -> None:
    error = connect_error(api, config_for(emu), session_token="made-up-token")
    assert (error.code, error.phase) == (ErrorCode.SESSION_TOKEN_INVALID, Phase.WEBSOCKET_CONNECT)
    assert "made-up-token" not in str(error) + repr(error)


def test_a_refused_livekit_token_fails_the_handshake_as_a_server_error_not_worth_retrying(
    api: Api, emu: EmulatorThread
) -> None:
    livekit = LiveKitEgress(url="wss://livekit.invalid", room_name="r", api_token="invalid")
    error = connect_error(api, config_for(emu, livekit=livekit))
    assert (error.code, error.phase, error.server_code) == (
        ErrorCode.SERVER_ERROR,  # a relayed gRPC code (16), outside the close-code contract
        Phase.WEBSOCKET_HANDSHAKE,
        "16",
    )
    assert not error.retryable


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_emu(certificate_authority: trustme.CA) -> Iterator[EmulatorThread]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with EmulatorThread(realtime=False, ssl_context=context) as running:
        yield running


@pytest.fixture
def trusting_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


def test_tls_with_a_trusted_certificate_carries_a_whole_session(
    api: Api, tls_emu: EmulatorThread, trusting_context: ssl.SSLContext
) -> None:
    config = config_for(tls_emu)
    assert config.ingress_endpoint.secure and config.console_endpoint.secure
    audio = tone(6)

    async def scenario(api: Api) -> None:
        async with api.connect(config, ssl_context=trusting_context) as session:
            req_id = await session.send_audio(audio, end=True)
            events = await events_until_finished(session, req_id)
            assert session.connection_id is not None
            assert [f.data for f in frames_of(events, req_id)] == expected_frames(
                audio,
                req_id=req_id,
                connection_id=session.connection_id,
                avatar_id=tls_emu.avatar_id,
            )
            await session.close()
            closed = (await session.events_until_closed())[-1]
            assert isinstance(closed, SessionClosed) and closed.error is None

    api.run(scenario)


def test_an_untrusted_certificate_fails_the_console_tls_step(
    api: Api, tls_emu: EmulatorThread
) -> None:
    error = connect_error(api, config_for(tls_emu))
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.SESSION_TOKEN)
    assert "TLS" in error.message


def test_an_untrusted_certificate_fails_the_ingress_tls_step(
    api: Api, tls_emu: EmulatorThread, trusting_context: ssl.SSLContext
) -> None:
    config = config_for(tls_emu)

    async def fetch(api: Api) -> str:
        return await api.fetch_token(config, ssl_context=trusting_context)

    token = api.run(fetch)
    error = connect_error(api, config, session_token=token)
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.WEBSOCKET_CONNECT)
    assert "TLS" in error.message


# --- the official SDK's callbacks ----------------------------------------------------------------


def test_callbacks_get_frames_in_order_one_close_and_runtime_server_errors(
    api: Api, emu: EmulatorThread
) -> None:
    frames: list[tuple[bytes, bool]] = []
    errors: list[AvatarError] = []
    closes: list[int] = []
    audio = tone(5)

    async def scenario(api: Api) -> tuple[str, str | None]:
        async with api.connect(
            config_for(emu, avatar_id=ERROR_AVATAR),
            transport_frames=lambda data, last: frames.append((data, last)),
            on_error=errors.append,
            on_close=lambda: closes.append(1),
        ) as session:
            req_id = await session.send_audio(audio, end=True)
            status = session.request(req_id)
            assert status is not None
            await session.wait_until(lambda: status.finished)
            assert closes == []
            connection_id = session.connection_id
        return req_id, connection_id

    req_id, connection_id = api.run(scenario)
    assert connection_id is not None
    expected = expected_frames(
        audio, req_id=req_id, connection_id=connection_id, avatar_id=ERROR_AVATAR
    )
    assert frames == [(data, index == len(expected) - 1) for index, data in enumerate(expected)]
    assert closes == [1]
    [error] = errors
    assert (error.code, error.phase) == (ErrorCode.UPSTREAM_ERROR, Phase.WEBSOCKET_RUNTIME)
    assert error.server_detail == SERVER_ERROR_TEXT


def test_a_runtime_server_error_is_an_event_and_the_session_goes_on(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(config_for(emu, avatar_id=ERROR_AVATAR)) as session:
            req_id = await session.send_audio(tone(2), end=True)
            events = await events_until_finished(session, req_id)
            [reported] = [e for e in events if isinstance(e, ServerError)]
            assert reported.error.code is ErrorCode.UPSTREAM_ERROR
            assert reported.error.connection_id == session.connection_id
            assert finished_counts(events) == {(req_id, False): 1}

    api.run(scenario)
