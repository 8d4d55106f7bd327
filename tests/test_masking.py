"""The C masker a binding injects against the core's pure-Python reference."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_peer import ScriptedPeer, confirm, pump
from test_session import TOKEN, make_config

from avatarwire.bindings._common import ConnectOptions, new_client_session
from avatarwire.bindings.masking import fastest_masker
from avatarwire.core.framing import Masker, client_binary_frame, mask
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState

speedups = pytest.importorskip(
    "websockets.speedups", reason="websockets' C masker is not installed (extra 'fast')"
)

BOUNDARY_SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 125, 126, 65535, 65536]

payloads = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from(BOUNDARY_SIZES).map(os.urandom),
)
keys = st.binary(min_size=4, max_size=4)


@settings(max_examples=300, deadline=None)
@given(payload=payloads, key=keys)
def test_the_c_masker_gives_the_same_bytes_as_the_reference(payload: bytes, key: bytes) -> None:
    assert speedups.apply_mask(payload, key) == mask(payload, key)


@settings(max_examples=100, deadline=None)
@given(payload=payloads, key=keys)
def test_frames_built_with_either_masker_are_identical(payload: bytes, key: bytes) -> None:
    fast = client_binary_frame(payload, key, speedups.apply_mask)
    assert fast == client_binary_frame(payload, key)


def ready_session(masker: Masker, seed: bytes) -> tuple[ClientSession, ScriptedPeer]:
    """A READY session whose masking keys repeat ``seed``."""
    client = ClientSession(
        make_config(),
        TOKEN,
        request_ids=sequential_request_ids(),
        entropy=lambda size: (seed * size)[:size],
        masker=masker,
    )
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(confirm())
    pump(client, peer)
    assert client.state is SessionState.READY
    return client, peer


@settings(max_examples=60, deadline=None)
@given(
    seed=st.binary(min_size=4, max_size=8),
    chunks=st.lists(
        st.tuples(st.integers(0, 1500).map(lambda n: os.urandom(2 * n)), st.booleans()),
        min_size=1,
        max_size=8,
    ),
)
def test_a_session_with_the_c_masker_sends_the_bytes_the_reference_sends(
    seed: bytes, chunks: list[tuple[bytes, bool]]
) -> None:
    fast, peer = ready_session(speedups.apply_mask, seed)
    reference, _ = ready_session(mask, seed)
    for audio, end in chunks:
        if not audio and not end:
            continue
        assert fast.send_audio(audio, end) == reference.send_audio(audio, end)
        assert fast.interrupt() == reference.interrupt()
        sent = fast.data_to_send()
        assert sent == reference.data_to_send()
        peer.feed(sent)
    audio_seen = [m.client_audio_input.audio for m in peer.messages if m.type == 3]
    assert b"".join(audio_seen) == b"".join(audio for audio, _ in chunks)


def test_bindings_inject_the_c_masker_where_it_is_installed() -> None:
    assert fastest_masker() is speedups.apply_mask
    session = new_client_session(make_config(), TOKEN, ConnectOptions())
    assert session._masker is speedups.apply_mask


def test_without_the_c_masker_bindings_fall_back_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "websockets.speedups", None)  # import now fails
    assert fastest_masker.__wrapped__() is mask
