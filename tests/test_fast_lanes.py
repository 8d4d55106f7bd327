"""The READY fast lanes are held to the slow path: same calls, same bytes, same events.

Two client sessions, one with ``fast_lanes=True`` and one with them off, get the same
random sequence of calls (audio of every shape and type, trace context, interrupts,
pause/resume, close, liveness ticks) and the same server bytes cut at random places
(frames of every kind, including fragments, control frames, text, bad frames and
undecodable payloads). After each step their results or errors, the bytes they queue
for the peer, their events, states and request ledgers must be identical.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from core_pair import confirmed_by_server, offline_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avatarwire.core.config import AudioFormat, SessionConfig
from avatarwire.core.errors import AvatarError
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    ServerError,
    SessionClosed,
    new_animation_frame,
)
from avatarwire.core.framing import mask
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.server.messages import (
    encode_animation,
    encode_error,
    encode_playback_state,
)
from avatarwire.core.session import ClientSession

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def config(audio_format: AudioFormat) -> SessionConfig:
    return offline_config(
        audio_format=audio_format,
        sample_rate=16000 if audio_format is AudioFormat.PCM_S16LE else 24000,
    )


def counting_entropy(size: int) -> bytes:
    """The same masking keys for both sessions (what matters is that they agree)."""
    return bytes(itertools.islice(itertools.cycle(range(7, 251)), size))


def ready_client(
    cfg: SessionConfig, fast: bool, chunk_limit: int, kind: type[ClientSession] = ClientSession
) -> ClientSession:
    client = kind(
        cfg,
        "token-1",
        request_ids=sequential_request_ids(),
        max_audio_chunk=chunk_limit,
        entropy=counting_entropy,
        masker=mask,
        fast_lanes=fast,
    )
    confirmed_by_server(client, ["playback_control"])
    client.data_to_send()
    client.events()
    return client


# --- server bytes -----------------------------------------------------------------------------


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """One unmasked frame as a server sends it."""
    size = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


req_ids = st.sampled_from(["req-1", "req-2", "req-3", "", "other"])

messages = st.one_of(
    st.builds(
        lambda req_id, end, pad: encode_animation(
            req_id, end=end, connection_id="conn-1", animation=b"\x0a" + bytes([pad % 100]) * pad
        ),
        req_ids,
        st.booleans(),
        st.integers(min_value=0, max_value=300),
    ),
    st.builds(
        lambda req_id, code: encode_error(code, "oops", req_id=req_id, connection_id="conn-1"),
        req_ids,
        st.sampled_from([0, 14, 4001]),
    ),
    st.builds(
        lambda req_id, state: encode_playback_state(
            req_id, state, played_ms=40, reason="explicit" if state == 4 else "", connection_id=""
        ),
        req_ids,
        st.integers(min_value=0, max_value=4),
    ),
    st.binary(max_size=12),  # undecodable, or an unknown type
    # Bytes that read as frame headers when a cut lands inside them.
    st.lists(st.sampled_from([0x82, 0x02, 0x05, 0x7E, 0x00]), max_size=40).map(bytes),
)


@st.composite
def server_frames(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["message"] * 8
            + ["fragmented", "first fragment", "ping", "pong", "close", "text", "rsv", "opcode"]
        )
    )
    if kind == "message":
        return server_frame(0x2, draw(messages))
    if kind == "fragmented":
        data = draw(messages)
        cut = draw(st.integers(min_value=0, max_value=len(data)))
        return server_frame(0x2, data[:cut], fin=False) + server_frame(0x0, data[cut:])
    if kind == "first fragment":  # a message left open: a plain binary frame is then wrong
        return server_frame(0x2, draw(messages), fin=False)
    if kind == "ping":
        return server_frame(0x9, draw(st.binary(max_size=8)))
    if kind == "pong":
        return server_frame(0xA, b"avatarwire keepalive")
    if kind == "close":
        code = draw(st.sampled_from([1000, 4001, 4002]))
        return server_frame(0x8, code.to_bytes(2, "big") + b"bye")
    if kind == "text":
        return server_frame(0x1, b"hello")
    if kind == "rsv":
        return server_frame(0x2, draw(messages), rsv=0x40)
    return server_frame(0x3, b"")


# --- client calls -------------------------------------------------------------------------------


@st.composite
def audio_calls(draw: st.DrawFn) -> tuple[Any, ...]:
    size = draw(st.integers(min_value=0, max_value=90))
    audio = bytes(draw(st.integers(min_value=0, max_value=255)) for _ in range(1)) * size
    shape = draw(st.sampled_from(["bytes"] * 6 + ["bytearray", "memoryview", "str"]))
    value: Any = {
        "bytes": audio,
        "bytearray": bytearray(audio),
        "memoryview": memoryview(audio),
        "str": "not audio",
    }[shape]
    end: Any = draw(st.sampled_from([False, False, False, True, 1]))
    trace = draw(st.sampled_from([None] * 6 + [TRACEPARENT, "bad"]))
    return ("send", value, end, trace)


calls = st.one_of(
    audio_calls(),
    audio_calls(),
    audio_calls(),
    st.just(("interrupt",)),
    st.just(("pause",)),
    st.just(("resume",)),
    st.tuples(st.just("close"), st.sampled_from([1000, 4000, 999])),
    st.tuples(st.just("tick"), st.floats(min_value=0, max_value=100)),
    st.tuples(
        st.just("server"),
        st.lists(server_frames(), min_size=1, max_size=4),
        st.lists(st.integers(min_value=0, max_value=2000), max_size=4),
    ),
    st.just(("eof",)),
)


def client_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """A client's output as (first byte, length byte, unmasked payload) per frame:
    wsproto masks control frames with keys of its own, so keys are left out."""
    frames = []
    position = 0
    while position < len(data):
        first, second = data[position], data[position + 1]
        assert second & 0x80, "a client frame must be masked"
        size, header = second & 0x7F, 2
        if size == 126:
            size, header = int.from_bytes(data[position + 2 : position + 4], "big"), 4
        elif size == 127:
            size, header = int.from_bytes(data[position + 2 : position + 10], "big"), 10
        key = data[position + header : position + header + 4]
        start = position + header + 4
        frames.append((first, second, mask(data[start : start + size], key)))
        position = start + size
    assert position == len(data)
    return frames


def describe_error(error: AvatarError | None) -> object:
    if error is None:
        return None
    return (type(error), repr(error), error.close_code, error.server_code, error.req_id)


def describe(event: Event) -> object:
    """Events as plain values (errors compare by content, not identity)."""
    if isinstance(event, SessionClosed):
        return ("closed", event.code, event.reason, describe_error(event.error))
    if isinstance(event, ServerError):
        return ("server error", describe_error(event.error))
    return event


def step(client: ClientSession, call: tuple[Any, ...]) -> object:
    """Run one call; its result or error as plain values, then what the session says."""
    name = call[0]
    try:
        if name == "send":
            result: object = client.send_audio(call[1], call[2], traceparent=call[3])
        elif name == "server":
            data = b"".join(call[1])
            cuts = sorted({0, len(data), *(c % (len(data) + 1) for c in call[2])})
            for start, stop in itertools.pairwise(cuts):
                client.receive_data(data[start:stop])
            result = None
        elif name == "eof":
            result = client.receive_data(b"")
        elif name == "tick":
            result = client.tick(call[1])
        elif name == "close":
            result = client.close(call[1])
        else:
            result = getattr(client, name)()
    except AvatarError as error:
        result = ("error", describe_error(error))
    return (
        result,
        client_frames(client.data_to_send()),
        [describe(e) for e in client.events()],
        client.state,
        client.bytes_to_send,
        client.interrupted_frames_dropped,
        [dataclasses.asdict(status) for status in client.requests],
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    audio_format=st.sampled_from([AudioFormat.PCM_S16LE, AudioFormat.OGG_OPUS]),
    chunk_limit=st.integers(min_value=2, max_value=64),
    script=st.lists(calls, max_size=30),
)
def test_the_fast_lanes_give_what_the_slow_path_gives(
    audio_format: AudioFormat, chunk_limit: int, script: list[tuple[Any, ...]]
) -> None:
    cfg = config(audio_format)
    fast = ready_client(cfg, True, chunk_limit)
    slow = ready_client(cfg, False, chunk_limit)
    for call in script:
        assert step(fast, call) == step(slow, call), call


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=40),
    ends=st.lists(st.booleans(), min_size=1, max_size=40),
)
def test_a_stream_of_whole_chunks_is_byte_identical_through_either_path(
    sizes: list[int], ends: list[bool]
) -> None:
    """The common case at length: many sends per request, each taking the lane."""
    cfg = config(AudioFormat.PCM_S16LE)
    fast = ready_client(cfg, True, 64)
    slow = ready_client(cfg, False, 64)
    for size, end in zip(sizes, itertools.cycle(ends), strict=False):
        audio = bytes(range(size)) * 2
        assert fast.send_audio(audio, end) == slow.send_audio(audio, end)
        assert fast.data_to_send() == slow.data_to_send()  # the same keys, too
    assert [dataclasses.asdict(s) for s in fast.requests] == [
        dataclasses.asdict(s) for s in slow.requests
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(server_frames(), min_size=1, max_size=8),
    at_boundaries=st.lists(st.booleans(), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=4),
)
def test_server_bytes_cut_at_frame_boundaries_and_anywhere_read_the_same(
    frames: list[bytes], at_boundaries: list[bool], cuts: list[int]
) -> None:
    """The receive lane starts at the first byte of each read: cut the stream at frame
    boundaries (where it takes over) as well as inside frames."""
    boundaries = list(itertools.accumulate(len(frame) for frame in frames))
    chosen = [b for b, keep in zip(boundaries, at_boundaries, strict=False) if keep]
    cfg = config(AudioFormat.PCM_S16LE)
    fast = ready_client(cfg, True, 64)
    slow = ready_client(cfg, False, 64)
    for client in (fast, slow):
        client.send_audio(b"\x01\x02" * 8)  # req-1 is open: its frames count
    call = ("server", frames, [*chosen, *cuts])
    assert step(fast, call) == step(slow, call)


@given(
    req_id=st.text(max_size=30),
    data=st.binary(max_size=64),
    end=st.booleans(),
    has_animation=st.booleans(),
    avatar_id=st.text(max_size=10),
)
def test_the_receive_lanes_frames_are_the_dataclass_its_constructor_makes(
    req_id: str, data: bytes, end: bool, has_animation: bool, avatar_id: str
) -> None:
    made = new_animation_frame(req_id, data, end, has_animation, avatar_id)
    expected = AnimationFrame(req_id, data, end, has_animation, avatar_id)
    assert type(made) is AnimationFrame
    assert made == expected and hash(made) == hash(expected) and repr(made) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.end = not end  # type: ignore[misc]


class SlowPathCounter(ClientSession):
    """A client session that counts the messages its slow path decodes."""

    slow_messages = 0

    def _handle_message(self, data: bytes) -> None:
        self.slow_messages += 1
        super()._handle_message(data)


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 100, 299])
def test_a_read_that_ends_inside_a_frame_leaves_the_lane_for_that_frame_only(cut: int) -> None:
    """Reads of a busy socket end inside frames: the bytes completing the buffered frame
    take the buffer's way, the frames after them the receive lane again."""
    frame = server_frame(
        2, encode_animation("req-1", end=False, connection_id="conn-1", animation=b"\x0a\x00" * 150)
    )
    assert cut < len(frame) and len(frame) > 126  # a 16-bit length: a cut inside the header
    client = ready_client(config(AudioFormat.PCM_S16LE), True, 64, SlowPathCounter)
    assert isinstance(client, SlowPathCounter)
    client.slow_messages = 0  # the session's confirmation came that way
    client.send_audio(b"\x01\x02" * 8)
    client.receive_data(frame[:cut])
    client.receive_data(frame[cut:] + frame * 3)
    client.receive_data(frame * 2)
    frames = [event for event in client.events() if isinstance(event, AnimationFrame)]
    assert len(frames) == 6 and all(f.req_id == "req-1" and f.has_animation for f in frames)
    assert client.slow_messages == 1
