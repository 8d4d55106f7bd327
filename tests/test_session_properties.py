"""The client core against the server core, in memory, under random interleavings.

A Hypothesis state machine sends audio, interrupts, frames, errors and closes in any
order, and moves the bytes between the two cores in random slices; the invariants
of design.md must hold throughout.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from core_pair import confirmed_by_server, offline_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from avatarwire.core.events import (
    AnimationFrame,
    Event,
    RequestFinished,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.server import (
    AudioReceived,
    ConfigureReceived,
    InterruptReceived,
    ServerConnection,
    ServerState,
    UpgradeRequested,
)
from avatarwire.core.server.messages import encode_animation
from avatarwire.core.session import ClientSession, SessionState

CONFIG = offline_config()


class ClientAgainstServer(RuleBasedStateMachine):
    """Both cores, a byte pipe each way, and a ledger of what each side said."""

    @initialize(
        chunk_limit=st.integers(min_value=2, max_value=200),
        slices=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=8),
        drop_interrupted=st.booleans(),
    )
    def open(self, chunk_limit: int, slices: list[int], drop_interrupted: bool) -> None:
        self.client = ClientSession(
            CONFIG,
            "token",
            request_ids=sequential_request_ids(),
            max_audio_chunk=chunk_limit,
            drop_interrupted_frames=drop_interrupted,
        )
        self.drop_interrupted = drop_interrupted
        #: Per interrupted request, how many events the client had emitted by then.
        self.interrupted_at: dict[str, int] = {}
        self.server = ServerConnection()
        self.to_server = bytearray()
        self.to_client = bytearray()
        self.events: list[Event] = []
        self.sent_audio: dict[str, bytearray] = defaultdict(bytearray)
        self.got_audio: dict[str, bytearray] = defaultdict(bytearray)
        self.ended: set[str] = set()
        self.used_ids: list[str] = []
        self.current: str | None = None
        self.latest: str | None = None
        self.server_requests: list[str] = []
        self.frames_sent: list[tuple[str, bytes]] = []
        self.broken = False
        self.pump_client_output()
        turn = 0
        while self.client.state is not SessionState.READY and (self.to_server or self.to_client):
            size = slices[turn % len(slices)]  # the handshake, in the drawn slice sizes
            turn += 1
            self.deliver_to_server(size)
            self.deliver_to_client(size)
        assert self.client.state is SessionState.READY

    # --- moving bytes ---------------------------------------------------------------------

    def pump_client_output(self) -> None:
        self.to_server += self.client.data_to_send()
        self.events.extend(self.client.events())

    def answer_server_events(self) -> None:
        for event in self.server.events():
            if isinstance(event, UpgradeRequested):
                self.server.accept_upgrade()
            elif isinstance(event, ConfigureReceived):
                self.server.confirm_session("conn-1")
            elif isinstance(event, AudioReceived):
                self.got_audio[event.req_id] += event.audio
                if event.req_id not in self.server_requests:
                    self.server_requests.append(event.req_id)
            elif isinstance(event, InterruptReceived):
                assert event.req_id in self.used_ids
        self.to_client += self.server.data_to_send()

    @rule(size=st.integers(min_value=1, max_value=4096))
    def deliver_to_server(self, size: int) -> None:
        chunk, self.to_server[:size] = bytes(self.to_server[:size]), b""
        if chunk:
            self.server.receive_data(chunk)
        self.answer_server_events()

    @rule(size=st.integers(min_value=1, max_value=4096))
    def deliver_to_client(self, size: int) -> None:
        chunk, self.to_client[:size] = bytes(self.to_client[:size]), b""
        if chunk:
            self.client.receive_data(chunk)
        self.pump_client_output()

    # --- the client's calls ---------------------------------------------------------------

    @precondition(lambda self: self.client.state is SessionState.READY)
    @rule(samples=st.integers(min_value=0, max_value=300), end=st.booleans(), seed=st.binary())
    def send_audio(self, samples: int, end: bool, seed: bytes) -> None:
        audio = (seed or b"\x01") * (samples * 2 // max(len(seed), 1) + 1)
        audio = audio[: samples * 2]
        if not audio and not end:
            return
        req_id = self.client.send_audio(audio, end)
        if self.current is None:
            assert req_id not in self.used_ids, "a request id was reused"
            self.used_ids.append(req_id)
        else:
            assert req_id == self.current
        self.sent_audio[req_id] += audio
        self.current = None if end else req_id
        self.latest = req_id
        self.pump_client_output()

    @precondition(lambda self: self.client.state is SessionState.READY and self.latest)
    @rule()
    def interrupt(self) -> None:
        assert self.client.interrupt() == self.latest
        self.current = None
        self.pump_client_output()
        self.interrupted_at.setdefault(self.latest, len(self.events))

    @precondition(lambda self: self.client.state is SessionState.READY)
    @rule(chance=st.integers(min_value=0, max_value=4))
    def close_client(self, chance: int) -> None:
        if chance:  # rarer than the other calls, so runs get somewhere first
            return
        self.client.close()
        self.pump_client_output()

    @precondition(lambda self: not self.client.state.ended)
    @rule(chance=st.integers(min_value=0, max_value=9))
    def connection_drops(self, chance: int) -> None:
        if chance:  # rare: a drop ends the interesting part of a run
            return
        self.broken = True
        self.client.receive_data(b"")
        self.pump_client_output()

    # --- the server's messages --------------------------------------------------------------

    @precondition(lambda self: self.server.state is ServerState.OPEN)
    @rule(pick=st.integers(min_value=0, max_value=50), end=st.booleans(), blank=st.booleans())
    def server_frame(self, pick: int, end: bool, blank: bool) -> None:
        known = self.server_requests
        req_id = "" if (blank and end) or not known else known[pick % len(known)]
        self.frames_sent.append((req_id, encode_animation(req_id, end=end, connection_id="conn-1")))
        self.server.send_animation(req_id, end=end, connection_id="conn-1")
        self.to_client += self.server.data_to_send()

    @precondition(lambda self: self.server.state is ServerState.OPEN)
    @rule(code=st.sampled_from([0, 3, 14, 16, 4001]))
    def server_error(self, code: int) -> None:
        self.server.send_error(code, "something happened")
        self.to_client += self.server.data_to_send()

    @precondition(lambda self: self.server.state is ServerState.OPEN)
    @rule(
        code=st.sampled_from([1000, 1001, 1011, 4001, 4002, 4003, 4010, 4503]),
        chance=st.integers(min_value=0, max_value=4),
    )
    def server_closes(self, code: int, chance: int) -> None:
        if chance:
            return
        self.server.close(code, "bye")
        self.to_client += self.server.data_to_send()

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def audio_arrives_in_order_under_its_request(self) -> None:
        for req_id, got in self.got_audio.items():
            assert self.sent_audio[req_id].startswith(got)

    @invariant()
    def frames_reach_the_application_byte_identical_and_in_order(self) -> None:
        """Every frame, in order, but those of a request interrupted before they came
        (when dropping is on: then each one left out is counted)."""
        data = [e.data for e in self.events if isinstance(e, AnimationFrame)]
        if not self.drop_interrupted:
            assert data == [frame for _, frame in self.frames_sent[: len(data)]]
            assert self.client.interrupted_frames_dropped == 0
            return
        sent = iter(self.frames_sent)
        skipped = 0
        for got in data:
            for req_id, frame in sent:
                if frame == got:
                    break
                assert req_id in self.interrupted_at, "a frame was lost"
                skipped += 1
            else:
                raise AssertionError("a frame came that was not sent, or out of order")
        assert skipped <= self.client.interrupted_frames_dropped
        dropped = sum(status.frames_dropped for status in self.client.requests)
        assert dropped == self.client.interrupted_frames_dropped

    @invariant()
    def no_frame_of_an_interrupted_request_after_the_interrupt(self) -> None:
        if not self.drop_interrupted:
            return
        for index, event in enumerate(self.events):
            if isinstance(event, AnimationFrame) and event.req_id in self.interrupted_at:
                assert index < self.interrupted_at[event.req_id]

    @invariant()
    def each_request_finishes_at_most_once(self) -> None:
        finished = [e.req_id for e in self.events if isinstance(e, RequestFinished)]
        assert len(finished) == len(set(finished))
        assert set(finished) <= set(self.used_ids)

    @invariant()
    def one_terminal_event_and_nothing_after_it(self) -> None:
        closed = [i for i, e in enumerate(self.events) if isinstance(e, SessionClosed)]
        assert len(closed) <= 1
        if closed:
            assert closed[0] == len(self.events) - 1
            assert self.client.state.ended
        ready = [e for e in self.events if isinstance(e, SessionReady)]
        assert len(ready) <= 1

    @invariant()
    def ends_in_error_exactly_when_an_error_was_delivered_and_keeps_it(self) -> None:
        closed = next((e for e in self.events if isinstance(e, SessionClosed)), None)
        error = closed.error if closed is not None else None
        assert (self.client.state is SessionState.ERROR) == (error is not None)
        assert self.client.error is error
        # The state the session reads on every message is the table machine's own.
        assert self.client.state is self.client._machine.state
        server_failed = self.server.state is ServerState.ERROR
        assert server_failed == (self.server.error is not None)

    def teardown(self) -> None:
        if not hasattr(self, "client"):
            return
        for _ in range(1000):  # let everything in flight arrive
            if not self.to_server and not self.to_client:
                break
            self.deliver_to_server(1 << 20)
            self.deliver_to_client(1 << 20)
        if not self.broken and self.client.state is SessionState.READY:
            for req_id, sent in self.sent_audio.items():
                assert bytes(self.got_audio[req_id]) == bytes(sent), "audio lost or altered"
            delivered = sum(isinstance(e, AnimationFrame) for e in self.events)
            dropped = self.client.interrupted_frames_dropped
            assert delivered + dropped == len(self.frames_sent), "a frame unaccounted for"
        if self.client.state.ended:
            finished = {e.req_id for e in self.events if isinstance(e, RequestFinished)}
            assert finished == set(self.used_ids), "a request never finished"


ClientAgainstServer.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestClientAgainstServer = ClientAgainstServer.TestCase


def _describe(event: Event) -> tuple[object, ...]:
    """An event as plain values (errors compare by code and message, not identity)."""
    if isinstance(event, SessionClosed):
        error = event.error
        return ("closed", event.code, event.reason, error and (error.code, error.message))
    return (repr(event), getattr(event, "data", None))


def _events_for(cuts: list[int]) -> list[tuple[object, ...]]:
    """Open a session, let the server say a fixed script, and feed it cut at ``cuts``."""
    client = ClientSession(CONFIG, "token", request_ids=sequential_request_ids())
    server = ServerConnection()
    server.receive_data(client.data_to_send())
    for event in server.events():
        if isinstance(event, UpgradeRequested):
            server.accept_upgrade()
    upgrade_reply = server.data_to_send()
    client.receive_data(upgrade_reply)
    server.receive_data(client.data_to_send())
    for event in server.events():
        if isinstance(event, ConfigureReceived):
            server.confirm_session("conn-1", ["playback_state"])
    for index in range(3):
        server.send_animation(f"r{index}", end=index == 2, connection_id="conn-1")
    server.send_error(14, "egress unavailable")
    server.close(4002, "time is up")
    stream = server.data_to_send()
    positions = sorted({cut % (len(stream) + 1) for cut in cuts})
    start = 0
    for position in [*positions, len(stream)]:
        if position > start:
            client.receive_data(stream[start:position])
            start = position
    return [_describe(event) for event in client.events()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=40))
def test_any_split_of_the_server_bytes_gives_the_same_events(cuts: list[int]) -> None:
    assert _events_for(cuts) == _events_for([])


def _ready_pair(max_audio_chunk: int) -> tuple[ClientSession, ServerConnection]:
    """A client and a server core with the session confirmed between them."""
    client = ClientSession(
        CONFIG, "token", request_ids=sequential_request_ids(), max_audio_chunk=max_audio_chunk
    )
    server, _ = confirmed_by_server(client)
    return client, server


@settings(max_examples=300, deadline=None)
@given(
    samples=st.binary(min_size=0, max_size=600).map(lambda b: b[: len(b) // 2 * 2]),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=30),
    chunk_limit=st.integers(min_value=2, max_value=64),
)
def test_any_split_of_a_pcm_stream_arrives_whole_and_sample_aligned(
    samples: bytes, cuts: list[int], chunk_limit: int
) -> None:
    client, server = _ready_pair(chunk_limit)
    bounds = sorted({0, len(samples), *(cut % (len(samples) + 1) for cut in cuts)})
    pieces = [samples[start:stop] for start, stop in itertools.pairwise(bounds)] or [b""]
    req_ids = set()
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if piece or last:
            req_ids.add(client.send_audio(piece, end=last))
    server.receive_data(client.data_to_send())
    received = [e for e in server.events() if isinstance(e, AudioReceived)]
    assert server.state is ServerState.OPEN
    assert len(req_ids) == 1
    assert {e.req_id for e in received} == req_ids
    assert all(len(e.audio) % 2 == 0 for e in received), "a message split a sample"
    assert b"".join(e.audio for e in received) == samples
    assert [e.end for e in received][-1] is True
    assert sum(e.end for e in received) == 1
