"""Properties of the service role under any input: it never raises for bytes it is
fed, and how the byte stream is split never changes what it reports."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request

from avatarwire.core.server import (
    ConfigureReceived,
    ServerConnection,
    ServerEvent,
    UpgradeRequested,
)
from avatarwire.core.wire import (
    ClientAudioInput,
    ClientConfigureSession,
    ClientInterrupt,
    Message,
)

UPGRADE = WSConnection(ConnectionType.CLIENT).send(
    Request(host="localhost", target="/v2/driveningress/websocket?id=a")
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (empty pieces dropped: b"" would mean EOF)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    return [piece for piece in pieces if piece]


def run_as_application(pieces: list[bytes], *, eof: bool) -> list[ServerEvent]:
    """Feed ``pieces`` to a server whose application accepts and confirms everything."""
    server = ServerConnection(max_message_size=2048, max_request_body=256)
    seen: list[ServerEvent] = []

    def drain() -> None:
        while (event := server.next_event()) is not None:
            seen.append(event)
            if isinstance(event, UpgradeRequested):
                server.accept_upgrade()
            elif isinstance(event, ConfigureReceived):
                server.confirm_session("conn")

    for piece in pieces:
        server.receive_data(piece)
        drain()
        server.data_to_send()
    if eof:
        server.receive_data(b"")
        drain()
    return seen


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=12), st.booleans())
def test_arbitrary_bytes_over_http_never_raise(pieces: list[bytes], eof: bool) -> None:
    run_as_application([piece for piece in pieces if piece], eof=eof)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=12), st.booleans())
def test_arbitrary_bytes_after_an_upgrade_never_raise(pieces: list[bytes], eof: bool) -> None:
    run_as_application([UPGRADE, *(piece for piece in pieces if piece)], eof=eof)


def masked_frame(first_byte: int, payload: bytes) -> bytes:
    """A client frame with any FIN/RSV/opcode bits and a zero mask (payload as given)."""
    return bytes((first_byte, 0x80 | len(payload))) + b"\x00\x00\x00\x00" + payload


any_frame = st.builds(
    masked_frame,
    st.integers(min_value=0, max_value=255) | st.sampled_from([0x82, 0x02, 0x80, 0x81, 0x88]),
    st.binary(max_size=125),
)


@settings(max_examples=300)
@given(st.lists(any_frame, max_size=10), st.lists(st.integers(min_value=0), max_size=10))
def test_any_frames_after_configure_never_raise(frames: list[bytes], cuts: list[int]) -> None:
    configure = Message(
        type=1, client_configure_session=ClientConfigureSession(sample_rate=16000)
    ).SerializeToString()
    stream = UPGRADE + masked_frame(0x82, configure) + b"".join(frames)
    events = run_as_application(split(stream, cuts), eof=True)
    assert isinstance(events[1], ConfigureReceived)


def valid_client_stream(messages: list[bytes], close: bool) -> bytes:
    client = WSConnection(ConnectionType.CLIENT)
    head = client.send(Request(host="localhost", target="/v2/driveningress/websocket?id=a"))
    server = ServerConnection()
    server.receive_data(head)
    assert isinstance(server.next_event(), UpgradeRequested)
    server.accept_upgrade()
    client.receive_data(server.data_to_send())
    assert isinstance(next(client.events()), AcceptConnection)
    frames = b"".join(client.send(BytesMessage(data=message)) for message in messages)
    frames += client.send(Ping(payload=b"p"))
    if close:
        frames += client.send(CloseConnection(code=1000, reason="done"))
    return head + frames


session_message = st.one_of(
    st.builds(
        lambda req_id, audio, end: Message(
            type=3, client_audio_input=ClientAudioInput(req_id=req_id, audio=audio, end=end)
        ).SerializeToString(),
        st.text(max_size=8),
        st.binary(max_size=600),
        st.booleans(),
    ),
    st.builds(
        lambda req_id: Message(
            type=7, client_interrupt=ClientInterrupt(req_id=req_id)
        ).SerializeToString(),
        st.text(max_size=8),
    ),
    st.binary(max_size=40),
)


@settings(max_examples=150)
@given(
    st.lists(session_message, max_size=8),
    st.booleans(),
    st.lists(st.integers(min_value=0), max_size=30),
)
def test_any_split_of_a_valid_client_stream_yields_the_same_events(
    messages: list[bytes], close: bool, cuts: list[int]
) -> None:
    configure = Message(
        type=1, client_configure_session=ClientConfigureSession(sample_rate=16000)
    ).SerializeToString()
    stream = valid_client_stream([configure, *messages], close)
    whole = run_as_application([stream], eof=True)
    assert run_as_application(split(stream, cuts), eof=True) == whole
    assert isinstance(whole[1], ConfigureReceived)
