"""Every binding reaches the emulator through a real CONNECT proxy on loopback."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from binding_adapters import BINDINGS, Api, api_for
from connect_proxy import ConnectProxy

from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, ConfigError, ErrorCode, Phase
from avatarwire.core.events import RequestFinished
from avatarwire.core.steps import Timeouts
from avatarwire.emulator import EmulatorThread

PCM = b"\x01\x00" * 1600
PASSWORD = "proxy-pa55word"


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as running:
        yield running


async def one_request(api: Api, config: SessionConfig, **options: Any) -> str | None:
    """Open a session, send one request, wait for it to finish; the connection id."""
    async with api.connect(config, **options) as session:
        req_id = await session.send_audio(PCM, end=True)
        while True:
            event = await session.next_event()
            if isinstance(event, RequestFinished) and event.req_id == req_id:
                break
        return session.connection_id


def open_error(api: Api, config: SessionConfig, **options: Any) -> AvatarError:
    with pytest.raises(AvatarError) as caught:
        api.run(lambda api: one_request(api, config, **options))
    return caught.value


def test_a_session_goes_through_the_proxy_set_by_the_environment(
    api: Api, emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        connection_id = api.run(lambda api: one_request(api, emu.session_config()))
    assert connection_id
    # Both legs: the console request and the ingress socket.
    assert proxy.seen.targets == [f"127.0.0.1:{emu.port}"] * 2


def test_no_proxy_bypasses_the_proxy(
    api: Api, emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
        assert api.run(lambda api: one_request(api, emu.session_config()))
    assert proxy.seen.targets == []


def test_proxy_credentials_are_sent_and_a_wrong_password_is_a_named_407(
    api: Api, emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ConnectProxy(username="alice", password=PASSWORD) as proxy:
        good = f"http://alice:{PASSWORD}@127.0.0.1:{proxy.port}"
        assert api.run(lambda api: one_request(api, emu.session_config(), proxy=good))
        monkeypatch.setenv("HTTP_PROXY", f"http://alice:wrong-{PASSWORD}@127.0.0.1:{proxy.port}")
        error = open_error(api, emu.session_config())
    assert (error.code, error.phase, error.http_status) == (
        ErrorCode.CONNECTION_FAILED,
        Phase.SESSION_TOKEN,
        407,
    )
    assert "proxy refused the tunnel: HTTP 407" in error.message
    assert proxy.url in error.message
    for text in (str(error), repr(error), caplog.text):
        assert PASSWORD not in text


def test_a_proxy_that_refuses_the_ingress_leg_fails_the_connect_phase(
    api: Api, emu: EmulatorThread
) -> None:
    with ConnectProxy("refuse:403") as proxy:

        async def scenario(api: Api) -> None:
            token = await api.fetch_token(emu.session_config())
            async with api.connect(emu.session_config(), session_token=token, proxy=proxy.url):
                pass

        with pytest.raises(AvatarError) as caught:
            api.run(scenario)
    error = caught.value
    assert (error.code, error.phase, error.http_status) == (
        ErrorCode.CONNECTION_FAILED,
        Phase.WEBSOCKET_CONNECT,
        403,
    )


def test_a_stalled_proxy_times_out_in_its_own_step(api: Api, emu: EmulatorThread) -> None:
    with ConnectProxy("stall") as proxy:
        error = open_error(
            api,
            emu.session_config(),
            proxy=proxy.url,
            timeouts=Timeouts(proxy_connect=0.2),
        )
    assert (error.code, error.phase) == (ErrorCode.CONNECTION_FAILED, Phase.SESSION_TOKEN)
    assert "opening the tunnel through the proxy (HTTP CONNECT)" in error.message
    assert proxy.url in error.message


def test_proxy_false_ignores_the_environment(
    api: Api, emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    assert api.run(lambda api: one_request(api, emu.session_config(), proxy=False))


def test_a_bad_proxy_variable_is_a_config_error_naming_it(
    api: Api, emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"https://u:{PASSWORD}@proxy:1")
    with pytest.raises(ConfigError) as caught:
        api.run(lambda api: one_request(api, emu.session_config()))
    assert "HTTP_PROXY" in str(caught.value) and PASSWORD not in str(caught.value)


# --- TLS to the service, end to end inside the tunnel ---------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_emu(authority: trustme.CA) -> Iterator[EmulatorThread]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with EmulatorThread(realtime=False, ssl_context=context) as running:
        yield running


def test_tls_to_the_service_runs_through_the_tunnel(
    api: Api, tls_emu: EmulatorThread, authority: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    config = tls_emu.session_config()
    assert config.console_endpoint.secure and config.ingress_endpoint.secure
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https targets
        assert api.run(lambda api: one_request(api, config, ssl_context=trusting))
    assert proxy.seen.targets == [f"127.0.0.1:{tls_emu.port}"] * 2


def test_an_untrusted_certificate_behind_the_tunnel_fails_the_tls_step(
    api: Api, tls_emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        error = open_error(api, tls_emu.session_config())
    assert error.code is ErrorCode.CONNECTION_FAILED and "TLS" in error.message
    assert proxy.url in error.message
