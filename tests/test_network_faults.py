"""What networks do to a session, through a fault-injecting proxy, in every binding.

Under each fault a binding either delivers every frame, in order, or raises (or
closes with) an avatarwire error of the right class within the configured time;
a half-open connection is noticed within ping interval + ping timeout; no socket
is left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from binding_adapters import BINDINGS, Api, api_for, client_sockets_to
from fault_proxy import DOWN, UP, Cut, FaultProxy, Faults

from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, ErrorCode, LocalProtocolError, Phase
from avatarwire.core.events import AnimationFrame, RequestFinished, SessionClosed
from avatarwire.core.steps import Timeouts
from avatarwire.core.wire import Message
from avatarwire.emulator import EmulatorThread

SHORT = 0.4
QUICK = Timeouts(token=SHORT, upgrade=SHORT, handshake=SHORT, close=SHORT)
PCM_ONE_SECOND = b"\x10\x01" * 16000
#: Small keepalive settings, so a half-open connection shows quickly.
PING_INTERVAL, PING_TIMEOUT = 0.2, 0.3


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as running:
        yield running


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


def through(emu: EmulatorThread, proxy: FaultProxy, *, console: bool = False) -> SessionConfig:
    """The emulator's config with the ingress (or the console) behind the proxy."""
    config = emu.session_config()
    if console:
        return emu.session_config(console_url=_via(config.console_url, proxy.port))
    return emu.session_config(ingress_url=_via(config.ingress_url, proxy.port))


def motion_of(frame: bytes) -> bytes:
    """A frame without the ids that differ from session to session."""
    message = Message.FromString(frame)
    message.server_response_animation.connection_id = ""
    message.server_response_animation.req_id = ""
    return message.SerializeToString(deterministic=True)


def frames_of_one_request(api: Api, config: SessionConfig, **options: Any) -> list[bytes]:
    """Send one second of audio as one request; its frames' motion, checked to come
    whole and in order; the session's error if it ended first."""

    async def scenario(api: Api) -> list[bytes]:
        async with api.connect(config, **options) as session:
            req_id = await session.send_audio(PCM_ONE_SECOND, end=True)
            frames: list[AnimationFrame] = []
            while True:
                event = await session.next_event()
                if isinstance(event, AnimationFrame):
                    frames.append(event)
                elif isinstance(event, RequestFinished) and not event.interrupted:
                    assert event.req_id == req_id
                    break
                elif isinstance(event, SessionClosed):
                    assert event.error is not None, "closed without an error"
                    raise event.error
        assert {f.req_id for f in frames} == {req_id}
        assert [f.end for f in frames] == [False] * (len(frames) - 1) + [True]
        return [motion_of(f.data) for f in frames]

    return api.run(scenario)


@pytest.fixture(scope="module")
def reference_frames(emu: EmulatorThread) -> list[bytes]:
    """What one request gets with no fault in the way."""
    return frames_of_one_request(api_for("blocking"), emu.session_config())


def outcome_under(api: Api, emu: EmulatorThread, faults: Faults, **options: Any) -> object:
    """Frames of one request through the proxy, or the avatarwire error it ended in."""
    with FaultProxy(emu.port, faults) as proxy:
        try:
            result: object = frames_of_one_request(api, through(emu, proxy), **options)
        except AvatarError as exc:
            result = exc
        assert client_sockets_to(proxy.port) == 0  # nothing left open
    return result


# --- faults a session must ride out ---------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(latency=0.005, jitter=0.01, seed=7),
        Faults(byte_at_a_time=True),
        Faults(first_reply_delay=SHORT / 2),
    ],
    ids=["latency-and-jitter", "byte-at-a-time", "slow-101-in-time"],
)
def test_every_frame_arrives_in_order_through_a_slow_or_choppy_network(
    api: Api, emu: EmulatorThread, reference_frames: list[bytes], faults: Faults
) -> None:
    assert outcome_under(api, emu, faults, timeouts=Timeouts(upgrade=5.0)) == reference_frames


# --- faults that end a session: the right error, in time ---------------------------------------


@pytest.mark.parametrize(
    "cut",
    [
        Cut(DOWN, after=15, how="rst"),
        Cut(DOWN, after=15, how="fin"),
        Cut(DOWN, after=-2, how="rst", after_head=True),
        Cut(DOWN, after=-2, how="fin", after_head=True),
    ],
    ids=["rst-inside-101", "fin-inside-101", "rst-at-101-end", "fin-at-101-end"],
)
def test_a_connection_cut_inside_the_101_is_a_retryable_failed_connection(
    api: Api, emu: EmulatorThread, cut: Cut
) -> None:
    error = outcome_under(api, emu, Faults(cut=cut), timeouts=QUICK)
    assert isinstance(error, AvatarError) and not isinstance(error, LocalProtocolError)
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.WEBSOCKET_CONNECT)
    assert error.retryable


@pytest.mark.parametrize(
    "cut",
    [Cut(DOWN, after=300, how="rst", after_head=True), Cut(UP, after=2000, after_head=True)],
    ids=["rst-mid-frame-from-server", "rst-mid-frame-to-server"],
)
def test_a_reset_mid_frame_ends_the_session_as_a_retryable_closed_connection(
    api: Api, emu: EmulatorThread, cut: Cut
) -> None:
    error = outcome_under(api, emu, Faults(cut=cut), timeouts=QUICK)
    assert isinstance(error, AvatarError), error
    assert not isinstance(error, LocalProtocolError)
    assert error.code is ErrorCode.CONNECTION_CLOSED and error.retryable


def test_a_slow_101_past_the_upgrade_timeout_is_a_failed_connection(
    api: Api, emu: EmulatorThread
) -> None:
    error = outcome_under(api, emu, Faults(first_reply_delay=4 * SHORT), timeouts=QUICK)
    assert isinstance(error, AvatarError)
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.WEBSOCKET_CONNECT)
    assert "timed out" in error.message and error.retryable


def test_a_slow_console_past_the_token_timeout_is_a_failed_connection(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> None:
        async with api.connect(config, timeouts=QUICK):
            pass

    with FaultProxy(emu.port, Faults(first_reply_delay=4 * SHORT)) as proxy:
        config = through(emu, proxy, console=True)
        with pytest.raises(AvatarError) as caught:
            api.run(scenario)
        assert client_sockets_to(proxy.port) == 0
    assert (caught.value.code, caught.value.phase) == (
        ErrorCode.CONNECTION_FAILED,
        Phase.SESSION_TOKEN,
    )


def test_a_half_open_connection_is_noticed_within_interval_and_timeout(
    api: Api, emu: EmulatorThread
) -> None:
    async def scenario(api: Api) -> tuple[SessionClosed, float]:
        async with api.connect(
            config, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT
        ) as session:
            req_id = await session.send_audio(PCM_ONE_SECOND, end=True)
            while not isinstance(await session.next_event(), RequestFinished):
                pass
            proxy.go_silent()
            silent_since = time.monotonic()
            events = await session.events_until_closed(timeout=10 * (PING_INTERVAL + PING_TIMEOUT))
            took = time.monotonic() - silent_since
            status = session.request(req_id)
            assert status is not None and status.finished
            with pytest.raises(AvatarError) as caught:
                await session.send_audio(PCM_ONE_SECOND)
            assert caught.value.code is ErrorCode.CONNECTION_CLOSED
        closed = events[-1]
        assert isinstance(closed, SessionClosed)
        return closed, took

    with FaultProxy(emu.port) as proxy:
        config = through(emu, proxy)
        closed, took = api.run(scenario)
        assert client_sockets_to(proxy.port) == 0
    assert closed.error is not None
    assert closed.error.code is ErrorCode.CONNECTION_CLOSED and closed.error.retryable
    assert "keepalive" in closed.error.message
    assert took >= PING_INTERVAL
