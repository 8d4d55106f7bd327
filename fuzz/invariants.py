"""Cheap invariants the harnesses check on every event a core emits.

A violated invariant raises :class:`InvariantViolation`, which is not an
``AvatarError``: the fuzzer reports it as a crash, like any foreign exception.
"""

from __future__ import annotations

import contextlib

from wsproto.connection import Connection as FrameConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Pong

from avatarwire.core.errors import AvatarError, ErrorCode, RemoteProtocolError
from avatarwire.core.events import (
    AnimationFrame,
    Event,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
)
from avatarwire.core.motion import decode_keyframes
from avatarwire.core.server import (
    AudioReceived,
    ClientClosed,
    ClientProtocolViolation,
    ConfigureReceived,
    ConnectionLost,
    HttpRequestReceived,
    InterruptReceived,
    PauseReceived,
    ResumeReceived,
    ServerConnection,
    ServerEvent,
    ServerState,
    UnexpectedMessageReceived,
    UpgradeRequested,
)
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.core.wire import Message

CLIENT_EVENT_TYPES = (
    SessionReady,
    AnimationFrame,
    RequestFinished,
    PlaybackState,
    ServerError,
    SessionClosed,
)
SERVER_EVENT_TYPES = (
    HttpRequestReceived,
    UpgradeRequested,
    ConfigureReceived,
    AudioReceived,
    InterruptReceived,
    PauseReceived,
    ResumeReceived,
    UnexpectedMessageReceived,
    ClientClosed,
    ConnectionLost,
    ClientProtocolViolation,
)
#: Message types a client may put on the wire.
CLIENT_MESSAGE_TYPES = frozenset({1, 3, 7, 8, 9})


class InvariantViolation(AssertionError):
    """A core broke one of its promises (reported as a crash)."""


def check(condition: bool, what: str) -> None:
    """Raise :class:`InvariantViolation` saying ``what`` unless ``condition`` holds."""
    if not condition:
        raise InvariantViolation(what)


def _check_error(error: object) -> None:
    check(isinstance(error, AvatarError), f"event carries {type(error).__name__}, not AvatarError")
    assert isinstance(error, AvatarError)
    # Rendering an error must never raise (bindings log them).
    str(error)
    repr(error)
    _ = error.retry


class ClientEventLog:
    """Everything a client session reported, checked as it arrives."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.issued: set[str] = set()
        self.finished: set[str] = set()
        self.ready = 0
        self.closed: SessionClosed | None = None

    def note_request(self, req_id: str) -> None:
        """Record a req_id returned by ``send_audio`` / ``interrupt`` / ``pause``."""
        check(isinstance(req_id, str) and bool(req_id), f"call returned req_id {req_id!r}")
        self.issued.add(req_id)

    def collect(self) -> None:
        """Drain and check the session's events, then its state."""
        for event in self.session.events():
            self._check_event(event)
        state = self.session.state
        check(
            state.ended == (self.closed is not None),
            f"state {state.name} but SessionClosed {'reported' if self.closed else 'not reported'}",
        )
        # ERROR if and only if the session ended for an error, and it keeps that error.
        error = self.closed.error if self.closed is not None else None
        check(
            (state is SessionState.ERROR) == (error is not None),
            f"state {state.name} but SessionClosed.error is {error!r}",
        )
        check(self.session.error is error, f"session.error {self.session.error!r} is not {error!r}")

    def _check_event(self, event: Event) -> None:
        check(isinstance(event, CLIENT_EVENT_TYPES), f"unknown event {type(event).__name__}")
        check(self.closed is None, f"{type(event).__name__} after SessionClosed")
        if isinstance(event, SessionReady):
            self.ready += 1
            check(self.ready == 1, "SessionReady twice")
            check(bool(event.connection_id), "SessionReady with an empty connection id")
        elif isinstance(event, AnimationFrame):
            check(self.ready == 1, "AnimationFrame before SessionReady")
            check(isinstance(event.data, bytes), "AnimationFrame.data is not bytes")
            message = Message.FromString(event.data)
            check(message.type == 5, f"AnimationFrame holds message type {message.type}")
            check(message.server_response_animation.req_id == event.req_id, "req_id mismatch")
            check(message.server_response_animation.end == event.end, "end flag mismatch")
            with contextlib.suppress(RemoteProtocolError):
                decode_keyframes(event.data)
        elif isinstance(event, RequestFinished):
            check(event.req_id in self.issued, f"RequestFinished for unknown {event.req_id!r}")
            check(event.req_id not in self.finished, f"RequestFinished twice: {event.req_id!r}")
            self.finished.add(event.req_id)
        elif isinstance(event, PlaybackState):
            check(isinstance(event.state, PlaybackStateKind), "PlaybackState.state not an enum")
            check(isinstance(event.played_ms, int), "PlaybackState.played_ms not an int")
        elif isinstance(event, ServerError):
            _check_error(event.error)
        elif isinstance(event, SessionClosed):
            if event.error is not None:
                _check_error(event.error)
            unfinished = self.issued - self.finished
            check(not unfinished, f"SessionClosed with requests unfinished: {sorted(unfinished)}")
            self.closed = event


class ClientOutputLog:
    """Parses what the client writes after the upgrade, as the service would."""

    def __init__(self) -> None:
        self._frames = FrameConnection(ConnectionType.SERVER)
        self._partial = bytearray()
        self.messages = 0
        self.close_seen = False

    def feed(self, data: bytes) -> None:
        """Check one ``data_to_send()`` batch of the client."""
        if not data:
            return
        check(not self.close_seen, "the client wrote bytes after its close frame")
        self._frames.receive_data(data)
        for event in self._frames.events():
            check(not self.close_seen, f"client sent {type(event).__name__} after closing")
            if isinstance(event, BytesMessage):
                self._partial += event.data
                if event.message_finished:
                    message = Message.FromString(bytes(self._partial))
                    self._partial.clear()
                    check(
                        message.type in CLIENT_MESSAGE_TYPES,
                        f"client sent message type {message.type}",
                    )
                    check(
                        self.messages > 0 or message.type == 1,
                        "first client message is not a configure",
                    )
                    self.messages += 1
            elif isinstance(event, CloseConnection):
                self.close_seen = True
            else:
                check(isinstance(event, Pong), f"client sent {type(event).__name__}")


_TERMINAL = (ClientClosed, ConnectionLost)


def _is_terminal(event: ServerEvent) -> bool:
    if isinstance(event, _TERMINAL):
        return True
    return isinstance(event, ClientProtocolViolation) and (
        event.close_code is not None or event.http_status is not None
    )


def _check_ending(server: ServerConnection, event: ServerEvent) -> None:
    """A connection ends in ERROR exactly when the client broke the protocol (the
    violation kept as its cause) or dropped a connection we were not closing."""
    state, error = server.state, server.error
    if isinstance(event, ClientClosed):
        check(state is ServerState.CLOSED, f"ClientClosed left the server {state}")
    elif isinstance(event, ClientProtocolViolation):
        check(
            state is ServerState.ERROR
            and error is not None
            and (error.message, error.close_code, error.http_status)
            == (event.reason, event.close_code, event.http_status),
            f"{event!r} left the server {state} with {error!r}",
        )
    else:
        check(
            state is ServerState.CLOSED
            or (error is not None and error.code is ErrorCode.CONNECTION_CLOSED),
            f"ConnectionLost left the server {state} with {error!r}",
        )


class ServerEventLog:
    """Everything a server connection reported, checked as it arrives."""

    def __init__(self, server: ServerConnection) -> None:
        self.server = server
        self.terminal: ServerEvent | None = None
        self.upgrades = 0
        self.requests = 0
        self.configures = 0
        self.socket_events = 0

    def note(self, event: ServerEvent) -> None:
        """Check one event as the application reads it."""
        check(isinstance(event, SERVER_EVENT_TYPES), f"unknown event {type(event).__name__}")
        check(self.terminal is None, f"{type(event).__name__} after {self.terminal!r}")
        if _is_terminal(event):
            self.terminal = event
            state = self.server.state
            check(self.server.closed, f"{type(event).__name__} but the state is {state}")
            _check_ending(self.server, event)
        state, error = self.server.state, self.server.error
        check((state is ServerState.ERROR) == (error is not None), f"{state} with {error!r}")
        if isinstance(event, UpgradeRequested):
            self.upgrades += 1
            check(self.upgrades == 1 and self.requests == 0, "second request on one connection")
        elif isinstance(event, HttpRequestReceived):
            self.requests += 1
            check(self.requests == 1 and self.upgrades == 0, "second request on one connection")
        elif isinstance(event, ConfigureReceived):
            self.configures += 1
            check(self.socket_events == 0, "ConfigureReceived after another session event")
            check(self.configures == 1, "ConfigureReceived twice")
        if isinstance(
            event,
            (
                ConfigureReceived,
                AudioReceived,
                InterruptReceived,
                PauseReceived,
                ResumeReceived,
                UnexpectedMessageReceived,
            ),
        ):
            check(self.upgrades == 1, f"{type(event).__name__} without an upgrade")
            self.socket_events += 1
