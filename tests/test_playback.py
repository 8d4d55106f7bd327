"""Structured playback in the client core: frame fields, deduplicated ends, pause and
resume with every state reply the service gives (protocol.md section 3)."""

from __future__ import annotations

import pytest
from scripted_peer import ScriptedPeer, animation, confirm, pump

from avatarwire.core.config import AgoraEgress, SessionConfig
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    InterruptReason,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
)
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.core.wire import FlameAnimation, Message

CONTROL = ("playback_control", "playback_state")
PCM = b"\x00\x01" * 160
K = PlaybackStateKind


def config(**overrides: object) -> SessionConfig:
    fields: dict[str, object] = {
        "api_key": "key-1234",
        "app_id": "app-1",
        "avatar_id": "avatar-1",
        "ingress_url": "ws://127.0.0.1:9000/v2/driveningress",
        "console_url": "http://127.0.0.1:9000",
        "agora": AgoraEgress("channel-1"),
    }
    fields.update(overrides)
    return SessionConfig(**fields)  # type: ignore[arg-type]


def ready(capabilities: tuple[str, ...] = CONTROL) -> tuple[ClientSession, ScriptedPeer]:
    client = ClientSession(config(), "token-1234", request_ids=sequential_request_ids())
    peer = ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(confirm(capabilities=capabilities))
    pump(client, peer)
    assert client.state is SessionState.READY
    client.events()
    return client, peer


def state(req_id: str, kind: PlaybackStateKind, played_ms: int = 0, reason: str = "") -> Message:
    message = Message(type=10)  # type: ignore[arg-type]
    message.server_playback_state.connection_id = "conn-1"
    message.server_playback_state.req_id = req_id
    message.server_playback_state.state = int(kind)  # type: ignore[assignment]
    message.server_playback_state.played_ms = played_ms
    message.server_playback_state.reason = reason
    return message


def say(client: ClientSession, peer: ScriptedPeer, *messages: Message) -> list[Event]:
    for message in messages:
        peer.send(message)
    pump(client, peer)
    return client.events()


def finished(events: list[Event]) -> list[RequestFinished]:
    return [e for e in events if isinstance(e, RequestFinished)]


# --- frames ---------------------------------------------------------------------------------


def test_a_frame_with_keyframes_has_animation_and_names_its_avatar() -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM, end=True)
    message = animation(req_id, end=True, avatar_id="avatar-1")
    keyframe = message.server_response_animation.animation.keyframes.add()
    keyframe.jaw_pose.extend([0.1, 0.2])
    [frame, done] = say(client, peer, message)
    assert isinstance(frame, AnimationFrame)
    assert (frame.req_id, frame.end, frame.has_animation, frame.avatar_id) == (
        req_id,
        True,
        True,
        "avatar-1",
    )
    assert frame.data == message.SerializeToString()
    assert done == RequestFinished(req_id, interrupted=False)


@pytest.mark.parametrize("with_empty_field", [False, True])
def test_an_egress_control_signal_has_no_animation(with_empty_field: bool) -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM)
    message = animation(req_id)
    if with_empty_field:
        message.server_response_animation.animation.CopyFrom(FlameAnimation())
    [frame] = say(client, peer, message)
    assert isinstance(frame, AnimationFrame)
    assert (frame.has_animation, frame.avatar_id, frame.end) == (False, "", False)


def test_animation_frame_defaults_keep_old_constructions_working() -> None:
    frame = AnimationFrame("r", b"x", True)
    assert (frame.has_animation, frame.avatar_id) == (True, "")


def test_repeated_ends_with_and_without_req_id_finish_each_request_once() -> None:
    client, peer = ready()
    first = client.send_audio(PCM, end=True)
    second = client.send_audio(PCM, end=True)
    events = say(
        client,
        peer,
        animation(first, end=True),
        animation(first, end=True),
        animation("", end=True),  # the oldest unfinished: second
        animation(second, end=True),
        animation("", end=True),  # nothing left to finish
    )
    assert finished(events) == [RequestFinished(first, False), RequestFinished(second, False)]
    assert len([e for e in events if isinstance(e, AnimationFrame)]) == 5
    assert client.request(first).finished and client.request(second).finished  # type: ignore[union-attr]


# --- pause and resume -------------------------------------------------------------------------


def test_pause_does_not_end_the_request_and_audio_may_go_on_while_paused() -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM)
    assert client.pause() == req_id
    assert client.send_audio(PCM) == req_id
    assert client.send_audio(PCM, end=True) == req_id
    assert client.resume() == req_id
    pump(client, peer)
    kinds = [m.type for m in peer.messages if m.type != 1]
    assert kinds == [3, 8, 3, 3, 9]
    assert peer.messages[-1].client_resume.req_id == req_id


def test_pause_and_resume_target_the_most_recent_request_after_its_end() -> None:
    client, _ = ready()
    client.send_audio(PCM, end=True)
    latest = client.send_audio(PCM, end=True)
    assert client.pause() == latest
    assert client.resume() == latest


def test_every_reply_of_the_service_is_reported_as_sent() -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM, end=True)
    client.pause()
    replies = [
        state(req_id, K.PLAYING, 0),  # playout started (spontaneous)
        state(req_id, K.PAUSED, 480),  # pause accepted
        state(req_id, K.PLAYING, 480),  # resume
        state(req_id, K.PLAYING, 900),  # a resume with nothing paused: the position
        state("someone-else", K.PLAYING, 1000),  # a foreign req_id, echoed as asked
        state(req_id, K.ENDED, 1200),  # playout ended (or a late pause's reply)
    ]
    events = say(client, peer, *replies)
    assert events == [
        PlaybackState(req_id, K.PLAYING, 0, "", "conn-1"),
        PlaybackState(req_id, K.PAUSED, 480, "", "conn-1"),
        PlaybackState(req_id, K.PLAYING, 480, "", "conn-1"),
        PlaybackState(req_id, K.PLAYING, 900, "", "conn-1"),
        PlaybackState("someone-else", K.PLAYING, 1000, "", "conn-1"),
        PlaybackState(req_id, K.ENDED, 1200, "", "conn-1"),
    ]
    assert not client.request(req_id).finished  # type: ignore[union-attr]  # the end frame does it


def test_a_late_pause_gets_ended_and_changes_nothing() -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM, end=True)
    say(client, peer, animation(req_id, end=True))
    assert client.pause() == req_id
    [reply] = say(client, peer, state(req_id, K.ENDED, 2000))
    assert reply == PlaybackState(req_id, K.ENDED, 2000, "", "conn-1")
    assert client.request(req_id).interrupted is False  # type: ignore[union-attr]
    assert client.send_audio(PCM) != req_id  # the ended request stays ended


@pytest.mark.parametrize("reason", [InterruptReason.PREEMPTED, InterruptReason.PAUSE_TIMEOUT])
def test_a_preempted_or_timed_out_request_finishes_once_as_interrupted(
    reason: InterruptReason,
) -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM)
    client.pause()
    events = say(
        client,
        peer,
        state(req_id, K.INTERRUPTED, 640, reason.value),
        state(req_id, K.INTERRUPTED, 640, reason.value),
        animation(req_id, end=True),
    )
    assert finished(events) == [RequestFinished(req_id, interrupted=True)]
    status = client.request(req_id)
    assert status is not None and status.finished and status.interrupted
    assert PlaybackState(req_id, K.INTERRUPTED, 640, reason.value, "conn-1") in events


def test_an_explicit_interrupt_reply_does_not_finish_the_request_twice() -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM)
    assert client.interrupt() == req_id
    events = client.events() + say(client, peer, state(req_id, K.INTERRUPTED, 300, "explicit"))
    assert finished(events) == [RequestFinished(req_id, interrupted=True)]


def test_interrupted_without_a_req_id_finishes_nothing() -> None:
    client, peer = ready()
    req_id = client.send_audio(PCM)
    events = say(client, peer, state("", K.INTERRUPTED, 0, "preempted"))
    assert finished(events) == []
    assert not client.request(req_id).finished  # type: ignore[union-attr]


def test_an_unknown_state_number_is_unspecified() -> None:
    client, peer = ready()
    message = state("r", K.PLAYING)
    message.server_playback_state.state = 9  # type: ignore[assignment]
    [event] = say(client, peer, message)
    assert isinstance(event, PlaybackState) and event.state is K.UNSPECIFIED


def test_capabilities_are_on_the_session_and_empty_for_an_older_server() -> None:
    client, _ = ready()
    assert client.capabilities == frozenset(CONTROL)
    older, _ = ready(capabilities=())
    assert older.capabilities == frozenset()
