"""Bad input at the public API is refused with our own error, which names what was
given and what is allowed, and nothing goes out: config fields, audio, calls in the
wrong state, close arguments, header injection. Oversize audio is split, not refused.
A server's malformed close frame ends the session cleanly."""

from __future__ import annotations

import array
import asyncio
import hashlib
import itertools
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
from binding_adapters import BINDINGS, Api, api_for
from scripted_peer import ScriptedPeer, confirm, pump

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.core.config import AgoraEgress, LiveKitEgress, SessionConfig
from avatarwire.core.errors import (
    ConfigError,
    ErrorCode,
    LocalProtocolError,
    RemoteProtocolError,
)
from avatarwire.core.events import RequestFinished, SessionClosed
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession, SessionState
from avatarwire.emulator import EmulatorThread

API_KEY = "sk-BADINPUT-api-key-0c1d"
AGORA_TOKEN = "agora-BADINPUT-token-77e"
TOKEN = "tok-BADINPUT-session-31f"
PCM = b"\x01\x00\xff\x7f" * 400  # 50 ms at 16 kHz
INJECTIONS = ("\r\nX-Evil: 1", "\n", "\r", "\x00")


def make(**overrides: Any) -> SessionConfig:
    fields: dict[str, Any] = {"api_key": API_KEY, "app_id": "app-1", "avatar_id": "avatar-1"}
    fields.update(overrides)
    return SessionConfig(**fields)


def agora(**overrides: Any) -> AgoraEgress:
    fields: dict[str, Any] = {"channel_name": "chan"}
    fields.update(overrides)
    return AgoraEgress(**fields)


def livekit(**overrides: Any) -> LiveKitEgress:
    fields: dict[str, Any] = {"url": "wss://lk.example", "room_name": "room", "api_token": "t"}
    fields.update(overrides)
    return LiveKitEgress(**fields)


BUILDERS: dict[str, Callable[..., object]] = {
    "session": make,
    "agora": agora,
    "livekit": livekit,
}


# --- every config field, wrong types and values ------------------------------------------
# Rows test_config.py does not already have, each with the words its message must hold.

CONFIG_REFUSALS: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("session", {"api_key": 42}, "api_key", ("a int", "expected a str")),
    ("session", {"api_key": "sk-key\x7f"}, "api_key", ("control characters",)),
    ("session", {"api_key": "sk-key\t"}, "api_key", ("control characters",)),
    ("session", {"app_id": None}, "app_id", ("None", "expected a str")),
    ("session", {"app_id": "app\x85"}, "app_id", ("control characters",)),
    ("session", {"app_id": "app\u2028"}, "app_id", ("whitespace",)),
    ("session", {"avatar_id": 7}, "avatar_id", ("7", "expected a str")),
    ("session", {"avatar_id": "av "}, "avatar_id", ("'av '", "whitespace")),
    ("session", {"region": b"us-west"}, "region", ("b'us-west'", "'us-west'")),
    ("session", {"environment": ""}, "environment", ("''", "'us-west'")),
    ("session", {"console_url": b"http://h/c"}, "console_url", ("bytes", "http://", "https://")),
    ("session", {"console_url": ""}, "console_url", ("''", "http://")),
    ("session", {"console_url": "http://h/c\x00"}, "console_url", ("control characters",)),
    ("session", {"console_url": "http://u:pw@h/c"}, "console_url", ("credentials",)),
    ("session", {"ingress_url": "ws://h:0/x"}, "ingress_url", ("1..65535",)),
    ("session", {"ingress_url": "ws://[::1/x"}, "ingress_url", ("ws://", "wss://")),
    ("session", {"ingress_url": "ws://h/x#frag"}, "ingress_url", ("fragment",)),
    ("session", {"ingress_url": "ws://h\r\nX: 1/x"}, "ingress_url", ("control characters",)),
    ("session", {"sample_rate": 16000.5}, "sample_rate", ("16000.5", "int")),
    ("session", {"sample_rate": False}, "sample_rate", ("False", "int")),
    ("session", {"sample_rate": 10**100}, "sample_rate", ("16000", "48000")),
    ("session", {"audio_format": b"pcm_s16le"}, "audio_format", ("'pcm_s16le'", "'ogg_opus'")),
    ("session", {"audio_format": "pcm_s16le "}, "audio_format", ("'pcm_s16le '", "'ogg_opus'")),
    ("session", {"bitrate": None}, "bitrate", ("None", "must be 0")),
    ("session", {"bitrate": "0"}, "bitrate", ("'0'", "must be 0")),
    ("session", {"bitrate": 0.0}, "bitrate", ("0.0", "must be 0")),
    ("session", {"audio_format": "ogg_opus", "bitrate": None}, "bitrate", ("6000..510000",)),
    ("session", {"audio_format": "ogg_opus", "bitrate": 10**20}, "bitrate", ("6000..510000",)),
    ("session", {"agora": AgoraEgress}, "agora", ("AgoraEgress or None",)),
    ("session", {"livekit": LiveKitEgress}, "livekit", ("LiveKitEgress or None",)),
    ("session", {"use_query_auth": None}, "use_query_auth", ("None", "bool")),
    ("session", {"use_query_auth": 0}, "use_query_auth", ("0", "bool")),
    ("session", {"extra_params": None}, "extra_params", ("None", "mapping of str to str")),
    ("session", {"extra_params": "a=b"}, "extra_params", ("'a=b'", "mapping")),
    ("session", {"extra_params": {"a": b"b"}}, "extra_params['a']", ("b'b'", "str")),
    ("agora", {"channel_name": None}, "agora.channel_name", ("None", "str")),
    ("agora", {"channel_name": b"c"}, "agora.channel_name", ("b'c'", "str")),
    ("agora", {"channel_name": "c\x00"}, "agora.channel_name", ("1..64", "ASCII letters")),
    ("agora", {"token": 5}, "agora.token", ("a int", "str")),
    ("agora", {"token": b"t"}, "agora.token", ("a bytes", "str")),
    ("agora", {"uid": 1.0}, "agora.uid", ("1.0", "0..4294967295")),
    ("agora", {"uid": None}, "agora.uid", ("None", "0..4294967295")),
    ("agora", {"uid": 2**64}, "agora.uid", ("0..4294967295",)),
    ("agora", {"publisher_id": None}, "agora.publisher_id", ("None", "str")),
    ("livekit", {"url": None}, "livekit.url", ("str", "wss://")),
    ("livekit", {"url": b"wss://lk"}, "livekit.url", ("bytes", "wss://")),
    ("livekit", {"url": "wss://lk\x00"}, "livekit.url", ("control characters",)),
    ("livekit", {"url": "wss:///x"}, "livekit.url", ("no host",)),
    ("livekit", {"url": "wss://lk.example/x y"}, "livekit.url", ("whitespace",)),
    ("livekit", {"url": "ws://lk:99999"}, "livekit.url", ("1..65535",)),
    ("livekit", {"room_name": None}, "livekit.room_name", ("None", "str")),
    ("livekit", {"room_name": 5}, "livekit.room_name", ("5", "str")),
    ("livekit", {"room_name": "r\x00"}, "livekit.room_name", ("control characters",)),
    ("livekit", {"room_name": " r"}, "livekit.room_name", ("whitespace",)),
    ("livekit", {"api_token": None}, "livekit.api_token", ("NoneType", "str")),
    ("livekit", {"api_token": b"t"}, "livekit.api_token", ("bytes", "str")),
    ("livekit", {"api_token": "", "api_key": 5, "api_secret": "s"}, "livekit.api_key", ("str",)),
    ("livekit", {"api_token": "", "api_key": "k", "api_secret": None}, "livekit.api_secret", ()),
    ("livekit", {"publisher_id": b"p"}, "livekit.publisher_id", ("b'p'", "str")),
    ("livekit", {"extra_attributes": None}, "livekit.extra_attributes", ("mapping",)),
    ("livekit", {"extra_attributes": [("k", "v")]}, "livekit.extra_attributes", ("mapping",)),
    ("livekit", {"extra_attributes": {1: "v"}}, "livekit.extra_attributes[1]", ("str",)),
    ("livekit", {"idle_timeout": None}, "livekit.idle_timeout", ("None", "0..2147483647")),
    ("livekit", {"idle_timeout": "30"}, "livekit.idle_timeout", ("'30'", "0..2147483647")),
    ("livekit", {"idle_timeout": True}, "livekit.idle_timeout", ("True", "0..2147483647")),
]


@pytest.mark.parametrize(
    ("builder", "fields", "field", "words"),
    CONFIG_REFUSALS,
    ids=[f"{row[2]}={next(iter(row[1].values()))!r}"[:60] for row in CONFIG_REFUSALS],
)
def test_each_bad_config_value_is_refused_naming_the_field_and_what_is_allowed(
    builder: str, fields: dict[str, Any], field: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigError) as info:
        BUILDERS[builder](**fields)
    error = info.value
    message = str(error)
    assert error.field == field
    assert f"{field}: got " in message, message
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"
    assert error.code is ErrorCode.INVALID_REQUEST
    assert API_KEY not in message


# --- header injection: refused before anything exists to send ---------------------------------

HEADER_FIELDS: list[tuple[str, str, Callable[[str], object]]] = [
    ("api_key", "api_key", lambda bad: make(api_key="sk-key" + bad)),
    ("app_id", "app_id", lambda bad: make(app_id="app" + bad)),
    ("avatar_id", "avatar_id", lambda bad: make(avatar_id="avatar" + bad)),
    ("agora.channel_name", "agora.channel_name", lambda bad: agora(channel_name="c" + bad)),
    ("livekit.url", "livekit.url", lambda bad: livekit(url="wss://lk.example/x" + bad)),
    ("livekit.room_name", "livekit.room_name", lambda bad: livekit(room_name="room" + bad)),
    ("ingress_url", "ingress_url", lambda bad: make(ingress_url="wss://h/x" + bad)),
    ("console_url", "console_url", lambda bad: make(console_url="https://h/x" + bad)),
]


@pytest.mark.parametrize("injection", INJECTIONS, ids=repr)
@pytest.mark.parametrize(
    ("name", "field", "build"), HEADER_FIELDS, ids=[r[0] for r in HEADER_FIELDS]
)
def test_control_characters_in_identifiers_and_urls_are_refused_at_construction(
    name: str, field: str, build: Callable[[str], object], injection: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(injection)
    assert info.value.field == field
    message = str(info.value)
    assert "\r" not in message and "\n" not in message and "\x00" not in message
    assert "control characters" in message or "ASCII letters" in message, message


EGRESS_SECRETS: list[tuple[str, Callable[[str], object]]] = [
    ("agora.token", lambda bad: agora(token=AGORA_TOKEN + bad)),
    ("livekit.api_token", lambda bad: livekit(api_token="lk-token" + bad)),
    ("livekit.api_key", lambda bad: livekit(api_token="", api_key="lk" + bad, api_secret="s")),
    ("livekit.api_secret", lambda bad: livekit(api_token="", api_key="k", api_secret="s" + bad)),
]


@pytest.mark.parametrize(("field", "build"), EGRESS_SECRETS, ids=[r[0] for r in EGRESS_SECRETS])
def test_control_characters_in_egress_secrets_are_refused_without_showing_them(
    field: str, build: Callable[[str], object]
) -> None:
    """A token read from a file with its newline, or a smuggled header, fails at once."""
    for injection in INJECTIONS:
        with pytest.raises(ConfigError) as info:
            build(injection)
        assert info.value.field == field
        assert "control characters" in str(info.value)
        assert AGORA_TOKEN not in str(info.value)


class RecordingListener:
    """A loopback listening socket that only counts who connected: proof that a call
    refused its input before opening any connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[RecordingListener]:
    recording = RecordingListener()
    yield recording
    recording.close()


def _listener_config(listener: RecordingListener) -> SessionConfig:
    base = f"127.0.0.1:{listener.port}"
    return make(console_url=f"http://{base}/v1/console", ingress_url=f"ws://{base}/v2/i")


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("injection", INJECTIONS, ids=repr)
def test_a_session_token_with_control_characters_opens_no_connection(
    binding: str, injection: str, listener: RecordingListener
) -> None:
    config = _listener_config(listener)
    token = TOKEN + injection + "X-Evil: 1"
    with pytest.raises(LocalProtocolError) as info:
        if binding == "asyncio":

            async def main() -> None:
                async with asyncio_binding.connect(config, session_token=token):
                    pass

            asyncio.run(main())
        elif binding == "trio":

            async def trio_main() -> None:
                async with trio_binding.connect(config, session_token=token):
                    pass

            trio.run(trio_main)
        else:
            with blocking_binding.connect(config, session_token=token):
                pass
    assert "session_token" in str(info.value) and "control characters" in str(info.value)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert listener.connections() == 0


def test_the_core_refuses_a_token_with_control_characters_before_queueing_the_upgrade() -> None:
    for injection in INJECTIONS:
        with pytest.raises(LocalProtocolError, match="control characters"):
            ClientSession(make(), TOKEN + injection, request_ids=sequential_request_ids())
    for bad in ("", None, b"tok", 5):
        with pytest.raises(
            LocalProtocolError, match=r"session_token: .*expected a (non-empty )?str"
        ):
            ClientSession(make(), bad, request_ids=sequential_request_ids())  # type: ignore[arg-type]


# --- calls in the wrong state, in memory ------------------------------------------------------


def _client() -> ClientSession:
    return ClientSession(make(), TOKEN, request_ids=sequential_request_ids())


def in_state(state: SessionState) -> tuple[ClientSession, ScriptedPeer]:
    """A client core in ``state`` (with one request sent, where it got that far)."""
    client, peer = _client(), ScriptedPeer()
    pump(client, peer)
    if state is SessionState.CONNECTING:
        return client, peer
    peer.accept()
    pump(client, peer)
    if state is SessionState.CONFIGURING:
        return client, peer
    peer.send(confirm(capabilities=("playback_control",)))
    pump(client, peer)
    client.send_audio(PCM)
    pump(client, peer)
    client.close()
    if state is SessionState.CLOSING:
        return client, peer
    pump(client, peer)
    assert client.state is SessionState.CLOSED
    return client, peer


CALLS: dict[str, Callable[[ClientSession], object]] = {
    "send_audio": lambda client: client.send_audio(PCM, end=True),
    "interrupt": lambda client: client.interrupt(),
    "pause": lambda client: client.pause(),
    "resume": lambda client: client.resume(),
}
WRONG_STATES = (
    SessionState.CONNECTING,
    SessionState.CONFIGURING,
    SessionState.CLOSING,
    SessionState.CLOSED,
)


@pytest.mark.parametrize("state", WRONG_STATES, ids=lambda s: s.name)
@pytest.mark.parametrize("call", CALLS)
def test_every_call_in_a_wrong_state_is_refused_naming_call_and_state(
    call: str, state: SessionState
) -> None:
    client, _ = in_state(state)
    client.data_to_send()
    client.events()
    with pytest.raises(LocalProtocolError) as info:
        CALLS[call](client)
    message = str(info.value)
    assert f"{call}()" in message and state.name in message, message
    assert client.state is state
    assert client.data_to_send() == b""
    assert client.events() == []


def test_close_in_closing_or_closed_is_a_quiet_no_op() -> None:
    for state in (SessionState.CLOSING, SessionState.CLOSED):
        client, _ = in_state(state)
        client.data_to_send()
        client.events()
        client.close()
        client.close(4000, "again")
        assert client.state is state
        assert client.data_to_send() == b""
        assert client.events() == []


# --- audio of the wrong type or shape --------------------------------------------------------


def ready() -> tuple[ClientSession, ScriptedPeer]:
    client, peer = _client(), ScriptedPeer()
    pump(client, peer)
    peer.accept()
    pump(client, peer)
    peer.send(confirm())
    pump(client, peer)
    client.data_to_send()
    client.events()
    return client, peer


BAD_AUDIO: list[tuple[object, str]] = [
    ("\x00\x01", "got str"),
    (1234, "got int"),
    ([0, 1, 2, 3], "got list"),
    (None, "got NoneType"),
    ({"pcm": b"\x00\x00"}, "got dict"),
    (array.array("h", [1, 2, 3]), "got array"),  # what a numpy-like buffer looks like
]


@pytest.mark.parametrize(("audio", "words"), BAD_AUDIO, ids=lambda v: type(v).__name__)
def test_bad_audio_is_refused_saying_what_was_given_and_what_is_accepted(
    audio: object, words: str
) -> None:
    client, _ = ready()
    with pytest.raises(LocalProtocolError) as info:
        client.send_audio(audio)  # type: ignore[arg-type]
    message = str(info.value)
    assert words in message, message
    assert "bytes" in message  # what is accepted / the unit
    assert client.data_to_send() == b""
    assert client.requests.latest is None, "a refused call opened a request"


@pytest.mark.parametrize(
    ("audio", "words"),
    [
        (b"\x00\x01\x02", "3 bytes"),
        (bytearray(b"\x00"), "1 bytes"),
        (memoryview(b"\x00" * 641), "641 bytes"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_a_request_that_would_end_on_half_a_sample_is_refused_naming_the_count(
    audio: bytes | bytearray | memoryview, words: str
) -> None:
    client, _ = ready()
    with pytest.raises(LocalProtocolError) as info:
        client.send_audio(audio, end=True)
    message = str(info.value)
    assert words in message and "odd" in message and "half a sample" in message, message
    assert client.data_to_send() == b""
    assert client.requests.latest is None, "a refused call opened a request"


@pytest.mark.parametrize("end", [1, "yes", None, b""])
def test_end_must_be_a_bool(end: object) -> None:
    client, _ = ready()
    with pytest.raises(LocalProtocolError, match="end must be a bool"):
        client.send_audio(PCM, end)  # type: ignore[arg-type]
    assert client.data_to_send() == b""


def test_a_refused_chunk_does_not_end_or_split_the_current_request() -> None:
    client, peer = ready()
    first = client.send_audio(PCM)
    with pytest.raises(LocalProtocolError):
        client.send_audio(PCM + b"\x00", end=True)
    second = client.send_audio(PCM, end=True)
    pump(client, peer)
    assert first == second
    audio = [m.client_audio_input for m in peer.messages if m.HasField("client_audio_input")]
    assert b"".join(a.audio for a in audio) == PCM + PCM
    assert [a.end for a in audio] == [False, True]


# --- close() arguments ------------------------------------------------------------------------

BAD_CLOSE_CODES: list[object] = [999, 1004, 1005, 1006, 1015, 2999, 5000, -1, True, "1000", None]
BAD_CLOSE_REASONS: list[object] = [
    "x" * 124,
    "é" * 62,  # 124 UTF-8 bytes
    "x" * 100_000,
    b"bye",
    None,
    5,
]


def _assert_still_ready_and_closes_cleanly(client: ClientSession, peer: ScriptedPeer) -> None:
    assert client.state is SessionState.READY
    assert client.data_to_send() == b""
    assert client.events() == []
    client.close(1000, "é" * 61 + "x")  # exactly 123 bytes is fine
    pump(client, peer)
    assert peer.closes and peer.closes[0].reason == "é" * 61 + "x"
    assert client.events() == [SessionClosed(1000, "é" * 61 + "x", None)]


@pytest.mark.parametrize("code", BAD_CLOSE_CODES, ids=repr)
def test_a_bad_close_code_is_refused_listing_the_allowed_codes(code: object) -> None:
    client, peer = ready()
    with pytest.raises(LocalProtocolError) as info:
        client.close(code)  # type: ignore[arg-type]
    assert "close code" in str(info.value) and "3000-4999" in str(info.value)
    assert repr(code) in str(info.value)
    _assert_still_ready_and_closes_cleanly(client, peer)


@pytest.mark.parametrize("reason", BAD_CLOSE_REASONS, ids=lambda r: f"{type(r).__name__}")
def test_a_bad_close_reason_is_refused_saying_the_limit(reason: object) -> None:
    client, peer = ready()
    with pytest.raises(LocalProtocolError) as info:
        client.close(1000, reason)  # type: ignore[arg-type]
    assert "close reason" in str(info.value) and "123" in str(info.value)
    assert len(str(info.value)) < 300
    _assert_still_ready_and_closes_cleanly(client, peer)


def test_a_close_reason_that_is_not_utf8_encodable_is_refused() -> None:
    client, peer = ready()
    with pytest.raises(LocalProtocolError) as info:
        client.close(1000, "bye \ud800")
    assert "close reason" in str(info.value) and "UTF-8" in str(info.value)
    _assert_still_ready_and_closes_cleanly(client, peer)


# --- malformed close frames from the server ----------------------------------------------------


def close_frame(code: int, reason: bytes) -> bytes:
    """A server close frame (unmasked), built byte by byte so any reason can be sent."""
    payload = code.to_bytes(2, "big") + reason
    if len(payload) <= 125:
        return bytes([0x88, len(payload)]) + payload
    return bytes([0x88, 126]) + len(payload).to_bytes(2, "big") + payload


def test_a_server_close_reason_of_123_bytes_is_reported_whole() -> None:
    client, peer = ready()
    reason = "é" * 61 + "x"
    client.receive_data(close_frame(4001, reason.encode()))
    [closed] = client.events()
    assert isinstance(closed, SessionClosed)
    assert (closed.code, closed.reason) == (4001, reason)
    assert closed.error is not None and closed.error.close_reason == reason
    assert closed.error.code is ErrorCode.CREDITS_EXHAUSTED
    peer.feed(client.data_to_send())
    assert [c.code for c in peer.closes] == [4001]  # the close is echoed
    client.receive_data(b"")
    assert client.events() == []


@pytest.mark.parametrize(
    ("reason", "close_code"),
    [(b"\xff\xfe bad utf-8", 1007), (b"x" * 124, 1002)],
    ids=["non-utf8", "124-byte-reason"],
)
def test_a_malformed_close_frame_fails_the_connection_as_a_protocol_error(
    reason: bytes, close_code: int
) -> None:
    client, peer = ready()
    client.receive_data(close_frame(4001, reason))
    events = client.events()
    assert len(events) == 1 and isinstance(events[0], SessionClosed)
    error = events[0].error
    assert isinstance(error, RemoteProtocolError), repr(error)
    assert error.code is ErrorCode.PROTOCOL_ERROR
    assert "frame" in error.message.lower()  # wsproto names what was wrong with it
    assert client.state is SessionState.ERROR and client.error is error
    peer.feed(client.data_to_send())
    assert [c.code for c in peer.closes] == [close_code]


def test_a_malformed_close_frame_ends_the_session_once_without_a_crash() -> None:
    for reason in (b"\xff\xfe bad utf-8", b"x" * 124, b"\xc3"):
        client, _ = ready()
        client.receive_data(close_frame(4001, reason))
        events = client.events()
        assert len(events) == 1 and isinstance(events[0], SessionClosed)
        assert events[0].error is not None
        assert client.state is SessionState.ERROR and client.error is events[0].error
        client.receive_data(b"more")
        client.receive_data(b"")
        assert client.events() == []


# --- through the bindings, against the emulator ----------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as running:
        yield running


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


def emulator_config(emu: EmulatorThread, **overrides: Any) -> SessionConfig:
    fields: dict[str, Any] = {
        "api_key": emu.api_key,
        "app_id": emu.app_id,
        "avatar_id": emu.avatar_id,
        "console_url": emu.console_url,
        "ingress_url": emu.ingress_url,
    }
    fields.update(overrides)
    return SessionConfig(**fields)


def published(emu: EmulatorThread, channel: str, connection_id: str | None) -> dict[str, Any]:
    """The sink's record of one session in an Agora channel."""
    [publisher] = [p for p in emu.egress()["agora"][channel] if p["connection_id"] == connection_id]
    record: dict[str, Any] = publisher
    return record


async def _finish(session: Any, req_id: str) -> None:
    while await session.next_event() != RequestFinished(req_id, interrupted=False):
        pass


def test_oversize_audio_is_split_and_arrives_whole(api: Api, emu: EmulatorThread) -> None:
    """5 MB in one call (over the 4 MB message limit, 80 chunks of 64 KB) is one request
    whose bytes the service got unchanged."""
    channel = f"big-{api.name}-{uuid.uuid4().hex[:8]}"
    audio = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)
    config = emulator_config(emu, agora=AgoraEgress(channel, token=AGORA_TOKEN))

    async def scenario(api: Api) -> tuple[str, str | None]:
        async with api.connect(config) as session:
            req_id = await session.send_audio(audio, end=True)
            await _finish(session, req_id)
            return req_id, session.connection_id

    req_id, connection_id = api.run(scenario)
    [request] = published(emu, channel, connection_id)["requests"]
    assert request["req_id"] == req_id
    assert request["audio_bytes"] == len(audio)
    assert request["audio_sha256"] == hashlib.sha256(audio).hexdigest()


def test_pcm_split_inside_samples_arrives_whole(api: Api, emu: EmulatorThread) -> None:
    channel = f"split-{api.name}-{uuid.uuid4().hex[:8]}"
    config = emulator_config(emu, agora=AgoraEgress(channel))
    audio = bytes(range(256)) * 25  # 6400 bytes, cut below at odd offsets
    cuts = [0, 1, 2, 5, 6, 7, 1001, 3333, 6399, len(audio)]

    async def scenario(api: Api) -> tuple[set[str], str | None]:
        req_ids = set()
        async with api.connect(config) as session:
            for start, stop in itertools.pairwise(cuts):
                end = stop == len(audio)
                req_ids.add(await session.send_audio(audio[start:stop], end=end))
            (req_id,) = req_ids
            await _finish(session, req_id)
            return req_ids, session.connection_id

    req_ids, connection_id = api.run(scenario)
    [request] = published(emu, channel, connection_id)["requests"]
    assert {request["req_id"]} == req_ids
    assert request["audio_bytes"] == len(audio)
    assert request["audio_sha256"] == hashlib.sha256(audio).hexdigest()


def test_refused_audio_sends_nothing_and_the_session_goes_on(api: Api, emu: EmulatorThread) -> None:
    channel = f"refused-{api.name}-{uuid.uuid4().hex[:8]}"
    config = emulator_config(emu, agora=AgoraEgress(channel))

    async def scenario(api: Api) -> tuple[str, str | None, list[str]]:
        refusals = []
        async with api.connect(config) as session:
            for bad in ("text", 5, None, [1, 2], b"\x00\x01\x02", array.array("h", [1])):
                with pytest.raises(LocalProtocolError) as info:
                    await session.send_audio(bad, end=True)  # type: ignore[arg-type]
                refusals.append(str(info.value))
            req_id = await session.send_audio(PCM, end=True)
            await _finish(session, req_id)
            return req_id, session.connection_id, refusals

    req_id, connection_id, refusals = api.run(scenario)
    assert len(refusals) == 6
    [request] = published(emu, channel, connection_id)["requests"]
    assert request["req_id"] == req_id
    assert request["audio_sha256"] == hashlib.sha256(PCM).hexdigest()


def test_calls_after_the_session_closed_are_refused(api: Api, emu: EmulatorThread) -> None:
    config = emulator_config(emu)

    async def scenario(api: Api) -> list[str]:
        messages: list[str] = []
        async with api.connect(config) as session:
            await session.send_audio(PCM, end=True)
            await session.close()
            with pytest.raises(LocalProtocolError) as sending:
                await session.send_audio(PCM)
            with pytest.raises(LocalProtocolError) as interrupting:
                await session.interrupt()
            messages += [str(sending.value), str(interrupting.value)]
        return messages

    messages = api.run(scenario)
    assert all("CLOSED" in message for message in messages), messages


def test_an_unknown_connect_option_is_named() -> None:
    from avatarwire.bindings.blocking import connect

    config = SessionConfig(api_key="key-1234", app_id="app", avatar_id="avatar")
    with pytest.raises(TypeError) as caught, connect(config, max_queued_event=5):  # type: ignore[call-arg]
        pass
    message = str(caught.value)
    assert isinstance(caught.value, ConfigError) and caught.value.field == "max_queued_event"
    assert "did you mean max_queued_events?" in message and "ping_timeout" in message, message


def test_a_misspelt_secret_keyword_is_named_without_its_value() -> None:
    from avatarwire.bindings.trio import connect

    async def main() -> None:
        async with connect(
            SessionConfig(api_key="key-1234", app_id="app", avatar_id="avatar"),
            sesion_token="tok-SECRET-99",
        ):  # type: ignore[call-arg]
            pass

    with pytest.raises(ConfigError) as caught:
        trio.run(main)
    assert "sesion_token" in str(caught.value) and "did you mean session_token?" in str(
        caught.value
    )
    assert "SECRET" not in str(caught.value) + repr(caught.value)
