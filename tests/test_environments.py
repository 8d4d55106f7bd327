"""Environments: presets, the config-service lookup (sans-IO and through each
binding, against a loopback service), its cache, its switches and its fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from binding_adapters import BINDINGS, Api, api_for
from loopback_service import LoopbackService

from avatarwire.bindings import _common
from avatarwire.bindings._common import (
    CONFIG_SERVICE_ENV,
    NO_LOOKUP_ENV,
    ConnectOptions,
    environment_lookup,
    forget_environments,
)
from avatarwire.core.config import SessionConfig
from avatarwire.core.environments import (
    BUILTIN_ENVIRONMENTS,
    CONFIG_SERVICE_URL,
    EnvironmentLookup,
    resolve_environment,
)
from avatarwire.core.errors import ConfigError, ErrorCode

# --- the lookup, sans-IO ---------------------------------------------------------------------


def response(status: int, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return head + body


def test_the_lookup_is_one_get_of_the_config_service() -> None:
    lookup = EnvironmentLookup()
    request = lookup.data_to_send()
    assert request.startswith(b"GET /sdk HTTP/1.1\r\n")
    assert b"host: config.spatialreal.cloud\r\n" in request.lower()
    assert lookup.endpoint.secure and lookup.endpoint.port == 443
    assert lookup.data_to_send() == b""
    assert CONFIG_SERVICE_URL == "https://config.spatialreal.cloud/sdk"


def test_the_lookup_reads_the_environments_whatever_the_chunking() -> None:
    body = json.dumps(
        {
            "environments": {
                "us-west": {"api": "https://a", "driveningress": "https://d"},
                "half": {"api": "https://only-api"},
                "bad": {"api": 5},
                "worse": "nope",
            }
        }
    ).encode()
    lookup = EnvironmentLookup("http://127.0.0.1:1/sdk")
    for byte in response(200, body):
        lookup.receive_data(bytes([byte]))
    assert lookup.done and lookup.error is None
    assert lookup.environments == {
        "us-west": {"api": "https://a", "driveningress": "https://d"},
        "half": {"api": "https://only-api"},
    }


@pytest.mark.parametrize(
    "reply",
    [
        response(500, b"{}"),
        response(200, b"not json"),
        response(200, b"[1]"),
        response(200, b'{"environments": []}'),
        response(200, b"\xff"),
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{",  # then EOF
        b"garbage\r\n\r\n",
    ],
)
def test_any_failed_lookup_leaves_no_environments(reply: bytes) -> None:
    lookup = EnvironmentLookup("http://127.0.0.1:1/sdk")
    lookup.receive_data(reply)
    lookup.receive_data(b"")
    assert lookup.done
    assert lookup.environments == {}


def test_a_bad_config_service_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="config_service_url"):
        EnvironmentLookup("ftp://example/sdk")


def test_resolution_takes_the_service_first_and_the_preset_for_what_it_lacks() -> None:
    preset = BUILTIN_ENVIRONMENTS["us-west"]
    assert resolve_environment("us-west") == preset
    partial = resolve_environment("us-west", {"us-west": {"driveningress": "https://d"}})
    assert (partial.api, partial.driveningress) == (preset.api, "https://d")
    with pytest.raises(ConfigError, match="known environments: 'half', 'us-west'"):
        resolve_environment("half", {"half": {"api": "https://only-api"}})


# --- the switches ------------------------------------------------------------------------------


@pytest.fixture
def lookups_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(NO_LOOKUP_ENV, raising=False)
    monkeypatch.delenv(CONFIG_SERVICE_ENV, raising=False)
    forget_environments()
    yield
    forget_environments()


def bare(**fields: Any) -> SessionConfig:
    return SessionConfig(api_key="key-1234", app_id="app", avatar_id="avatar", **fields)


@pytest.mark.usefixtures("lookups_on")
def test_no_lookup_when_both_urls_are_given_or_it_is_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = bare(console_url="http://h:1", ingress_url="ws://h:1")
    assert environment_lookup(given, ConnectOptions()) is None
    assert environment_lookup(bare(), ConnectOptions(environment_lookup=False)) is None
    assert environment_lookup(bare(), ConnectOptions()) is not None
    monkeypatch.setenv(NO_LOOKUP_ENV, "1")
    assert environment_lookup(bare(), ConnectOptions()) is None
    monkeypatch.setenv(NO_LOOKUP_ENV, "0")
    assert environment_lookup(bare(), ConnectOptions()) is not None


@pytest.mark.usefixtures("lookups_on")
def test_the_lookup_url_comes_from_the_option_then_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONFIG_SERVICE_ENV, "http://127.0.0.1:7/sdk")
    lookup = environment_lookup(bare(), ConnectOptions())
    assert lookup is not None and lookup.endpoint.port == 7
    options = ConnectOptions(config_service_url="http://127.0.0.1:8/sdk")
    lookup = environment_lookup(bare(), options)
    assert lookup is not None and lookup.endpoint.port == 8


# --- through each binding, against a loopback service -----------------------------------------


@pytest.fixture(scope="module")
def service() -> Iterator[LoopbackService]:
    with LoopbackService() as running:
        yield running


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


@pytest.mark.usefixtures("lookups_on")
def test_an_environment_the_config_service_names_is_asked_once_per_process(
    api: Api, service: LoopbackService
) -> None:
    url = f"http://127.0.0.1:{service.port}/sdk"
    with service.locked() as record:
        lookups, tokens = record.lookups, record.token_requests

    async def scenario(api: Api) -> list[str | None]:
        ids = []
        for _ in range(2):
            async with api.connect(bare(environment="loopback"), config_service_url=url) as s:
                ids.append(s.connection_id)
        return ids

    assert api.run(scenario) == ["loopback-connection"] * 2
    with service.locked() as record:
        assert (record.lookups - lookups, record.token_requests - tokens) == (1, 2)


@pytest.mark.usefixtures("lookups_on")
def test_a_failed_lookup_falls_back_to_the_presets(api: Api, service: LoopbackService) -> None:
    closed = LoopbackService().start()
    url = f"http://127.0.0.1:{closed.port}/sdk"
    closed.stop()  # nothing listens there any more: the lookup fails at once

    async def scenario(api: Api) -> None:
        async with api.connect(bare(environment="loopback"), config_service_url=url):
            raise AssertionError("an unknown environment must not connect")

    with pytest.raises(ConfigError) as caught:
        api.run(scenario)
    assert "known environments: 'us-west'" in str(caught.value)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert _common._known_environments == {}  # the failure is remembered too


def test_switched_off_an_unknown_environment_is_refused_without_a_request(
    api: Api, service: LoopbackService
) -> None:
    forget_environments()
    with service.locked() as record:
        lookups = record.lookups
    url = f"http://127.0.0.1:{service.port}/sdk"

    async def scenario(api: Api) -> None:
        async with api.connect(bare(environment="loopback"), config_service_url=url):
            raise AssertionError("an unknown environment must not connect")

    with pytest.raises(ConfigError, match="'loopback'"):
        api.run(scenario)
    with service.locked() as record:
        assert record.lookups == lookups
