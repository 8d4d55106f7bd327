"""Client role of the ingress WebSocket: upgrade, configure, stream, close.

A :class:`ClientSession` is fed the bytes read from the socket with
:meth:`~ClientSession.receive_data` (``b""`` when the peer closed), says what to
write with :meth:`~ClientSession.data_to_send`, and reports what happened with
:meth:`~ClientSession.events`. Every state change is listed in :data:`TRANSITIONS`.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto.events import Message as WsMessage
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from . import codec
from .audio_formats import AUDIO_FORMATS
from .config import SessionConfig, check_header_secret
from .errors import (
    AvatarError,
    ErrorCode,
    LocalProtocolError,
    Phase,
    RemoteProtocolError,
    error_from_close,
    error_from_http,
    error_from_server_message,
    mask_secrets,
    mask_text,
)
from .events import (
    AnimationFrame,
    Event,
    PlaybackState,
    PlaybackStateKind,
    RequestFinished,
    ServerError,
    SessionClosed,
    SessionReady,
    new_animation_frame,
)
from .framing import (
    MAX_FRAME_HEADER,
    PLAIN_BINARY,
    Masker,
    MaskKeys,
    client_binary_frame,
    client_binary_head,
    frame_at,
    is_plain_binary,
    mask,
)
from .handshake import configure_message, session_secrets, upgrade_request
from .liveness import DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT, Keepalive
from .machine import Machine
from .request_ids import RequestIdFactory
from .requests import RequestLedger, RequestStatus
from .session_states import (
    ALLOWED_CALLS,
    PHASE_OF_STATE,
    TRANSITIONS,
    SessionState,
    Trigger,
)
from .wire import Message, ServerResponseAnimation
from .wire_constants import CAPABILITY_PLAYBACK_CONTROL, MAX_MESSAGE_SIZE

__all__ = [
    "ALLOWED_CALLS",
    "DEFAULT_MAX_AUDIO_CHUNK",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "TRANSITIONS",
    "ClientSession",
    "SessionState",
    "Trigger",
    "configure_message",
]

#: Close codes the client sends when the server breaks the protocol.
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_CLOSE_REASON_BYTES = 123

DEFAULT_MAX_MESSAGE_SIZE = MAX_MESSAGE_SIZE
DEFAULT_MAX_AUDIO_CHUNK = 64 * 1024
DEFAULT_MAX_REJECTION_BODY = 64 * 1024
#: What a keepalive ping carries (the service echoes it in its pong).
KEEPALIVE_PAYLOAD = b"avatarwire keepalive"
#: The longest upgrade response head taken (h11 itself refuses heads over 16 KiB).
MAX_RESPONSE_HEAD = 64 * 1024

#: The blank line that ends an HTTP head, as h11 finds it (bare LF line ends too).
_HEAD_END = re.compile(rb"\n\r?\n")
_READY = SessionState.READY
_LENGTH_16 = 126

_ANIMATION = codec.TYPE_SERVER_RESPONSE_ANIMATION
_parse_message = Message.FromString
_PARSE_ERRORS = codec.DECODE_ERRORS

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _carries_animation(frame: ServerResponseAnimation) -> bool:
    """Whether a frame holds motion (no egress) rather than being an egress control
    signal: its ``animation`` field is present and not empty."""
    animation = frame.animation  # keyframes imply presence: the cheap test first
    if animation.keyframes:
        return True
    return frame.HasField("animation") and animation.ByteSize() > 0


def _before_ready(error: AvatarError) -> AvatarError:
    """A connection that ends before the session is ready failed to connect, unless the
    server said why (a close code of its own contract)."""
    if error.code is ErrorCode.CONNECTION_CLOSED:
        error.code = ErrorCode.CONNECTION_FAILED
    return error


class ClientSession:
    """One ingress session, client side, as a pure state machine."""

    # Slots: every attribute read of the per-message lanes is a slot read (over 30
    # attributes in a dict would not be specialized), and ~2 KiB less per session.
    __slots__ = (
        "_alignment",
        "_audio_format",
        "_carry",
        "_closed",
        "_closed_reported",
        "_events",
        "_fast_path",
        "_frame_buffer",
        "_incoming",
        "_incoming_size",
        "_keepalive",
        "_lane_end",
        "_lane_frame_size",
        "_lane_head",
        "_lane_prefix",
        "_lane_size",
        "_lane_status",
        "_local_close",
        "_machine",
        "_mask_keys",
        "_masker",
        "_max_audio_chunk",
        "_max_message_size",
        "_max_rejection_body",
        "_out",
        "_out_size",
        "_pending_trace",
        "_receive_lane",
        "_rejection",
        "_rejection_body",
        "_response_head",
        "_secrets",
        "_send_lane",
        "_state",
        "_ws",
        "capabilities",
        "config",
        "connection_id",
        "drop_interrupted_frames",
        "interrupted_frames_dropped",
        "requests",
    )

    def __init__(
        self,
        config: SessionConfig,
        session_token: str,
        *,
        request_ids: RequestIdFactory,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_audio_chunk: int = DEFAULT_MAX_AUDIO_CHUNK,
        max_rejection_body: int = DEFAULT_MAX_REJECTION_BODY,
        entropy: Callable[[int], bytes] = os.urandom,
        frame_fast_path: bool = True,
        masker: Masker = mask,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        drop_interrupted_frames: bool = True,
        fast_lanes: bool = True,
    ) -> None:
        """``entropy`` supplies WebSocket masking keys and ``masker`` applies them (a
        binding may inject a C one); ``frame_fast_path=False`` routes every frame
        through wsproto (the reference path the fast one is tested against).
        ``drop_interrupted_frames=False`` hands on frames of an interrupted request
        that arrive after :meth:`interrupt` (as the official SDK does).
        ``fast_lanes=False`` turns off the READY shortcuts for audio out and frames in
        (the slow path they are held to by property tests)."""
        check_header_secret(session_token, "session_token")
        for name, limit in (
            ("max_message_size", max_message_size),
            ("max_audio_chunk", max_audio_chunk),
            ("max_rejection_body", max_rejection_body),
        ):
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 2:
                raise LocalProtocolError(f"{name} must be an integer >= 2, got {limit!r}")
        self.config = config
        self._secrets = session_secrets(config, session_token)
        self._max_message_size = max_message_size
        self._max_rejection_body = max_rejection_body
        self._audio_format = AUDIO_FORMATS[config.audio_format]
        # Whole samples per message (at least one), whatever the format's width.
        width = self._alignment = self._audio_format.alignment
        self._max_audio_chunk = max(width, max_audio_chunk - max_audio_chunk % width)
        #: The partial sample ending the current PCM request, sent with its next audio.
        self._carry = b""
        #: Trace context given with audio that was all carried (nothing sent yet).
        self._pending_trace: tuple[str, str] = ("", "")
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._out: list[bytes] = []
        self._out_size = 0
        self._events: list[Event] = []
        self._machine: Machine[SessionState, Trigger] = Machine(
            "session", TRANSITIONS, SessionState.CONNECTING, error_state=SessionState.ERROR
        )
        #: The machine's state as a plain attribute for the per-message paths (two
        #: property calls each time otherwise); only :meth:`_move` writes it.
        self._state = self._machine.state
        self._closed_reported = False
        self._closed: SessionClosed | None = None
        self._local_close = False
        self._incoming: list[bytes] = []
        self._incoming_size = 0
        self._rejection: RejectConnection | None = None
        self._rejection_body = bytearray()
        self._response_head = bytearray()
        self._mask_keys = MaskKeys(entropy)
        self._masker = masker
        self._fast_path = frame_fast_path
        #: The send lane: a READY session's next audio for a started request, taken
        #: without the slow path's steps (see :meth:`send_audio`).
        self._send_lane = fast_lanes and frame_fast_path
        #: The receive lane: plain binary frames read straight from the bytes given.
        self._receive_lane = fast_lanes and frame_fast_path
        #: What the send lane's next messages share (see :meth:`_prepare_lane`).
        self._lane_status: RequestStatus | None = None
        self._lane_size = 0
        self._lane_end = False
        self._lane_prefix = b""
        self._lane_head = b""
        self._lane_frame_size = 0
        self._keepalive = Keepalive(ping_interval, ping_timeout)
        self._frame_buffer = bytearray()
        #: Whether frames of a request arriving after its :meth:`interrupt` are dropped.
        self.drop_interrupted_frames = drop_interrupted_frames
        #: How many were dropped (each request's ``frames_dropped`` says whose).
        self.interrupted_frames_dropped = 0
        self.connection_id: str | None = None
        self.capabilities: frozenset[str] = frozenset()
        per_second = self._audio_format.bytes_per_second(config.sample_rate)
        self.requests = RequestLedger(request_ids, bytes_per_second=per_second)
        self._queue(self._ws.send(upgrade_request(config, session_token)))

    # --- state ------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state (see :data:`TRANSITIONS`)."""
        return self._state

    @property
    def error(self) -> AvatarError | None:
        """Why the session ended, once it is ``ERROR`` (the ``SessionClosed.error``)."""
        return self._machine.cause

    def _move(self, trigger: Trigger, cause: AvatarError | None = None) -> None:
        self._state = self._machine.move(trigger, cause)

    def _require(self, call: str) -> None:
        if call in ALLOWED_CALLS[self._state]:
            return
        if self._state.ended and not self._local_close:
            raise self._ended_by_peer()
        raise LocalProtocolError(
            f"{call}() is not allowed while the session is {self._state.name}",
            phase=Phase.WEBSOCKET_SEND,
            connection_id=self.connection_id,
        )

    def _ended_by_peer(self) -> AvatarError:
        """What a call on a session the network or the server ended raises: that
        session's own error (its code, close code and retry advice), raised afresh."""
        closed = self._closed
        if closed is not None and closed.error is not None:
            return copy.copy(closed.error)
        code = closed.code if closed is not None else None
        return AvatarError(
            f"the server closed the session (close code {code}); open a new session",
            code=ErrorCode.CONNECTION_CLOSED,
            phase=Phase.WEBSOCKET_SEND,
            connection_id=self.connection_id,
            close_code=code,
        )

    def __repr__(self) -> str:
        return (
            f"<ClientSession {self._state.name} connection_id={self.connection_id!r} "
            f"avatar_id={self.config.avatar_id!r}>"
        )

    # --- bytes in and out ---------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        return data

    @property
    def bytes_to_send(self) -> int:
        """How many bytes wait for :meth:`data_to_send` (bindings batch writes by it)."""
        return self._out_size

    def _queue(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def events(self) -> list[Event]:
        """Everything that happened since the last call, in order."""
        events, self._events = self._events, []
        return events

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed the connection."""
        if (
            self._receive_lane
            and self._state is _READY
            and type(data) is bytes
            and data
            and not self._incoming
        ):
            self._keepalive.heard()
            if self._frame_buffer:
                data = self._complete_buffered_frame(data)
                if not data:
                    return
                if self._state is not _READY or self._incoming:  # that frame moved on
                    self.receive_data(data)
                    return
            rest = self._receive_plain_binary(data)
            if rest and not self._closed_reported:
                self._receive_frames(rest)
            return
        if self._state.ended:
            return
        if data:
            self._keepalive.heard()
        if self._state is SessionState.CONNECTING and self._rejection is None:
            self._receive_response_head(data)
        elif data and self._fast_path and self._state is not SessionState.CONNECTING:
            self._receive_frames(data)
        elif data or self._state is SessionState.CONNECTING:
            # EOF may end a rejection body: wsproto must see it.
            self._through_wsproto(bytes(data) if data else None)
        if not data and not self._closed_reported:
            self._lost()

    def tick(self, now: float, *, reading: bool = True) -> None:
        """Keep the connection's liveness by the binding's clock: call it after feeding
        bytes and at :meth:`next_deadline`. It queues a ping after ``ping_interval``
        seconds of silence and ends the session (``connectionClosed``, retryable)
        when nothing came ``ping_timeout`` seconds after that. ``reading=False`` says
        the binding is not reading for now, so silence proves nothing."""
        if self._state is not SessionState.READY:
            return
        verdict = self._keepalive.due(now, reading=reading)
        if verdict == "ping":
            self._queue(self._ws.send(Ping(payload=KEEPALIVE_PAYLOAD)))
        elif verdict == "dead":
            limit, timeout = self._keepalive.silence_limit, self._keepalive.timeout
            error = AvatarError(
                f"no data from the server for {limit:g} s (a keepalive ping went "
                f"unanswered for {timeout:g} s): the connection is gone",
                code=ErrorCode.CONNECTION_CLOSED,
                phase=Phase.WEBSOCKET_RUNTIME,
                connection_id=self.connection_id,
            )
            self._move(Trigger.CONNECTION_LOST, error)
            self._report_closed(None, "", error)

    def next_deadline(self) -> float | None:
        """When the binding should call :meth:`tick` next, by its clock (``None``: no
        need until more bytes come)."""
        if self._state is not SessionState.READY:
            return None
        return self._keepalive.next_deadline()

    def _receive_response_head(self, data: bytes) -> None:
        """Give wsproto the upgrade response up to the end of its head, and no further:
        frames the server sent right after the 101 (a ping, the confirmation), whole
        or cut anywhere, go to the frame reader, which then sees every byte of them."""
        head = self._response_head
        head += data
        while self._state is SessionState.CONNECTING and self._rejection is None and head:
            found = _HEAD_END.search(head)
            if found is None:
                if len(head) > MAX_RESPONSE_HEAD:
                    self._violation(
                        f"the upgrade response head is over {MAX_RESPONSE_HEAD} bytes",
                        CLOSE_PROTOCOL_ERROR,
                    )
                return  # EOF inside the head is a failed connection: see _lost
            end = found.end()
            self._through_wsproto(bytes(head[:end]))
            del head[:end]
            if self._closed_reported:
                return
        rest = bytes(head)
        head.clear()
        if rest:
            self.receive_data(rest)

    def _through_wsproto(self, data: bytes | None) -> None:
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                self._dispatch(event)
                if self._closed_reported:
                    return
        except (WsRemoteProtocolError, WsLocalProtocolError, UnicodeDecodeError) as exc:
            self._violation(f"invalid data from the server: {exc}", CLOSE_PROTOCOL_ERROR)

    def _receive_plain_binary(self, data: bytes) -> bytes:
        """The receive lane: whole, final, unmasked binary frames at the start of
        ``data`` (nothing buffered before them) go straight to the protocol, without
        copying into the frame buffer; the rest, from the first frame that is anything
        else or incomplete, is returned for :meth:`_receive_frames`."""
        size = len(data)
        limit = self._max_message_size
        position = 0
        while position + 2 <= size and data[position] == PLAIN_BINARY:
            length = data[position + 1]  # 126 and up: a longer length, or masked
            start = position + 2
            if length == _LENGTH_16 and start + 2 <= size:
                length = (data[start] << 8) | data[start + 1]
                start += 2
            elif length >= _LENGTH_16:
                break
            end = start + length
            if end > size or length > limit:
                break
            self._handle_ready_message(data[start:end])
            position = end
            if self._closed_reported:
                return b""
        return data[position:] if position else data

    def _complete_buffered_frame(self, data: bytes) -> bytes:
        """The receive lane after a read that ended inside a frame: the bytes that
        complete the buffered frame go the buffer's way; what follows it is returned for
        the lane (``b""`` when ``data`` does not complete it)."""
        buffer = self._frame_buffer
        buffered = len(buffer)
        # The header only: a large frame arriving over many reads is not copied each time.
        span = frame_at(buffer[:MAX_FRAME_HEADER] + data[:MAX_FRAME_HEADER], 0)
        needed = 0 if span is None else span[0] + span[1] - buffered
        if not 0 < needed < len(data):
            self._receive_frames(data)
            return b""
        self._receive_frames(data[:needed])
        if self._closed_reported:
            return b""
        if self._frame_buffer:  # not the frame's end after all: the buffer's way on
            self._receive_frames(data[needed:])
            return b""
        return data[needed:]

    def _receive_frames(self, data: bytes) -> None:
        """Split whole frames off the buffer: plain binary messages go straight to the
        protocol, any other frame to wsproto, one complete frame at a time."""
        buffer = self._frame_buffer
        buffer += data
        position = 0
        while (span := frame_at(buffer, position)) is not None:
            header, length = span
            if length > self._max_message_size:
                # wsproto judges the frame first (a data frame inside a fragmented
                # message is its error, not ours); it needs one payload byte to do so.
                first_byte = position + header + 1
                if first_byte > len(buffer):
                    break
                self._through_wsproto(bytes(buffer[position:first_byte]))
                if self._closed_reported:
                    return
                limit = self._max_message_size
                self._violation(
                    f"the server sent a message over {limit} bytes", CLOSE_MESSAGE_TOO_BIG
                )
                return
            end = position + header + length
            if end > len(buffer):
                break
            if not self._incoming and is_plain_binary(buffer, position):
                self._handle_message(bytes(buffer[position + header : end]))
            else:
                self._through_wsproto(bytes(buffer[position:end]))
            position = end
            if self._closed_reported:
                return
        del buffer[:position]

    # --- what the application says --------------------------------------------------------

    def send_audio(
        self,
        audio: bytes | bytearray | memoryview,
        end: bool = False,
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> str:
        """Queue audio for the current request (opening one if needed); returns its req_id.

        ``end=True`` closes the request: the next audio opens a new one. Audio larger
        than the outbound chunk limit goes out as several messages of the same request.
        PCM may be split anywhere (TTS byte streams split samples): an odd trailing
        byte waits for the next call of the same request; only a request that would
        *end* on half a sample is refused.
        """
        if (
            self._send_lane
            and self._state is _READY
            and traceparent is None
            and tracestate is None
            and type(audio) is bytes
            and type(end) is bool
            and not self._carry
        ):
            status = self.requests.current
            size = len(audio)
            if (
                status is not None
                and status.messages_sent
                and 0 < size <= self._max_audio_chunk
                and not size % self._alignment
            ):
                # The slow path's outcome in the fewest steps: READY (the WebSocket is
                # open, every call allowed), a started request (its trace context went
                # with its first message), nothing carried, whole samples in one message.
                if (
                    status is not self._lane_status
                    or size != self._lane_size
                    or end is not self._lane_end
                ):
                    self._prepare_lane(status, size, end)
                unused = self._mask_keys.unused
                key = unused.pop() if unused else self._mask_keys.next()
                out = self._out
                out.append(self._lane_head)
                out.append(key)
                out.append(self._masker(self._lane_prefix + audio, key))
                self._out_size += self._lane_frame_size
                if end:
                    self.requests.record_sent(status, size, end=True)
                else:  # RequestLedger.record_sent's counting, for a message that ends nothing
                    status.audio_bytes += size
                    status.messages_sent += 1
                return status.req_id
        self._require("send_audio")
        if not isinstance(audio, (bytes, bytearray, memoryview)):
            raise LocalProtocolError(
                f"audio must be bytes, bytearray or memoryview, got {type(audio).__name__}"
            )
        if not isinstance(end, bool):
            raise LocalProtocolError(f"end must be a bool, got {type(end).__name__}")
        payload = audio if isinstance(audio, bytes) else bytes(audio)
        if not payload and not end:
            raise LocalProtocolError(
                "empty audio with end=False sends nothing; pass audio or end=True"
            )
        carried = self._carry
        width = self._audio_format.alignment
        partial = (len(carried) + len(payload)) % width
        if partial:
            if end:
                raise LocalProtocolError(self._partial_sample_refusal(len(payload)))
            payload = carried + payload
            payload, carry = payload[:-partial], payload[-partial:]
        else:
            payload, carry = carried + payload if carried else payload, b""
        trace = ("", "") if traceparent is None and tracestate is None else None
        if trace is None:
            trace = self._trace(traceparent, tracestate)
        current = self.requests.current
        if trace[0] and current is not None and (current.messages_sent or self._pending_trace[0]):
            raise LocalProtocolError(
                f"traceparent goes on a request's first chunk only; {current.req_id} has started"
            )
        # Nothing was refused: from here on the call takes effect.
        self._carry = carry
        status = self.requests.open_or_start()
        if not status.messages_sent and self._pending_trace[0]:
            trace = self._pending_trace
        if not payload and not end:
            # Only half a sample so far: it goes out with the next call's audio.
            self._pending_trace = trace
            return status.req_id
        self._pending_trace = ("", "")
        limit = self._max_audio_chunk
        size = len(payload)
        offset = 0
        while True:  # one message, or several of at most ``limit`` bytes
            chunk = payload if size <= limit else payload[offset : offset + limit]
            offset += len(chunk)
            is_last = offset >= size
            first = status.messages_sent == 0
            self._send_binary(
                codec.encode_audio_input(
                    status.req_id,
                    chunk,
                    end and is_last,
                    trace[0] if first else "",
                    trace[1] if first else "",
                )
            )
            self.requests.record_sent(status, len(chunk), end=end and is_last)
            if is_last:
                break
        return status.req_id

    def _prepare_lane(self, status: RequestStatus, size: int, end: bool) -> None:
        """Pre-encode what the send lane's messages of ``size`` bytes of audio for
        ``status`` share: the audio message up to the audio itself (the same bytes as
        :func:`codec.encode_audio_input`) and the frame header before the masking key."""
        prefix = codec.audio_continuation_prefix(codec.req_id_field(status.req_id), size, end)
        head = client_binary_head(len(prefix) + size, b"")
        self._lane_status, self._lane_size, self._lane_end = status, size, end
        self._lane_prefix, self._lane_head = prefix, head
        self._lane_frame_size = len(head) + 4 + len(prefix) + size

    def interrupt(self) -> str:
        """Interrupt the most recent request (also one whose audio already ended).

        The request finishes now (``RequestFinished(interrupted=True)``); frames of it
        the service had already sent are dropped when they arrive (counted in the
        request's ``frames_dropped``), unless ``drop_interrupted_frames`` is off."""
        self._require("interrupt")
        target = self.requests.interrupt_target()
        target.interrupt_sent = True
        self._drop_partial_sample()
        self._send_binary(codec.encode_request_control(codec.TYPE_CLIENT_INTERRUPT, target.req_id))
        self._finish(target.req_id, interrupted=True)
        return target.req_id

    def pause(self) -> str:
        """Hold playout of the most recent request (``playback_control`` servers only)."""
        return self._playback_control("pause", codec.TYPE_CLIENT_PAUSE)

    def resume(self) -> str:
        """Resume playout held by :meth:`pause` (``playback_control`` servers only)."""
        return self._playback_control("resume", codec.TYPE_CLIENT_RESUME)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (or give up the upgrade); a no-op once closing."""
        self._require("close")
        if (
            not isinstance(code, int)
            or isinstance(code, bool)
            or not (code in (1000, 1001) or 3000 <= code <= 4999)
        ):
            raise LocalProtocolError(f"close code must be 1000, 1001 or 3000-4999, got {code!r}")
        try:
            encoded = reason.encode("utf-8") if isinstance(reason, str) else None
        except UnicodeEncodeError:
            encoded = None  # a lone surrogate: not valid UTF-8
        if encoded is None or len(encoded) > MAX_CLOSE_REASON_BYTES:
            raise LocalProtocolError(
                "close reason must be a str that encodes to at most "
                f"{MAX_CLOSE_REASON_BYTES} bytes of valid UTF-8"
            )
        if self._state is SessionState.CLOSING or self._state.ended:
            return
        self._local_close = True
        if self._state is SessionState.CONNECTING:
            self._move(Trigger.LOCAL_CLOSE)
            self._report_closed(None, "", None)
            return
        self._queue(self._ws.send(CloseConnection(code=code, reason=reason)))
        self._move(Trigger.LOCAL_CLOSE)

    # --- internals --------------------------------------------------------------------------

    def _partial_sample_refusal(self, given: int) -> str:
        """Why ``end=True`` with ``given`` more bytes would end a request mid-sample."""
        spec, carried = self._audio_format, len(self._carry)
        total = carried + given
        if spec.alignment == 2:
            shape = "odd" + (", 1 carried from the previous call" if carried else "")
            missing, unit = "the missing byte", "half a sample"
        else:
            shape = f"{total % spec.alignment} past a whole sample" + (
                f", {carried} carried from the previous call" if carried else ""
            )
            missing, unit = "the missing bytes", "part of a sample"
        return (
            f"{spec.title} audio must hold whole {8 * spec.alignment}-bit samples: end=True "
            f"with {total} bytes to send ({shape}) would end the request on {unit}; send "
            f"{missing} with end=True, or interrupt()"
        )

    def _drop_partial_sample(self) -> None:
        """Forget the half sample (and trace context) waiting for the current request."""
        self._carry = b""
        self._pending_trace = ("", "")

    def _trace(self, traceparent: str | None, tracestate: str | None) -> tuple[str, str]:
        if traceparent is None:
            if tracestate is not None:
                raise LocalProtocolError("tracestate needs a traceparent")
            return "", ""
        if not isinstance(traceparent, str) or not _TRACEPARENT.match(traceparent):
            raise LocalProtocolError(
                f"traceparent must be W3C 'version-traceid-parentid-flags' hex, got {traceparent!r}"
            )
        if tracestate is not None and (
            not isinstance(tracestate, str) or _HEADER_UNSAFE.search(tracestate)
        ):
            raise LocalProtocolError("tracestate must be a str without control characters")
        return traceparent, tracestate or ""

    def _playback_control(self, call: str, message_type: int) -> str:
        self._require(call)
        if CAPABILITY_PLAYBACK_CONTROL not in self.capabilities:
            raise LocalProtocolError(
                f"{call}() needs the server's '{CAPABILITY_PLAYBACK_CONTROL}' capability; "
                f"this session announced {sorted(self.capabilities) or 'none'}"
            )
        target = self.requests.latest
        if target is None:
            raise LocalProtocolError(f"{call}() with no request sent yet")
        self._send_binary(codec.encode_request_control(message_type, target.req_id))
        return target.req_id

    def _send_binary(self, payload: bytes) -> None:
        if self._fast_path and self._ws.state is ConnectionState.OPEN:
            self._queue(client_binary_frame(payload, self._mask_keys.next(), self._masker))
        else:
            self._queue(self._ws.send(WsMessage(data=payload)))

    def _dispatch(self, event: object) -> None:
        if isinstance(event, BytesMessage):
            self._collect(bytes(event.data), event.message_finished)
        elif isinstance(event, TextMessage):
            self._violation("the server sent a text message", CLOSE_UNSUPPORTED_DATA)
        elif isinstance(event, Ping):
            if self._ws.state is ConnectionState.OPEN:
                self._queue(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self._peer_closed(event)
        elif isinstance(event, AcceptConnection):
            self._move(Trigger.UPGRADE_ACCEPTED)
            self._send_binary(configure_message(self.config))
        elif isinstance(event, RejectConnection):
            self._rejection = event
            if not event.has_body:
                self._rejected()
        elif isinstance(event, RejectData):
            room = self._max_rejection_body - len(self._rejection_body)
            self._rejection_body += event.data[:room]
            if event.body_finished or len(event.data) > room:
                self._rejected()

    def _collect(self, data: bytes, finished: bool) -> None:
        self._incoming_size += len(data)
        if self._incoming_size > self._max_message_size:
            self._violation(
                f"the server sent a message over {self._max_message_size} bytes",
                CLOSE_MESSAGE_TOO_BIG,
            )
            return
        if not finished:
            self._incoming.append(bytes(data))
            return
        if self._incoming:
            self._incoming.append(bytes(data))
            data = b"".join(self._incoming)
            self._incoming.clear()
        self._incoming_size = 0
        self._handle_message(bytes(data))

    def _handle_ready_message(self, data: bytes) -> None:
        """:meth:`_handle_message` in READY (the receive lane's call), an animation frame
        taken in the fewest steps."""
        try:
            message = _parse_message(data)
        except _PARSE_ERRORS:
            self._handle_message(data)  # which says why
            return
        if message.type != _ANIMATION:
            self._handle_decoded(message, data)
            return
        frame = message.server_response_animation
        req_id = frame.req_id
        status = self.requests.get(req_id)
        if status is not None:  # RequestLedger.record_frame, inline
            status.frames += 1
            if status.interrupt_sent and self.drop_interrupted_frames:
                status.frames_dropped += 1
                self.interrupted_frames_dropped += 1
                return
        end = frame.end
        # _carries_animation, inline: keyframes (else, if present, any content) in it.
        motion = frame.animation
        animation = bool(motion.keyframes) or (
            frame.HasField("animation") and motion.ByteSize() > 0
        )
        self._events.append(new_animation_frame(req_id, data, end, animation, frame.avatar_id))
        if end:
            self._finish(req_id, interrupted=False)

    def _handle_message(self, data: bytes) -> None:
        try:
            message = codec.decode_message(data)
        except RemoteProtocolError as exc:
            self._violation(exc.message, CLOSE_INVALID_PAYLOAD)
            return
        self._handle_decoded(message, data)

    def _handle_decoded(self, message: Message, data: bytes) -> None:
        kind = message.type
        if self._state is SessionState.CONFIGURING:
            self._handle_handshake_reply(message)
        elif self._state is not SessionState.READY:
            return
        elif kind == codec.TYPE_SERVER_RESPONSE_ANIMATION:
            frame = message.server_response_animation
            status = self.requests.record_frame(frame.req_id)
            if status is not None and status.interrupt_sent and self.drop_interrupted_frames:
                # In flight when interrupt() went out: the caller is done with it.
                status.frames_dropped += 1
                self.interrupted_frames_dropped += 1
                return
            self._events.append(
                AnimationFrame(
                    frame.req_id, data, frame.end, _carries_animation(frame), frame.avatar_id
                )
            )
            if frame.end:
                self._finish(frame.req_id, interrupted=False)
        elif kind == codec.TYPE_SERVER_ERROR:
            error = message.server_error
            reported = error_from_server_message(
                error.code,
                error.message,
                phase=Phase.WEBSOCKET_RUNTIME,
                connection_id=error.connection_id or self.connection_id,
                req_id=error.req_id,
            )
            self._events.append(ServerError(mask_secrets(reported, self._secrets)))
        elif kind == codec.TYPE_SERVER_PLAYBACK_STATE:
            state = message.server_playback_state
            try:
                playback = PlaybackStateKind(int(state.state))
            except ValueError:
                playback = PlaybackStateKind.UNSPECIFIED
            self._events.append(
                PlaybackState(
                    state.req_id,
                    playback,
                    int(state.played_ms),
                    state.reason,
                    state.connection_id or self.connection_id or "",
                )
            )
            if playback is PlaybackStateKind.INTERRUPTED and state.req_id:
                # explicit, preempted or pause_timeout: the request will not play on.
                self._finish(state.req_id, interrupted=True)
        # Anything else after the handshake (unknown or client-only types) is skipped.

    def _handle_handshake_reply(self, message: Message) -> None:
        kind = message.type
        if kind == codec.TYPE_SERVER_CONFIRM_SESSION:
            confirm = message.server_confirm_session
            if not confirm.connection_id:
                self._violation(
                    "the server confirmed the session with an empty connection id",
                    CLOSE_PROTOCOL_ERROR,
                )
                return
            self.connection_id = confirm.connection_id
            self.capabilities = frozenset(confirm.capabilities)
            self._move(Trigger.CONFIRMED)
            self._events.append(SessionReady(confirm.connection_id, self.capabilities))
        elif kind == codec.TYPE_SERVER_ERROR:
            refusal = message.server_error
            error = error_from_server_message(
                refusal.code,
                refusal.message,
                phase=Phase.WEBSOCKET_HANDSHAKE,
                connection_id=refusal.connection_id or None,
                req_id=refusal.req_id,
            )
            self._queue(self._ws.send(CloseConnection(code=1000)))
            self._move(Trigger.REFUSED, error)
            self._report_closed(None, "", error)
        else:
            self._violation(
                f"expected the session confirmation, got message type {int(kind)}",
                CLOSE_PROTOCOL_ERROR,
            )

    def _rejected(self) -> None:
        assert self._rejection is not None
        error = error_from_http(
            self._rejection.status_code,
            bytes(self._rejection_body),
            phase=Phase.WEBSOCKET_CONNECT,
        )
        self._move(Trigger.UPGRADE_REJECTED, error)
        self._report_closed(None, "", error)

    def _peer_closed(self, event: CloseConnection) -> None:
        if self._ws.state is ConnectionState.OPEN:
            # wsproto reports a frame it could not parse as a close it made up itself
            # (1002, 1007, ...): that is the server breaking the protocol, not closing.
            self._violation(f"invalid frame from the server: {event.reason}", event.code)
            return
        phase = PHASE_OF_STATE[self._state]
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            self._queue(self._ws.send(event.response()))
        error: AvatarError | None
        if self._local_close:
            error = None
        elif self._state is SessionState.CONFIGURING:
            error = _before_ready(
                error_from_close(event.code, event.reason or "", phase=phase)
                or AvatarError(
                    "the server closed the connection before confirming the session",
                    code=ErrorCode.CONNECTION_FAILED,
                    phase=phase,
                    close_code=event.code,
                    close_reason=event.reason or None,
                )
            )
        else:
            error = error_from_close(
                event.code, event.reason or "", phase=phase, connection_id=self.connection_id
            )
        clean = error is None
        self._move(Trigger.PEER_CLOSE if clean else Trigger.PEER_CLOSE_WITH_ERROR, error)
        self._report_closed(event.code, event.reason or "", error)

    def _lost(self) -> None:
        phase = PHASE_OF_STATE[self._state]
        error: AvatarError | None = None
        if self._state is SessionState.CONNECTING:
            error = AvatarError(
                "the connection closed before the upgrade response",
                code=ErrorCode.CONNECTION_FAILED,
                phase=phase,
            )
        elif self._state is SessionState.CONFIGURING:
            error = AvatarError(
                "the connection was dropped before the session was confirmed",
                code=ErrorCode.CONNECTION_FAILED,
                phase=phase,
            )
        elif self._state is not SessionState.CLOSING:
            error = error_from_close(None, "", phase=phase, connection_id=self.connection_id)
        self._move(Trigger.CONNECTION_LOST, error)
        self._report_closed(None, "", error)

    def _violation(self, message: str, close_code: int) -> None:
        error = RemoteProtocolError(
            message, phase=PHASE_OF_STATE[self._state], connection_id=self.connection_id
        )
        if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._queue(self._ws.send(CloseConnection(code=close_code)))
        self._move(Trigger.PROTOCOL_VIOLATION, error)
        self._report_closed(None, "", error)

    def _finish(self, req_id: str, *, interrupted: bool) -> None:
        status = self.requests.finish(req_id, interrupted=interrupted)
        if status is not None:
            self._events.append(RequestFinished(status.req_id, interrupted))

    def _report_closed(self, code: int | None, reason: str, error: AvatarError | None) -> None:
        if self._closed_reported:
            return
        self._closed_reported = True
        if error is not None:
            mask_secrets(error, self._secrets)
        reason = mask_text(reason, self._secrets)
        for req_id in self.requests.unfinished():
            self._finish(req_id, interrupted=True)
        self._closed = SessionClosed(code, reason, error)
        self._events.append(self._closed)

    def request(self, req_id: str) -> RequestStatus | None:
        """The bookkeeping of a recent request (audio sent, frames, finished)."""
        return self.requests.get(req_id)
