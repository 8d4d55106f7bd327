"""The hand-written framing fast path against wsproto, byte for byte and event for event."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_peer import ScriptedPeer, animation, confirm, pump
from test_session import TOKEN, make_config
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.events import Message as WsMessage

from avatarwire.core.events import Event, SessionClosed
from avatarwire.core.framing import MaskKeys, client_binary_frame, mask
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState

BOUNDARY_SIZES = [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70000]


def server_side() -> Connection:
    return Connection(ConnectionType.SERVER)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.sampled_from(BOUNDARY_SIZES).map(lambda size: os.urandom(size)),
    ),
    key=st.binary(min_size=4, max_size=4),
)
def test_client_frames_parse_back_to_the_same_payload(payload: bytes, key: bytes) -> None:
    server = server_side()
    server.receive_data(client_binary_frame(payload, key))
    messages = list(server.events())
    assert all(isinstance(m, BytesMessage) for m in messages)
    assert b"".join(bytes(m.data) for m in messages) == payload
    assert messages[-1].message_finished


@given(payload=st.binary(max_size=200), key=st.binary(min_size=4, max_size=4))
def test_masking_twice_gives_the_payload_back(payload: bytes, key: bytes) -> None:
    assert mask(mask(payload, key), key) == payload


def test_mask_keys_come_from_the_injected_source_a_pool_at_a_time() -> None:
    calls: list[int] = []

    def entropy(size: int) -> bytes:
        calls.append(size)
        return bytes(range(256)) * (size // 256)

    keys = MaskKeys(entropy)
    assert [keys.next() for _ in range(3)] == [
        b"\x00\x01\x02\x03",
        b"\x04\x05\x06\x07",
        b"\x08\x09\x0a\x0b",
    ]
    assert calls == [256]
    # 64 keys a draw: a small pool, since every session holds one (1,000 sessions each
    # holding 1,024 keys took ~56 MiB).
    drawn = [keys.next() for _ in range(61)]
    assert drawn[-1] == b"\xfc\xfd\xfe\xff" and calls == [256]
    assert keys.next() == b"\x00\x01\x02\x03" and calls == [256, 256]


# --- the receive path: fast and reference clients see the same events ---------------------

frame_kinds = st.one_of(
    st.tuples(st.just("animation"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("bytes"), st.binary(max_size=40)),
    st.tuples(st.just("fragments"), st.lists(st.binary(max_size=30), min_size=2, max_size=4)),
    st.tuples(st.just("ping"), st.binary(max_size=20)),
    st.tuples(st.just("text"), st.text(max_size=10)),
    st.tuples(st.just("huge"), st.integers(1001, 3000)),
    st.tuples(st.just("close"), st.sampled_from([1000, 1011, 4001, 4503])),
    st.tuples(
        st.just("raw"),
        st.lists(
            st.tuples(
                st.sampled_from([0x02, 0x82, 0x00, 0x80, 0x89, 0xC2]), st.binary(max_size=20)
            ),
            max_size=4,
        ),
    ),
)


def encode_stream(kinds: list[tuple[object, ...]]) -> bytes:
    server = server_side()
    out = b""
    for kind in kinds:
        name = kind[0]
        if name == "animation":
            _, number, end = kind
            out += server.send(
                WsMessage(data=animation(f"req-{number}", bool(end)).SerializeToString())
            )
        elif name == "bytes":
            out += server.send(WsMessage(data=bytes(kind[1])))  # type: ignore[arg-type]
        elif name == "fragments":
            parts = list(kind[1])  # type: ignore[call-overload]
            for index, part in enumerate(parts):
                out += server.send(WsMessage(data=part, message_finished=index == len(parts) - 1))
        elif name == "ping":
            out += server.send(Ping(payload=bytes(kind[1])))  # type: ignore[arg-type]
        elif name == "text":
            out += server.send(TextMessage(data=str(kind[1])))
        elif name == "huge":
            out += server.send(WsMessage(data=b"\x00" * int(kind[1])))  # type: ignore[call-overload]
        elif name == "raw":  # frames as given, fragment rules broken or not
            # (no text frames here: wsproto itself reports a text frame of invalid UTF-8
            # as 1003 or 1007 depending on how it was split; both paths fail it)
            for first, payload in kind[1]:  # type: ignore[attr-defined]
                out += bytes((first, len(payload))) + payload
        elif name == "close":
            out += server.send(CloseConnection(code=int(kind[1]), reason="bye"))  # type: ignore[call-overload]
            break
    return out


def ready_client(fast: bool) -> ClientSession:
    client = ClientSession(
        make_config(),
        TOKEN,
        request_ids=sequential_request_ids(),
        max_message_size=1000,
        frame_fast_path=fast,
    )
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    peer.send(confirm())
    pump(client, peer)
    assert client.state is SessionState.READY
    client.events()
    client.send_audio(b"\x00\x00" * 4)
    client.data_to_send()
    return client


def describe(event: Event) -> object:
    if isinstance(event, SessionClosed):
        error = event.error
        return ("closed", event.code, event.reason, error and (error.code, error.message))
    return (repr(event), getattr(event, "data", None))


def replies(data: bytes) -> list[object]:
    """What the client said back (pongs, close replies), as the service would read it."""
    server = server_side()
    server.receive_data(data)
    said: list[object] = []
    for event in server.events():
        if isinstance(event, Pong):
            said.append(("pong", bytes(event.payload)))
        elif isinstance(event, CloseConnection):
            said.append(("close", event.code))
        else:
            said.append(type(event).__name__)
    return said


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(frame_kinds, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 14), max_size=12),
)
def test_the_fast_path_gives_the_same_events_as_wsproto(
    kinds: list[tuple[object, ...]], cuts: list[int]
) -> None:
    stream = encode_stream(kinds)
    outcomes = []
    for fast in (True, False):
        client = ready_client(fast)
        start = 0
        for cut in sorted({c % (len(stream) + 1) for c in cuts} | {len(stream)}):
            if cut > start:
                client.receive_data(stream[start:cut])
                start = cut
        outcomes.append(
            (
                [describe(e) for e in client.events()],
                client.state,
                replies(client.data_to_send()),
            )
        )
    assert outcomes[0] == outcomes[1]


def test_a_new_message_inside_a_fragmented_one_is_refused_before_its_size() -> None:
    """An empty non-final frame, then an oversize new message: both paths say why the
    same way (wsproto's fragmentation rule), whatever the size of the second message."""
    stream = encode_stream([("raw", [(0x02, b"")]), ("huge", 1001)])
    outcomes = []
    for fast in (True, False):
        client = ready_client(fast)
        client.receive_data(stream)
        outcomes.append(([describe(e) for e in client.events()], client.state))
    assert outcomes[0] == outcomes[1]
    closed = outcomes[0][0][-1]
    assert isinstance(closed, tuple) and closed[0] == "closed"
    assert "CONTINUATION" in str(closed[3])
