"""The bytes after the 101: whatever the split, the frame reader sees every one of them.

A server may send frames right after accepting the upgrade (a ping, the
confirmation, more); TCP or TLS may cut that stream anywhere, also inside the
response head or in the middle of the first frame. Every split must give the same
events and the same replies as the whole stream read at once through wsproto.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_peer import ScriptedPeer, animation, confirm
from test_framing import replies
from test_session import TOKEN, make_config

from avatarwire.core.errors import ErrorCode
from avatarwire.core.events import Event, SessionClosed, SessionReady
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState


def opened(frames: list[tuple[str, bytes]], fast: bool = True) -> tuple[ClientSession, bytes]:
    """A client that sent its upgrade, and the 101 plus the frames a server sends at
    once after it, as one byte string (the same length for every client)."""
    client = ClientSession(
        make_config(), TOKEN, request_ids=sequential_request_ids(), frame_fast_path=fast
    )
    peer = ScriptedPeer()
    peer.feed(client.data_to_send())
    peer.accept()
    for kind, payload in frames:
        if kind == "ping":
            peer.ping(payload)
        elif kind == "confirm":
            peer.send(confirm())
        else:
            peer.send(animation("req-x"))
    return client, peer.take()


def outcome(frames: list[tuple[str, bytes]], cuts: list[int], fast: bool = True) -> object:
    client, stream = opened(frames, fast)
    start = 0
    for cut in [*sorted(set(cuts)), len(stream)]:
        if cut > start:
            client.receive_data(stream[start:cut])
            start = cut
    events: list[Event] = client.events()
    return (
        [(type(e).__name__, getattr(e, "connection_id", None)) for e in events],
        client.state,
        replies(client.data_to_send()),
    )


def test_a_confirmation_cut_after_its_third_byte_still_confirms() -> None:
    client, stream = opened([("confirm", b"")])
    head_end = stream.index(b"\r\n\r\n") + 4
    client.receive_data(stream[: head_end + 3])
    client.receive_data(stream[head_end + 3 :])
    assert client.state is SessionState.READY
    assert [type(e) for e in client.events()] == [SessionReady]


pings = st.lists(st.tuples(st.just("ping"), st.binary(max_size=125)), max_size=2)
after_confirm = st.lists(
    st.one_of(st.tuples(st.just("ping"), st.binary(max_size=8)), st.just(("animation", b""))),
    max_size=2,
)
#: Pings may come before the confirmation; frames for requests only after it.
eager_frames = st.builds(
    lambda before, after: [*before, ("confirm", b""), *after], pings, after_confirm
)


@settings(max_examples=40, deadline=None)
@given(frames=eager_frames, more_cuts=st.lists(st.integers(min_value=0), max_size=3))
def test_every_split_of_the_101_and_eager_frames_gives_the_same_session(
    frames: list[tuple[str, bytes]], more_cuts: list[int]
) -> None:
    size = len(opened(frames)[1])
    reference = outcome(frames, [], fast=False)
    assert reference[1] is SessionState.READY  # type: ignore[index]
    extra = [cut % (size + 1) for cut in more_cuts]
    for split in range(size + 1):
        assert outcome(frames, [split, *extra]) == reference, split


def test_every_split_of_a_stream_cut_byte_by_byte_gives_the_same_session() -> None:
    frames = [("ping", b"hello"), ("confirm", b""), ("ping", b"")]
    reference = outcome(frames, [], fast=False)
    assert outcome(frames, list(range(len(opened(frames)[1])))) == reference


def test_eof_inside_the_response_head_is_a_failed_connection() -> None:
    for cut in (0, 1, 12, 100):
        client, stream = opened([("confirm", b"")])
        client.receive_data(stream[:cut])
        client.receive_data(b"")
        (closed,) = client.events()
        assert isinstance(closed, SessionClosed) and closed.error is not None
        assert closed.error.code is ErrorCode.CONNECTION_FAILED, cut
        assert closed.error.retryable


def test_a_response_head_without_end_is_refused_past_its_limit() -> None:
    client, _ = opened([])
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"a" * (70 * 1024))
    (closed,) = client.events()
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.code is ErrorCode.PROTOCOL_ERROR
    assert "head" in closed.error.message
