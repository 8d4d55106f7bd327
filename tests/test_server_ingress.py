"""The service role's ingress side: configure, session messages, closes and
violations, driven by a real wsproto client in memory."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol

from avatarwire.core.errors import LocalProtocolError
from avatarwire.core.server import (
    AudioReceived,
    ClientClosed,
    ClientProtocolViolation,
    ConfigureReceived,
    ConnectionLost,
    InterruptReceived,
    PauseReceived,
    ResumeReceived,
    ServerConnection,
    ServerState,
    UnexpectedMessageReceived,
    UpgradeRequested,
    encode_animation,
)
from avatarwire.core.wire import (
    AgoraEgressConfig,
    ClientAudioInput,
    ClientConfigureSession,
    ClientInterrupt,
    ClientPause,
    ClientResume,
    Flame,
    FlameAnimation,
    Message,
    ServerResponseAnimation,
    TraceContext,
)

CONFIGURE = Message(
    type=1, client_configure_session=ClientConfigureSession(sample_rate=16000)
).SerializeToString()


def open_socket(**limits: int) -> tuple[ServerConnection, WSConnection]:
    """A server that accepted an upgrade from a wsproto client, awaiting configure."""
    server = ServerConnection(**limits)
    client = WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="localhost", target="/v2/x/websocket?id=a")))
    assert isinstance(server.next_event(), UpgradeRequested)
    server.accept_upgrade()
    client.receive_data(server.data_to_send())
    assert isinstance(next(client.events()), AcceptConnection)
    return server, client


def open_session() -> tuple[ServerConnection, WSConnection]:
    """A server with a confirmed session."""
    server, client = open_socket()
    server.receive_data(client.send(BytesMessage(data=CONFIGURE)))
    assert isinstance(server.next_event(), ConfigureReceived)
    server.confirm_session("conn-1")
    client.receive_data(server.data_to_send())
    list(client.events())
    return server, client


def client_messages(client: WSConnection, server: ServerConnection) -> list[object]:
    client.receive_data(server.data_to_send())
    return list(client.events())


def test_configure_is_reported_with_egress_and_confirm_reaches_the_client() -> None:
    server, client = open_socket()
    configure = ClientConfigureSession(
        sample_rate=24000,
        bitrate=32000,
        audio_format=1,
        egress_type=2,
        agora_egress=AgoraEgressConfig(channel_name="room", token="agora-secret", uid=42),
        extra_params={"k": "v"},
    )
    raw = Message(type=1, client_configure_session=configure).SerializeToString()
    server.receive_data(client.send(BytesMessage(data=raw)))
    event = server.next_event()
    assert isinstance(event, ConfigureReceived)
    assert (event.sample_rate, event.bitrate, event.audio_format) == (24000, 32000, 1)
    assert (event.egress_type, event.livekit, event.extra_params) == (2, None, {"k": "v"})
    assert event.agora is not None
    assert (event.agora.channel_name, event.agora.uid) == ("room", 42)
    assert event.raw == raw
    assert "agora-secret" not in repr(event)
    assert server.state is ServerState.CONFIGURING

    server.confirm_session("conn-9", ["playback_control", "playback_state"])
    [reply] = client_messages(client, server)
    assert isinstance(reply, BytesMessage)
    confirm = Message.FromString(reply.data)
    assert confirm.type == 2
    assert confirm.server_confirm_session.connection_id == "conn-9"
    assert list(confirm.server_confirm_session.capabilities) == [
        "playback_control",
        "playback_state",
    ]
    assert server.state is ServerState.OPEN


def test_session_messages_are_decoded_with_exact_fields() -> None:
    server, client = open_session()
    sent = [
        Message(
            type=3,
            client_audio_input=ClientAudioInput(
                req_id="r1",
                audio=b"\x01\x00" * 5,
                trace_context=TraceContext(traceparent="00-abc-01", tracestate="s=1"),
            ),
        ),
        Message(type=3, client_audio_input=ClientAudioInput(req_id="r1", end=True)),
        Message(type=7, client_interrupt=ClientInterrupt(req_id="r1")),
        Message(type=8, client_pause=ClientPause(req_id="r2")),
        Message(type=9, client_resume=ClientResume(req_id="r2")),
    ]
    for message in sent:
        server.receive_data(client.send(BytesMessage(data=message.SerializeToString())))
    assert server.events() == [
        AudioReceived("r1", b"\x01\x00" * 5, False, "00-abc-01", "s=1"),
        AudioReceived("r1", b"", True),
        InterruptReceived("r1"),
        PauseReceived("r2"),
        ResumeReceived("r2"),
    ]


def test_unknown_message_type_after_configure_is_reported_not_fatal() -> None:
    server, client = open_session()
    raw = Message(type=42).SerializeToString() + b"\xa2\x06\x01x"  # unknown field 100
    server.receive_data(client.send(BytesMessage(data=raw)))
    assert server.events() == [UnexpectedMessageReceived(42, raw)]
    assert server.state is ServerState.OPEN


def test_server_messages_reach_the_client_as_the_schema_says() -> None:
    server, client = open_session()
    animation = FlameAnimation(keyframes=[Flame(jaw_pose=[0.5, 0.25])])
    server.send_animation("r1", end=False, connection_id="conn-1", animation=animation)
    server.send_animation("r1", end=True, connection_id="conn-1", avatar_id="av")
    server.send_error(3, "bad egress", req_id="r1", connection_id="conn-1")
    server.send_playback_state("r1", 2, played_ms=1500, reason="explicit")
    decoded = [Message.FromString(e.data) for e in client_messages(client, server)]
    first, last, error, playback = decoded
    assert first.type == 5
    assert first.server_response_animation.req_id == "r1"
    assert list(first.server_response_animation.animation.keyframes[0].jaw_pose) == [0.5, 0.25]
    assert last.server_response_animation.end is True
    assert last.server_response_animation.avatar_id == "av"
    assert (error.type, error.server_error.code, error.server_error.message) == (4, 3, "bad egress")
    assert playback.type == 10
    assert (playback.server_playback_state.state, playback.server_playback_state.played_ms) == (
        2,
        1500,
    )


@given(
    req_id=st.text(),
    end=st.booleans(),
    connection_id=st.text(),
    avatar_id=st.text(),
    jaw=st.none() | st.lists(st.floats(width=32, allow_nan=False), max_size=20),
)
def test_hand_encoded_animation_matches_the_protobuf_encoder(
    req_id: str, end: bool, connection_id: str, avatar_id: str, jaw: list[float] | None
) -> None:
    animation = None if jaw is None else FlameAnimation(keyframes=[Flame(jaw_pose=jaw)])
    expected = Message(
        type=5,
        server_response_animation=ServerResponseAnimation(
            connection_id=connection_id, req_id=req_id, end=end, avatar_id=avatar_id
        ),
    )
    if animation is not None:
        expected.server_response_animation.animation.CopyFrom(animation)
    ours = encode_animation(
        req_id, end=end, connection_id=connection_id, avatar_id=avatar_id, animation=animation
    )
    assert ours == expected.SerializeToString()


def test_client_close_is_reported_and_answered() -> None:
    server, client = open_session()
    server.receive_data(client.send(CloseConnection(code=1000, reason="bye")))
    assert server.events() == [ClientClosed(1000, "bye")]
    assert server.closed
    [reply] = client_messages(client, server)
    assert isinstance(reply, CloseConnection)
    assert reply.code == 1000


def test_server_close_waits_for_the_client_reply() -> None:
    server, client = open_session()
    server.close(4001, "credits exhausted")
    assert server.state is ServerState.CLOSING
    server.close()  # already closing: nothing more is sent
    [close] = client_messages(client, server)
    assert isinstance(close, CloseConnection)
    assert (close.code, close.reason) == (4001, "credits exhausted")
    server.receive_data(client.send(close.response()))
    assert server.events() == [ClientClosed(4001, "credits exhausted")]
    assert server.closed
    assert server.data_to_send() == b""


def test_eof_on_the_socket_is_connection_lost() -> None:
    server, _ = open_session()
    server.receive_data(b"")
    assert server.events() == [ConnectionLost()]
    assert server.closed


def test_ping_is_answered_without_an_event() -> None:
    server, client = open_session()
    server.receive_data(client.send(Ping(payload=b"hi")))
    assert server.events() == []
    [pong] = client_messages(client, server)
    assert isinstance(pong, Pong)
    assert pong.payload == b"hi"


def assert_closed_with(server: ServerConnection, client: WSConnection, code: int) -> None:
    [event] = server.events()
    assert isinstance(event, ClientProtocolViolation)
    assert event.close_code == code
    assert server.closed
    [close] = client_messages(client, server)
    assert isinstance(close, CloseConnection)
    assert close.code == code


def test_text_frame_is_a_violation_closed_with_1003() -> None:
    server, client = open_session()
    server.receive_data(client.send(TextMessage(data="hello")))
    assert_closed_with(server, client, 1003)


def test_unmasked_garbage_frame_is_a_violation_closed_with_1002() -> None:
    server, client = open_session()
    server.receive_data(b"\x82\x03abc")
    assert_closed_with(server, client, 1002)


def test_undecodable_message_after_configure_is_closed_with_1007() -> None:
    server, client = open_session()
    server.receive_data(client.send(BytesMessage(data=b"\xff\xff\xff")))
    assert_closed_with(server, client, 1007)


def test_oversized_fragmented_message_is_stopped_at_the_limit() -> None:
    server, client = open_socket(max_message_size=4096)
    reported: list[object] = []
    while not reported:
        server.receive_data(client.send(BytesMessage(data=b"x" * 1000, message_finished=False)))
        reported = server.events()
    [violation] = reported
    assert isinstance(violation, ClientProtocolViolation)
    assert violation.close_code == 1009
    assert server.closed
    [close] = client_messages(client, server)
    assert isinstance(close, CloseConnection)
    assert close.code == 1009


def test_oversized_single_frame_is_stopped_before_it_is_complete() -> None:
    server, client = open_socket(max_message_size=4096)
    header = b"\x82\xff" + struct.pack("!Q", 1 << 40) + b"\x00\x00\x00\x00"  # zero mask
    server.receive_data(header + b"x" * 5000)
    assert_closed_with(server, client, 1009)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            Message(type=3, client_audio_input=ClientAudioInput(req_id="r")).SerializeToString(),
            "expected clientconfiguresession message",
        ),
        (b"\xff\xff", "failed to unmarshal initial message"),
    ],
)
def test_wrong_first_message_is_left_to_the_application(raw: bytes, reason: str) -> None:
    server, client = open_socket()
    server.receive_data(client.send(BytesMessage(data=raw)))
    assert server.events() == [ClientProtocolViolation(reason)]
    assert server.state is ServerState.CONFIGURING
    assert server.data_to_send() == b""
    server.send_error(0, reason)
    server.close(1000)
    error, close = client_messages(client, server)
    assert isinstance(error, BytesMessage)
    assert Message.FromString(error.data).server_error.message == reason
    assert isinstance(close, CloseConnection)


def test_bytes_sent_with_the_upgrade_are_processed_on_accept() -> None:
    server = ServerConnection()
    head = WSConnection(ConnectionType.CLIENT).send(Request(host="h", target="/v2/x/websocket"))
    configure_frame = bytes(FrameProtocol(client=True, extensions=[]).send_data(CONFIGURE))
    server.receive_data(head + configure_frame)
    assert [type(e) for e in server.events()] == [UpgradeRequested]
    server.accept_upgrade()
    [event] = server.events()
    assert isinstance(event, ConfigureReceived)
    assert event.sample_rate == 16000


def test_session_calls_in_the_wrong_state_name_the_state() -> None:
    server, _ = open_socket()
    with pytest.raises(LocalProtocolError, match=r"send_animation.*state awaiting_configure"):
        server.send_animation("r", end=True, connection_id="c")
    with pytest.raises(LocalProtocolError, match=r"confirm_session.*state awaiting_configure"):
        server.confirm_session("c")
    with pytest.raises(LocalProtocolError, match="close code"):
        server.close(1005)


def test_raw_messages_go_out_as_given_including_text() -> None:
    server, client = open_session()
    server.send_raw_message(b"\x00garbage")
    server.send_raw_message("not binary")
    binary, text = client_messages(client, server)
    assert isinstance(binary, BytesMessage)
    assert binary.data == b"\x00garbage"
    assert isinstance(text, TextMessage)
    assert text.data == "not binary"


def test_nothing_more_is_read_until_the_configure_is_answered() -> None:
    server, client = open_socket()
    audio = Message(type=3, client_audio_input=ClientAudioInput(req_id="r", end=True))
    server.receive_data(client.send(BytesMessage(data=CONFIGURE)))
    server.receive_data(client.send(BytesMessage(data=audio.SerializeToString())))
    server.receive_data(client.send(CloseConnection(code=1000)))
    assert [type(e) for e in server.events()] == [ConfigureReceived]
    server.confirm_session("conn-1")
    assert server.events() == [AudioReceived("r", b"", True), ClientClosed(1000, "")]
