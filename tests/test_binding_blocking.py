"""The blocking binding over real loopback sockets: what is special to pumping the
socket in the caller's thread (step timeouts, backpressure, Ctrl-C, TLS)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trustme
from loopback_service import TOKEN, Behaviour, LoopbackService

from avatarwire.bindings._common import ConnectOptions
from avatarwire.bindings.blocking import connect, fetch_token, open_session
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, ErrorCode, Phase
from avatarwire.core.events import AnimationFrame, Event, RequestFinished, SessionClosed
from avatarwire.core.session import SessionState
from avatarwire.core.steps import Step, Timeouts, step_timed_out
from avatarwire.core.wire import Flame, FlameAnimation

CHUNK = b"\x01\x02" * 320  # 20 ms of 16 kHz PCM
SHORT = 0.3


def same_error(actual: AvatarError, expected: AvatarError) -> None:
    assert (type(actual), actual.code, actual.phase, actual.message) == (
        type(expected),
        expected.code,
        expected.phase,
        expected.message,
    )


def config_at(port: int, *, secure: bool) -> SessionConfig:
    """A config whose two legs both point at ``port``."""
    http, ws = ("https", "wss") if secure else ("http", "ws")
    return SessionConfig(
        api_key="loopback-api-key-0123456789",
        app_id="loopback-app",
        avatar_id="loopback-avatar",
        console_url=f"{http}://127.0.0.1:{port}/v1/console",
        ingress_url=f"{ws}://127.0.0.1:{port}/v2/driveningress",
    )


def animation_of(size: int) -> bytes:
    """A serialized ``FlameAnimation`` of about ``size`` bytes."""
    keyframe = Flame(expression=[0.25] * (size // 4))
    return FlameAnimation(keyframes=[keyframe]).SerializeToString()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def serving(
    behaviour: Behaviour | None = None, *, ssl_context: ssl.SSLContext | None = None
) -> Iterator[LoopbackService]:
    with LoopbackService(behaviour, ssl_context=ssl_context) as service:
        yield service


@contextmanager
def ctrl_c_after(seconds: float) -> Iterator[None]:
    """Deliver SIGINT to the main thread after ``seconds``, as a terminal's Ctrl-C would."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, previous)


# --- every step has its own timeout ------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "step"),
    [
        (Behaviour(answer_token=False), Step.TOKEN),
        (Behaviour(accept_upgrade=False), Step.UPGRADE),
        (Behaviour(confirm=False), Step.HANDSHAKE),
    ],
)
def test_a_stalled_step_fails_with_that_steps_timeout_error(
    behaviour: Behaviour, step: Step
) -> None:
    timeouts = Timeouts(**{step.value: SHORT})
    with serving(behaviour) as service:
        config = service.config()
        token = None if step is Step.TOKEN else TOKEN
        with (
            pytest.raises(AvatarError) as caught,
            connect(config, session_token=token, timeouts=timeouts),
        ):
            pass
        console = step is Step.TOKEN
        origin = (config.console_endpoint if console else config.ingress_endpoint).origin
        same_error(caught.value, step_timed_out(step, SHORT, origin=origin, console=console))
        assert service.wait_until(lambda record: record.connections_open == 0)


@contextmanager
def silent_listener(backlog: int = 8) -> Iterator[int]:
    """A port whose TCP connections complete in the kernel but are never spoken to."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_silent_tls_server_fails_the_tls_step_of_the_console_leg() -> None:
    with silent_listener() as port:
        config = config_at(port, secure=True)
        options = ConnectOptions(timeouts=Timeouts(tls=SHORT))
        with pytest.raises(AvatarError) as caught:
            fetch_token(config, options)
    expected = step_timed_out(Step.TLS, SHORT, origin=config.console_endpoint.origin, console=True)
    same_error(caught.value, expected)
    assert caught.value.phase is Phase.SESSION_TOKEN


def test_a_silent_tls_server_fails_the_tls_step_of_the_ingress_leg() -> None:
    with silent_listener() as port:
        config = config_at(port, secure=True)
        options = ConnectOptions(timeouts=Timeouts(tls=SHORT))
        with pytest.raises(AvatarError) as caught:
            open_session(config, TOKEN, options)
    origin = config.ingress_endpoint.origin
    same_error(caught.value, step_timed_out(Step.TLS, SHORT, origin=origin))


def test_a_full_accept_queue_fails_the_tcp_connect_step() -> None:
    with silent_listener(backlog=0) as port:
        filler = socket.create_connection(("127.0.0.1", port), timeout=1)
        try:
            config = config_at(port, secure=False)
            options = ConnectOptions(timeouts=Timeouts(tcp_connect=SHORT))
            with pytest.raises(AvatarError) as caught:
                open_session(config, TOKEN, options)
        finally:
            filler.close()
    if caught.value.code is not ErrorCode.CONNECTION_FAILED or "timed out" not in str(caught.value):
        pytest.skip("this kernel does not drop connections beyond the backlog")
    origin = config.ingress_endpoint.origin
    same_error(caught.value, step_timed_out(Step.TCP_CONNECT, SHORT, origin=origin))


# --- backpressure ----------------------------------------------------------------------------


def test_streaming_without_reading_events_never_deadlocks_and_loses_no_frame() -> None:
    frames_per_chunk, chunks = 2, 600
    behaviour = Behaviour(frames_per_audio=frames_per_chunk, frame_animation=animation_of(8192))
    with serving(behaviour) as service, connect(service.config(), session_token=TOKEN) as session:
        for index in range(chunks):
            req_id = session.send_audio(CHUNK, end=index == chunks - 1)
        events: list[Event] = []
        for event in session:
            events.append(event)
            if isinstance(event, RequestFinished):
                break
        with service.locked() as record:
            assert bytes(record.audio[req_id]) == CHUNK * chunks
    frames = [event for event in events if isinstance(event, AnimationFrame)]
    assert len(frames) == frames_per_chunk * chunks
    assert [frame.end for frame in frames].count(True) == 1 and frames[-1].end
    assert events[-1] == RequestFinished(req_id, interrupted=False)


def test_unread_events_never_stall_sends_and_overflowing_frames_are_counted() -> None:
    limit, frame_size = 16, 8192
    behaviour = Behaviour(frames_per_audio=4, frame_animation=animation_of(frame_size))
    with serving(behaviour) as service:
        config = service.config()
        with connect(
            config, session_token=TOKEN, max_queued_events=limit, max_buffered_audio=64 * 1024
        ) as session:
            req_id = ""
            for _ in range(200):
                req_id = session.send_audio(CHUNK)
            session.send_audio(b"", end=True)
            status = session.wait_for_request(req_id, timeout=10)
            queued = [e for e in session._events if isinstance(e, AnimationFrame)]
            # One read (64 KiB) may go past the limit by the frames it holds, no further.
            assert limit <= len(queued) <= limit + 64 * 1024 // frame_size + 1
            assert status.finished and status.frames == len(queued) + session.dropped_frames
            assert session._events[-1] == RequestFinished(req_id, interrupted=False)


def test_a_server_that_stops_reading_fails_send_then_close_gives_up_after_its_timeout() -> None:
    closes: list[None] = []
    timeouts = Timeouts(send=SHORT, close=SHORT)
    with serving(Behaviour(read_after_ready=False)) as service:
        config = service.config()
        session_used = None
        with (
            pytest.raises(AvatarError) as caught,
            connect(
                config, session_token=TOKEN, timeouts=timeouts, on_close=lambda: closes.append(None)
            ) as session,
        ):
            session_used = session
            for _ in range(100_000):
                session.send_audio(CHUNK)
        same_error(
            caught.value, step_timed_out(Step.SEND, SHORT, origin=config.ingress_endpoint.origin)
        )
        assert session_used is not None and session_used.state is SessionState.CLOSED
        assert closes == [None]
        closed = list(session_used)[-1]  # the callback's events are queued too
        assert isinstance(closed, SessionClosed) and closed.error is None


# --- callbacks, waiting helpers --------------------------------------------------------------


def test_callbacks_run_in_the_calling_thread_inside_send_audio() -> None:
    threads: list[int] = []

    def on_frame(data: bytes, end: bool) -> None:
        threads.append(threading.get_ident())

    with (
        serving() as service,
        connect(service.config(), session_token=TOKEN, transport_frames=on_frame) as session,
    ):
        session.send_audio(CHUNK)
        assert service.wait_until(lambda record: record.frames_written >= 1)
        session.send_audio(CHUNK)  # finds the first frame already waiting on the socket
        assert threads[:1] == [threading.get_ident()]
        req_id = session.send_audio(CHUNK, end=True)
        status = session.wait_for_request(req_id, timeout=5)
        assert status.finished and not status.interrupted and status.frames == 3
        assert threads == [threading.get_ident()] * 3


def test_next_event_times_out_and_the_session_goes_on() -> None:
    with serving() as service, connect(service.config(), session_token=TOKEN) as session:
        with pytest.raises(TimeoutError):
            session.next_event(timeout=0.05)
        req_id = session.send_audio(CHUNK, end=True)
        frame = session.next_event(timeout=5)
        assert isinstance(frame, AnimationFrame) and frame.req_id == req_id and frame.end
        assert session.next_event(timeout=5) == RequestFinished(req_id, interrupted=False)


def test_waiting_on_a_request_with_a_full_event_queue_finishes_it() -> None:
    behaviour = Behaviour(frames_per_audio=10, frame_animation=animation_of(20_000))
    with (
        serving(behaviour) as service,
        connect(service.config(), session_token=TOKEN, max_queued_events=2) as session,
    ):
        req_id = session.send_audio(CHUNK, end=True)
        status = session.wait_for_request(req_id, timeout=5)
        assert status.finished and status.frames == 10 and session.dropped_frames > 0
        events = [session.next_event(timeout=5)]
        while not isinstance(events[-1], RequestFinished):
            events.append(session.next_event(timeout=5))
        frames = [e for e in events if isinstance(e, AnimationFrame)]
        assert len(frames) >= 2 and len(frames) + session.dropped_frames == 10
        assert events[-1] == RequestFinished(req_id, interrupted=False)


def test_run_until_closed_returns_the_sessions_last_event() -> None:
    with serving() as service, connect(service.config(), session_token=TOKEN) as session:
        with pytest.raises(TimeoutError):
            session.run_until_closed(timeout=0.05)
        session.close()
        closed = session.run_until_closed(timeout=0)
        assert closed.error is None and session.state is SessionState.CLOSED


# --- Ctrl-C leaves nothing behind ---------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [Behaviour(answer_token=False), Behaviour(confirm=False), Behaviour()],
    ids=["during-token", "during-handshake", "waiting-for-events"],
)
def test_ctrl_c_anywhere_leaves_no_socket_or_thread(behaviour: Behaviour) -> None:
    fds, threads = open_fds(), threading.active_count()
    with serving(behaviour) as service:
        with (
            pytest.raises(KeyboardInterrupt) as interrupted,
            ctrl_c_after(0.2),
            connect(service.config(), timeouts=Timeouts(token=30, handshake=30)) as session,
        ):
            session.next_event()  # the service sends nothing: blocks until Ctrl-C
        assert service.wait_until(lambda record: record.connections_open == 0)
    assert open_fds() == fds
    assert threading.active_count() <= threads
    assert interrupted.traceback  # kept alive until here: closing is ours, not the GC's


@pytest.mark.parametrize("step", [Step.TCP_CONNECT, Step.TLS])
def test_ctrl_c_while_connecting_leaves_no_socket(step: Step) -> None:
    options = ConnectOptions(timeouts=Timeouts(tcp_connect=30, tls=30))
    with silent_listener(backlog=0 if step is Step.TCP_CONNECT else 8) as port:
        # With a full accept queue the kernel drops the SYN: connect() itself hangs.
        filler = socket.create_connection(("127.0.0.1", port)) if step is Step.TCP_CONNECT else None
        fds = open_fds()
        try:
            # The traceback stays alive (as at a prompt): closing is ours, not the GC's.
            with pytest.raises(KeyboardInterrupt) as interrupted, ctrl_c_after(0.2):
                open_session(config_at(port, secure=True), TOKEN, options)
            assert open_fds() == fds
            assert interrupted.traceback
        finally:
            if filler is not None:
                filler.close()


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def test_a_session_over_tls_streams_both_ways(authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    behaviour = Behaviour(frames_per_audio=2, frame_animation=animation_of(8192))
    with serving(behaviour, ssl_context=server_context) as service:
        with connect(service.config(), ssl_context=client_context) as session:
            for index in range(300):
                req_id = session.send_audio(CHUNK, end=index == 299)
            frames = []
            for event in session:
                if isinstance(event, RequestFinished):
                    break
                frames.append(event)
        with service.locked() as record:
            assert bytes(record.audio[req_id]) == CHUNK * 300
    assert len(frames) == 600 and all(isinstance(frame, AnimationFrame) for frame in frames)


def test_an_untrusted_certificate_fails_the_tls_step(authority: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    with (
        serving(ssl_context=server_context) as service,
        pytest.raises(AvatarError) as caught,
        connect(service.config()),
    ):
        pass
    assert caught.value.code is ErrorCode.CONNECTION_FAILED
    assert caught.value.phase is Phase.SESSION_TOKEN
    assert "TLS handshake" in caught.value.message
