"""The client session core against a scripted service peer, in memory."""

from __future__ import annotations

import json

import pytest
from scripted_peer import ScriptedPeer, animation, confirm, pump, server_error

from avatarwire.core.config import AgoraEgress, AudioFormat, SessionConfig
from avatarwire.core.errors import (
    AvatarError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
)
from avatarwire.core.events import (
    AnimationFrame,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.core.wire import Message

TOKEN = "tok-SECRET-4242"


def make_config(**overrides: object) -> SessionConfig:
    fields: dict[str, object] = {
        "api_key": "key-SECRET-1",
        "app_id": "app-1",
        "avatar_id": "avatar-1",
        "ingress_url": "ws://127.0.0.1:9000/v2/driveningress",
        "console_url": "http://127.0.0.1:9000/v1/console",
    }
    fields.update(overrides)
    return SessionConfig(**fields)  # type: ignore[arg-type]


def connect(
    config: SessionConfig | None = None, capabilities: tuple[str, ...] = ()
) -> tuple[ClientSession, ScriptedPeer]:
    client = ClientSession(config or make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(confirm(capabilities=capabilities))
    pump(client, peer)
    assert client.state is SessionState.READY
    return client, peer


def test_upgrade_uses_header_auth_and_offers_no_extensions() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    assert peer.upgrade is not None
    headers = {k.lower(): v for k, v in peer.upgrade.extra_headers}
    assert headers[b"x-app-id"] == b"app-1"
    assert headers[b"x-session-key"] == TOKEN.encode()
    assert b"sec-websocket-extensions" not in headers
    assert peer.upgrade.extensions == []
    assert peer.upgrade.subprotocols == []
    assert peer.upgrade.target == "/v2/driveningress/websocket?id=avatar-1"


def test_query_auth_puts_credentials_in_the_target_not_the_headers() -> None:
    client = ClientSession(
        make_config(use_query_auth=True), TOKEN, request_ids=sequential_request_ids()
    )
    peer = ScriptedPeer()
    pump(client, peer)
    assert peer.upgrade is not None
    assert "appId=app-1" in peer.upgrade.target
    assert f"sessionKey={TOKEN}" in peer.upgrade.target
    names = {k.lower() for k, _ in peer.upgrade.extra_headers}
    assert b"x-session-key" not in names


def test_default_configure_message_carries_only_the_sample_rate() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    assert client.state is SessionState.CONFIGURING
    assert peer.raw_messages == [b"\x08\x01\x12\x03\x08\x80\x7d"]


def test_agora_configure_sets_egress_type_and_fields() -> None:
    agora = AgoraEgress(channel_name="room 1", token="agora-SECRET", uid=77, publisher_id="p")
    _client, peer = connect(make_config(agora=agora))
    configure = peer.messages[0].client_configure_session
    assert configure.egress_type == 2
    assert configure.agora_egress.channel_name == "room 1"
    assert configure.agora_egress.uid == 77
    assert configure.agora_egress.token == "agora-SECRET"
    assert not configure.HasField("livekit_egress")


def test_confirm_makes_the_session_ready_with_capabilities() -> None:
    client, _ = connect(capabilities=("playback_control", "playback_state"))
    events = client.events()
    assert events == [SessionReady("conn-1", frozenset({"playback_control", "playback_state"}))]
    assert client.connection_id == "conn-1"


def test_confirm_with_empty_connection_id_is_a_protocol_error() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(confirm(connection_id=""))
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert isinstance(closed.error, RemoteProtocolError)
    assert client.state is SessionState.ERROR and client.error is closed.error


def test_server_error_in_the_handshake_refuses_the_session() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(server_error(0, "unsupported sample rate: 11025"))
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert closed.error is not None
    assert closed.error.code is ErrorCode.UNSUPPORTED_SAMPLE_RATE
    assert closed.error.phase is Phase.WEBSOCKET_HANDSHAKE


def test_an_animation_frame_during_the_handshake_is_a_protocol_error() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(animation("x"))
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert isinstance(closed.error, RemoteProtocolError)
    assert peer.closes and peer.closes[0].code == 1002


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, b'{"message":"Invalid session token"}', ErrorCode.SESSION_TOKEN_INVALID),
        (404, b'{"message":"Avatar not found"}', ErrorCode.AVATAR_NOT_FOUND),
        (404, b"", ErrorCode.CONNECTION_FAILED),
        (402, b'{"message":"session denied: credits exhausted"}', ErrorCode.CREDITS_EXHAUSTED),
        (
            401,
            b'{"errors":[{"code":"expired","detail":"session token expired"}]}',
            ErrorCode.SESSION_TOKEN_EXPIRED,
        ),
        (503, b"upstream down", ErrorCode.CONNECTION_FAILED),
        (403, b"", ErrorCode.SESSION_TOKEN_INVALID),
    ],
)
def test_upgrade_rejection_is_classified(status: int, body: bytes, code: ErrorCode) -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.reject(status, body)
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert closed.error is not None
    assert closed.error.code is code
    assert closed.error.http_status == status
    assert closed.error.phase is Phase.WEBSOCKET_CONNECT
    assert closed.error.raw_body == body


def test_audio_shares_a_request_until_end_then_a_new_one_starts() -> None:
    client, peer = connect()
    first = client.send_audio(b"\x01\x00" * 10)
    same = client.send_audio(b"\x02\x00" * 10, end=True)
    second = client.send_audio(b"\x03\x00" * 10)
    pump(client, peer)
    assert first == same == "req-1"
    assert second == "req-2"
    inputs = [m.client_audio_input for m in peer.messages if m.type == 3]
    assert [(i.req_id, i.end, len(i.audio)) for i in inputs] == [
        ("req-1", False, 20),
        ("req-1", True, 20),
        ("req-2", False, 20),
    ]


def test_large_audio_is_split_into_sample_aligned_messages_of_one_request() -> None:
    client = ClientSession(
        make_config(), TOKEN, request_ids=sequential_request_ids(), max_audio_chunk=1001
    )
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    peer.send(confirm())
    pump(client, peer)
    audio = bytes(range(256)) * 20
    req_id = client.send_audio(audio, end=True)
    pump(client, peer)
    inputs = [m.client_audio_input for m in peer.messages if m.type == 3]
    assert all(len(i.audio) <= 1000 and len(i.audio) % 2 == 0 for i in inputs)
    assert b"".join(i.audio for i in inputs) == audio
    assert {i.req_id for i in inputs} == {req_id}
    assert [i.end for i in inputs] == [False] * (len(inputs) - 1) + [True]


def test_empty_audio_with_end_closes_the_request() -> None:
    client, peer = connect()
    req_id = client.send_audio(b"\x00\x00")
    assert client.send_audio(b"", end=True) == req_id
    pump(client, peer)
    last = [m for m in peer.messages if m.type == 3][-1].client_audio_input
    assert last.end and last.audio == b""


def test_frames_are_handed_on_byte_identical_and_finish_once() -> None:
    client, peer = connect()
    client.events()
    req_id = client.send_audio(b"\x00\x00" * 100, end=True)
    frame = animation(req_id)
    frame.server_response_animation.animation.keyframes.add().jaw_pose.extend([0.5, 0.25])
    raw = frame.SerializeToString() + b"\xa2\x06\x03abc"  # an unknown field survives
    peer.send_raw(raw)
    peer.send(animation(req_id, end=True))
    peer.send(animation(req_id, end=True))  # repeated end: deduped
    pump(client, peer)
    events = client.events()
    frames = [e for e in events if isinstance(e, AnimationFrame)]
    assert frames[0].data == raw
    assert [f.end for f in frames] == [False, True, True]
    assert [e for e in events if isinstance(e, RequestFinished)] == [RequestFinished(req_id, False)]
    status = client.request(req_id)
    assert status is not None
    assert status.frames == 3 and status.finished and not status.interrupted
    assert status.audio_seconds == pytest.approx(200 / 32000)


def test_end_with_empty_req_id_finishes_the_oldest_unfinished_request() -> None:
    client, peer = connect(make_config(agora=AgoraEgress(channel_name="c")))
    client.events()
    first = client.send_audio(b"\x00\x00", end=True)
    second = client.send_audio(b"\x00\x00", end=True)
    peer.send(animation("", end=True))
    pump(client, peer)
    finished = [e for e in client.events() if isinstance(e, RequestFinished)]
    assert finished == [RequestFinished(first, False)]
    peer.send(animation("", end=True))
    pump(client, peer)
    finished = [e for e in client.events() if isinstance(e, RequestFinished)]
    assert finished == [RequestFinished(second, False)]


def test_interrupt_after_end_targets_the_finished_audio_request() -> None:
    client, peer = connect()
    client.events()
    req_id = client.send_audio(b"\x00\x00" * 8, end=True)
    assert client.interrupt() == req_id
    pump(client, peer)
    interrupt = peer.messages[-1]
    assert interrupt.type == 7
    assert interrupt.WhichOneof("data") == "client_interrupt"
    assert interrupt.client_interrupt.req_id == req_id
    assert client.events() == [RequestFinished(req_id, True)]
    peer.send(animation(req_id, end=True))
    pump(client, peer)
    assert not [e for e in client.events() if isinstance(e, RequestFinished)]


def test_audio_after_interrupt_starts_a_new_request() -> None:
    client, _ = connect()
    first = client.send_audio(b"\x00\x00")
    client.interrupt()
    assert client.send_audio(b"\x00\x00") != first


def test_interrupt_with_no_request_is_a_local_error() -> None:
    client, _ = connect()
    with pytest.raises(LocalProtocolError, match="nothing to interrupt"):
        client.interrupt()


def test_audio_before_ready_is_a_local_error() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    with pytest.raises(LocalProtocolError, match="CONNECTING"):
        client.send_audio(b"\x00\x00")


@pytest.mark.parametrize(
    ("audio", "match"),
    [("text", "bytes"), (b"", "sends nothing"), (None, "bytes")],
)
def test_bad_audio_is_refused_before_anything_is_queued(audio: object, match: str) -> None:
    client, _ = connect()
    client.data_to_send()
    with pytest.raises(LocalProtocolError, match=match):
        client.send_audio(audio)  # type: ignore[arg-type]
    assert client.data_to_send() == b""


def test_odd_length_is_fine_for_ogg_opus() -> None:
    client, _ = connect(make_config(audio_format=AudioFormat.OGG_OPUS, sample_rate=48000))
    assert client.send_audio(b"\x4f")


def test_traceparent_goes_on_the_first_chunk_only() -> None:
    client, peer = connect()
    parent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    client.send_audio(b"\x00\x00", traceparent=parent)
    with pytest.raises(LocalProtocolError, match="first chunk"):
        client.send_audio(b"\x00\x00", traceparent=parent)
    client.send_audio(b"\x00\x00", end=True)
    pump(client, peer)
    inputs = [m.client_audio_input for m in peer.messages if m.type == 3]
    assert inputs[0].trace_context.traceparent == parent
    assert not inputs[1].HasField("trace_context")


def test_pause_needs_the_playback_control_capability() -> None:
    client, _ = connect()
    client.send_audio(b"\x00\x00")
    with pytest.raises(LocalProtocolError, match="playback_control"):
        client.pause()


def test_pause_and_resume_target_the_latest_request() -> None:
    client, peer = connect(capabilities=("playback_control",))
    req_id = client.send_audio(b"\x00\x00")
    assert client.pause() == req_id
    assert client.resume() == req_id
    pump(client, peer)
    assert [m.type for m in peer.messages[-2:]] == [8, 9]
    assert peer.messages[-2].client_pause.req_id == req_id


def test_playback_state_is_reported() -> None:
    client, peer = connect(capabilities=("playback_state",))
    client.events()
    message = Message(type=10)  # type: ignore[arg-type]
    message.server_playback_state.req_id = "r"
    message.server_playback_state.state = 2  # type: ignore[assignment]
    message.server_playback_state.played_ms = 1234
    message.server_playback_state.reason = "explicit"
    peer.send(message)
    pump(client, peer)
    assert client.events() == [
        PlaybackState("r", PlaybackStateKind.PAUSED, 1234, "explicit", connection_id="conn-1")
    ]


def test_runtime_server_error_does_not_end_the_session() -> None:
    client, peer = connect()
    client.events()
    peer.send(server_error(3, "bad livekit url", req_id="r"))
    pump(client, peer)
    (event,) = client.events()
    assert isinstance(event, ServerError)
    assert event.error.code is ErrorCode.SERVER_ERROR  # a relayed gRPC code
    assert event.error.server_code == "3"
    assert event.error.req_id == "r"
    assert client.state is SessionState.READY


def test_unknown_message_types_are_skipped_after_the_handshake() -> None:
    client, peer = connect()
    client.events()
    peer.send(Message(type=42))  # type: ignore[arg-type]
    peer.send(Message(type=6))  # type: ignore[arg-type]
    pump(client, peer)
    assert client.events() == []
    assert client.state is SessionState.READY


def test_a_text_message_is_a_protocol_error() -> None:
    client, peer = connect()
    client.events()
    peer.send_text("hello")
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert isinstance(closed.error, RemoteProtocolError)
    assert peer.closes[0].code == 1003


def test_undecodable_message_is_a_protocol_error() -> None:
    client, peer = connect()
    client.events()
    peer.send_raw(b"\xff\xff\xff")
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert isinstance(closed.error, RemoteProtocolError)


def test_oversized_message_is_refused_without_buffering_it() -> None:
    client = ClientSession(
        make_config(), TOKEN, request_ids=sequential_request_ids(), max_message_size=1000
    )
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    peer.send(confirm())
    pump(client, peer)
    client.events()
    peer.send_raw(b"\x00" * 5000)
    pump(client, peer)
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert "over 1000 bytes" in str(closed.error)
    assert peer.closes[0].code == 1009


def test_ping_is_answered_by_the_core() -> None:
    client, peer = connect()
    peer.ping(b"hi")
    pump(client, peer)
    assert peer.pongs == [b"hi"]


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        (4001, ErrorCode.CREDITS_EXHAUSTED),
        (4002, ErrorCode.SESSION_DURATION_EXCEEDED),
        (4003, ErrorCode.CONCURRENCY_LIMIT),
        (4010, ErrorCode.SESSION_TOKEN_INVALID),
        (4503, ErrorCode.UPSTREAM_ERROR),
        (1011, ErrorCode.CONNECTION_CLOSED),
    ],
)
def test_service_close_codes_are_classified(code: int, error_code: ErrorCode) -> None:
    client, peer = connect()
    client.events()
    req_id = client.send_audio(b"\x00\x00")
    peer.close(code, "bye")
    pump(client, peer)
    events = client.events()
    assert events[0] == RequestFinished(req_id, True)
    closed = events[-1]
    assert isinstance(closed, SessionClosed)
    assert closed.code == code
    assert closed.error is not None and closed.error.code is error_code
    assert closed.error.close_code == code
    assert peer.closes  # the core answered the close


def test_normal_peer_close_has_no_error() -> None:
    client, peer = connect()
    client.events()
    peer.close(1000)
    pump(client, peer)
    assert client.events() == [SessionClosed(1000, "", None)]


def test_eof_mid_session_is_connection_closed() -> None:
    client, _ = connect()
    client.events()
    client.receive_data(b"")
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed)
    assert closed.error is not None and closed.error.code is ErrorCode.CONNECTION_CLOSED
    with pytest.raises(AvatarError) as caught:  # the session's own error, not a usage error
        client.send_audio(b"\x00\x00")
    assert not isinstance(caught.value, LocalProtocolError)
    assert caught.value.code is ErrorCode.CONNECTION_CLOSED and caught.value.retryable


def test_local_close_waits_for_the_reply_and_reports_once() -> None:
    client, peer = connect()
    client.events()
    client.close()
    assert client.state is SessionState.CLOSING
    client.close()  # a no-op while closing
    pump(client, peer)
    assert client.state is SessionState.CLOSED
    assert client.events() == [SessionClosed(1000, "", None)]
    client.receive_data(b"")
    assert client.events() == []


def test_close_before_the_upgrade_ends_the_session_at_once() -> None:
    client = ClientSession(make_config(), TOKEN, request_ids=sequential_request_ids())
    client.close()
    assert client.events() == [SessionClosed(None, "", None)]


@pytest.mark.parametrize(("code", "reason"), [(999, ""), (1000, "x" * 200), (1005, "")])
def test_bad_close_arguments_are_refused(code: int, reason: str) -> None:
    client, _ = connect()
    with pytest.raises(LocalProtocolError):
        client.close(code, reason)


def test_token_with_control_characters_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="control"):
        ClientSession(make_config(), "tok\r\nX-Evil: 1", request_ids=sequential_request_ids())


def test_secrets_do_not_appear_in_reprs_or_errors() -> None:
    client, peer = connect()
    peer.close(4010, "auth")
    pump(client, peer)
    texts = [repr(client), repr(client.config)]
    for event in client.events():
        texts.append(repr(event))
        if isinstance(event, SessionClosed) and event.error:
            texts.append(str(event.error))
    joined = json.dumps(texts)
    assert TOKEN not in joined and "key-SECRET-1" not in joined


# --- PCM split anywhere ---------------------------------------------------------------------


def _audio_messages(peer: ScriptedPeer) -> list[tuple[str, bytes, bool]]:
    return [
        (m.client_audio_input.req_id, m.client_audio_input.audio, m.client_audio_input.end)
        for m in peer.messages
        if m.HasField("client_audio_input")
    ]


def test_a_one_byte_chunk_waits_for_its_other_half_in_the_same_request() -> None:
    client, peer = connect()
    first = client.send_audio(b"\x03")
    assert client.data_to_send() == b""  # half a sample: nothing to send yet
    second = client.send_audio(b"\x04\x05\x06", end=True)
    pump(client, peer)
    assert first == second
    assert _audio_messages(peer) == [(first, b"\x03\x04\x05\x06", True)]


def test_an_odd_tail_is_carried_and_the_end_may_bring_the_last_byte() -> None:
    client, peer = connect()
    req_id = client.send_audio(b"\x01\x02\x03")
    client.send_audio(b"\x04", end=True)
    pump(client, peer)
    assert _audio_messages(peer) == [(req_id, b"\x01\x02", False), (req_id, b"\x03\x04", True)]
    assert client.request(req_id) is not None
    assert client.request(req_id).audio_bytes == 4  # type: ignore[union-attr]


def test_ending_on_half_a_sample_is_refused_and_the_carried_byte_kept() -> None:
    client, peer = connect()
    req_id = client.send_audio(b"\x01\x02\x03")
    with pytest.raises(LocalProtocolError, match=r"3 bytes to send \(odd, 1 carried"):
        client.send_audio(b"\x04\x05", end=True)
    assert client.send_audio(b"\x04", end=True) == req_id
    pump(client, peer)
    assert b"".join(audio for _, audio, _ in _audio_messages(peer)) == b"\x01\x02\x03\x04"


def test_interrupt_drops_a_carried_byte() -> None:
    client, peer = connect()
    first = client.send_audio(b"\x01\x02\x03")
    assert client.interrupt() == first
    second = client.send_audio(b"\x04\x05", end=True)
    pump(client, peer)
    assert second != first
    assert _audio_messages(peer) == [(first, b"\x01\x02", False), (second, b"\x04\x05", True)]


def test_a_traceparent_given_with_half_a_sample_goes_on_the_first_message() -> None:
    client, peer = connect()
    parent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    client.send_audio(b"\x01", traceparent=parent)
    with pytest.raises(LocalProtocolError, match="first chunk"):
        client.send_audio(b"\x02", traceparent=parent)
    client.send_audio(b"\x02", end=True)
    pump(client, peer)
    [message] = [m for m in peer.messages if m.HasField("client_audio_input")]
    assert message.client_audio_input.trace_context.traceparent == parent
    assert message.client_audio_input.audio == b"\x01\x02"
