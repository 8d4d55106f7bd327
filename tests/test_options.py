"""Every option of connect() and Timeouts is checked before anything is opened: a
ConfigError names the option, the value and what is allowed (never a secret)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
import trio

from avatarwire.bindings import asyncio as asyncio_binding
from avatarwire.bindings import blocking as blocking_binding
from avatarwire.bindings import trio as trio_binding
from avatarwire.bindings._common import ConnectOptions
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import ConfigError
from avatarwire.core.request_ids import sequential_request_ids
from avatarwire.core.session import ClientSession
from avatarwire.core.steps import Step, Timeouts

TOKEN = "tok-SECRET-4242"
#: A port nothing listens on: a check that let a bad value through would fail to connect.
CONFIG = SessionConfig(
    api_key="key-SECRET-1",
    app_id="app",
    avatar_id="avatar",
    console_url="http://127.0.0.1:9/v1/console",
    ingress_url="ws://127.0.0.1:9/v2/driveningress",
)

BAD_OPTIONS: list[tuple[str, object, str]] = [
    ("max_buffered_audio", -1, "int >= 0"),
    ("max_buffered_audio", "big", "int >= 0"),
    ("max_buffered_audio", 1.5, "int >= 0"),
    ("max_queued_events", -1, "int >= 1"),
    ("max_queued_events", 0, "int >= 1"),
    ("max_queued_events", True, "int >= 1"),
    ("max_message_size", 0, "int >= 2"),
    ("max_audio_chunk", "64k", "int >= 2"),
    ("ping_interval", -1, "seconds > 0"),
    ("ping_interval", math.nan, "seconds > 0"),
    ("ping_timeout", math.inf, "seconds > 0"),
    ("ping_timeout", "20", "seconds > 0"),
    ("queue_events", "yes", "True or False"),
    ("request_ids", "seq", "callable"),
    ("ssl_context", "verify", "SSLContext"),
    ("timeouts", 5, "Timeouts"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD_OPTIONS)
def test_each_bad_option_is_named_with_its_value_and_what_is_allowed(
    name: str, value: object, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ConnectOptions(**{name: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"{name}: got {value!r}" in message and allowed in message, message
    assert caught.value.field == name


def _connect(binding: str, **options: Any) -> None:
    if binding == "asyncio":

        async def main() -> None:
            async with asyncio_binding.connect(CONFIG, **options):
                pass

        asyncio.run(main())
    elif binding == "trio":

        async def trio_main() -> None:
            async with trio_binding.connect(CONFIG, **options):
                pass

        trio.run(trio_main)
    else:
        with blocking_binding.connect(CONFIG, **options):
            pass


@pytest.mark.parametrize("binding", ["asyncio", "trio", "blocking"])
@pytest.mark.parametrize(("name", "value", "allowed"), BAD_OPTIONS[:4] + BAD_OPTIONS[8:10])
def test_connect_refuses_a_bad_option_before_opening_anything(
    binding: str, name: str, value: object, allowed: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        _connect(binding, **{name: value})


@pytest.mark.parametrize("step", list(Step), ids=str)
@pytest.mark.parametrize("value", [math.nan, -1.0, 0, math.inf, "5", None, True])
def test_each_timeout_is_a_finite_positive_number(step: Step, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        Timeouts(**{step.value: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"Timeouts.{step.value}" in message and "finite number of seconds > 0" in message


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (f" {TOKEN}", "whitespace"),
        (f"{TOKEN}\n", "control"),
        (f"{TOKEN}é", "ASCII"),
        ("", "non-empty"),
    ],
    ids=["leading-space", "trailing-newline", "non-ascii", "empty"],
)
def test_a_bad_session_token_is_refused_without_being_shown(token: str, problem: str) -> None:
    for refuse in (
        lambda: ConnectOptions(session_token=token),
        lambda: ClientSession(CONFIG, token, request_ids=sequential_request_ids()),
    ):
        with pytest.raises(ConfigError) as caught:
            refuse()
        message = str(caught.value)
        assert "session_token" in message and problem in message, message
        assert TOKEN not in message and TOKEN not in repr(caught.value)


@pytest.mark.parametrize("binding", ["asyncio", "trio", "blocking"])
def test_connect_refuses_a_token_with_a_trailing_space(binding: str) -> None:
    with pytest.raises(ConfigError, match="session_token") as caught:
        _connect(binding, session_token=TOKEN + " ")
    assert TOKEN not in str(caught.value)
