"""Retrying the opening of a session: the pure delay rules, then retries over loopback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from loopback_service import CONNECTION_ID, LoopbackService

from avatarwire.bindings.retry import (
    connect_with_retry,
    connect_with_retry_blocking,
    connect_with_retry_trio,
)
from avatarwire.core.config import SessionConfig
from avatarwire.core.errors import AvatarError, ConfigError, ErrorCode, Phase, Retry
from avatarwire.core.events import RequestFinished
from avatarwire.core.retry import RetryPolicy, next_delay
from avatarwire.core.server import HttpRequestReceived, ServerConnection, ServerEvent
from avatarwire.core.server import UpgradeRequested as UpgradeEvent
from avatarwire.core.steps import Timeouts

NO_JITTER = 0.5

#: One error per kind of retry, as the session would raise them.
ERRORS: dict[Retry, AvatarError] = {
    Retry.NO: AvatarError("bad", code=ErrorCode.AVATAR_NOT_FOUND, phase=Phase.WEBSOCKET_CONNECT),
    Retry.NEW_TOKEN: AvatarError(
        "token", code=ErrorCode.SESSION_TOKEN_INVALID, phase=Phase.WEBSOCKET_CONNECT
    ),
    Retry.NEW_SESSION: AvatarError(
        "too long", code=ErrorCode.SESSION_DURATION_EXCEEDED, phase=Phase.WEBSOCKET_RUNTIME
    ),
    Retry.LATER: AvatarError(
        "busy", code=ErrorCode.CONCURRENCY_LIMIT, phase=Phase.WEBSOCKET_RUNTIME
    ),
    Retry.BACKOFF: AvatarError("5xx", code=ErrorCode.SERVER_ERROR, phase=Phase.SESSION_TOKEN),
}


def test_the_example_errors_have_the_kinds_they_stand_for() -> None:
    assert {kind: error.retry for kind, error in ERRORS.items()} == {k: k for k in ERRORS}


# --- next_delay ------------------------------------------------------------------------


def test_an_error_no_retry_can_help_is_not_retried() -> None:
    policy = RetryPolicy(max_attempts=10)
    assert next_delay(policy, 1, ERRORS[Retry.NO], NO_JITTER) is None
    refused_key = AvatarError(
        "HTTP 401", code=ErrorCode.SESSION_TOKEN_EXPIRED, phase=Phase.SESSION_TOKEN
    )
    assert next_delay(policy, 1, refused_key, NO_JITTER) is None


def test_backoff_doubles_from_the_base_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=0.5, max_delay=10.0, jitter=0.2)
    delays = [next_delay(policy, n, ERRORS[Retry.BACKOFF], NO_JITTER) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_new_token_or_session_is_tried_at_once_then_with_backoff() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=0.5, max_delay=10.0)
    for kind in (Retry.NEW_TOKEN, Retry.NEW_SESSION):
        delays = [next_delay(policy, n, ERRORS[kind], NO_JITTER) for n in range(1, 5)]
        assert delays == [0.0, 0.5, 1.0, 2.0]


def test_a_concurrency_limit_waits_at_least_the_later_delay_even_past_the_cap() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=0.1, max_delay=2.0, later_delay=5.0)
    for attempt in (1, 2, 50):
        for fraction in (0.0, NO_JITTER, 0.999):
            delay = next_delay(policy, attempt, ERRORS[Retry.LATER], fraction)
            assert delay == 5.0
    roomy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=60.0, later_delay=5.0)
    assert next_delay(roomy, 5, ERRORS[Retry.LATER], NO_JITTER) == 16.0


@pytest.mark.parametrize("kind", [k for k in Retry if k is not Retry.NO])
def test_no_delay_once_the_attempts_are_used_up(kind: Retry) -> None:
    policy = RetryPolicy(max_attempts=3)
    assert next_delay(policy, 2, ERRORS[kind], NO_JITTER) is not None
    assert next_delay(policy, 3, ERRORS[kind], NO_JITTER) is None
    assert next_delay(policy, 4, ERRORS[kind], NO_JITTER) is None
    assert next_delay(RetryPolicy(max_attempts=1), 1, ERRORS[kind], NO_JITTER) is None


def test_jitter_spreads_the_delay_by_the_given_fraction_both_ways() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0, jitter=0.2)
    backoff = ERRORS[Retry.BACKOFF]
    assert next_delay(policy, 3, backoff, 0.0) == pytest.approx(3.2)
    assert next_delay(policy, 3, backoff, 0.75) == pytest.approx(4.4)
    assert next_delay(policy, 3, backoff, 0.5) == 4.0


@given(
    kind=st.sampled_from([k for k in Retry if k is not Retry.NO]),
    attempt=st.integers(min_value=1, max_value=10**6),
    fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.0, max_value=30.0),
    extra=st.floats(min_value=0.0, max_value=30.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_delays_stay_within_the_jitter_band_and_the_cap(
    kind: Retry, attempt: int, fraction: float, base: float, extra: float, jitter: float
) -> None:
    policy = RetryPolicy(
        max_attempts=10**6 + 1, base_delay=base, max_delay=base + extra, jitter=jitter
    )
    delay = next_delay(policy, attempt, ERRORS[kind], fraction)
    assert delay is not None
    doublings = attempt - (2 if kind in (Retry.NEW_TOKEN, Retry.NEW_SESSION) else 1)
    plain = 0.0 if doublings < 0 else min(policy.max_delay, base * 2.0 ** min(doublings, 64))
    low = plain * (1 - jitter)
    high = min(policy.max_delay, plain * (1 + jitter))
    if kind is Retry.LATER:
        low, high = max(low, policy.later_delay), max(high, policy.later_delay)
    assert low - 1e-9 <= delay <= high + 1e-9
    assert delay >= 0


def test_bad_arguments_are_refused() -> None:
    policy = RetryPolicy()
    for attempt in (0, -1, True):
        with pytest.raises(ValueError, match="attempt"):
            next_delay(policy, attempt, ERRORS[Retry.BACKOFF], NO_JITTER)
    for fraction in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="random_fraction"):
            next_delay(policy, 1, ERRORS[Retry.BACKOFF], fraction)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"max_attempts": 2.0}, "retry.max_attempts"),
        ({"base_delay": -1.0}, "retry.base_delay"),
        ({"base_delay": float("inf"), "max_delay": float("inf")}, "retry.base_delay"),
        ({"base_delay": 5.0, "max_delay": 1.0}, "retry.max_delay"),
        ({"jitter": 1.5}, "retry.jitter"),
        ({"jitter": -0.1}, "retry.jitter"),
        ({"later_delay": float("nan")}, "retry.later_delay"),
    ],
)
def test_policy_refuses_values_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RetryPolicy(**fields)
    assert caught.value.field == field


# --- connect_with_retry over loopback -------------------------------------------------------


class FlakyService(LoopbackService):
    """The loopback service, with a console that fails its first ``console_failures``
    calls (HTTP ``failure_status``) and an ingress that refuses the first
    ``upgrade_rejections`` upgrades as an invalid token; tokens are numbered."""

    def __init__(
        self, *, console_failures: int = 0, failure_status: int = 503, upgrade_rejections: int = 0
    ) -> None:
        super().__init__()
        self.console_failures = console_failures
        self.failure_status = failure_status
        self.upgrade_rejections = upgrade_rejections
        self.token_requests = 0
        self.upgrade_keys: list[str] = []

    async def _answer(
        self, conn: ServerConnection, event: ServerEvent, writer: asyncio.StreamWriter
    ) -> None:
        if isinstance(event, HttpRequestReceived):
            self.token_requests += 1
            if self.token_requests <= self.console_failures:
                conn.respond(self.failure_status, {"message": "service unavailable"})
            else:
                conn.respond(200, {"sessionToken": f"token-{self.token_requests}"})
        elif isinstance(event, UpgradeEvent):
            self.upgrade_keys.append(event.session_key)
            if len(self.upgrade_keys) <= self.upgrade_rejections:
                conn.reject_upgrade(400, {"message": "Invalid session token"})
            else:
                conn.accept_upgrade()
        else:
            await super()._answer(conn, event, writer)


FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, jitter=0.0)
SHORT = Timeouts(token=2, tcp_connect=2, upgrade=2, handshake=2, close=2)


def run(service: LoopbackService, scenario: Any) -> None:
    with service:
        asyncio.run(asyncio.wait_for(scenario(), 20))


BINDINGS = ("asyncio", "trio", "blocking")
ONE_REQUEST = b"\0\0" * 160


def open_with_retry(binding: str, config: SessionConfig, **kwargs: Any) -> str | None:
    """Open with ``binding``'s retry helper, see one request through, close; the
    connection id the service gave."""
    if binding == "asyncio":

        async def on_asyncio() -> str | None:
            async with connect_with_retry(config, **kwargs) as session:
                req_id = await session.send_audio(ONE_REQUEST, end=True)
                async for event in session:
                    if isinstance(event, RequestFinished):
                        assert event.req_id == req_id
                        break
                return session.connection_id

        return asyncio.run(asyncio.wait_for(on_asyncio(), 20))
    if binding == "trio":

        async def on_trio() -> str | None:
            with trio.fail_after(20):
                async with connect_with_retry_trio(config, **kwargs) as session:
                    req_id = await session.send_audio(ONE_REQUEST, end=True)
                    async for event in session:
                        if isinstance(event, RequestFinished):
                            assert event.req_id == req_id
                            break
                    return session.connection_id

        return trio.run(on_trio)
    with connect_with_retry_blocking(config, **kwargs) as session:
        req_id = session.send_audio(ONE_REQUEST, end=True)
        for event in session:
            if isinstance(event, RequestFinished):
                assert event.req_id == req_id
                break
        return session.connection_id


@pytest.mark.parametrize("binding", BINDINGS)
def test_console_503_twice_then_the_third_attempt_opens_with_the_third_token(
    binding: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = FlakyService(console_failures=2)
    retries: list[tuple[int, ErrorCode, float]] = []

    def on_retry(attempt: int, error: AvatarError, delay: float) -> None:
        retries.append((attempt, error.code, delay))

    with caplog.at_level(logging.WARNING, logger="avatarwire.retry"), service:
        connection_id = open_with_retry(
            binding, service.config(), policy=FAST, on_retry=on_retry, timeouts=SHORT
        )
    assert connection_id == CONNECTION_ID
    assert retries == [(1, ErrorCode.SERVER_ERROR, 0.01), (2, ErrorCode.SERVER_ERROR, 0.02)]
    assert service.token_requests == 3
    assert service.upgrade_keys == ["token-3"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("serverError" in r.getMessage() for r in warnings)


@pytest.mark.parametrize("binding", BINDINGS)
def test_gives_up_after_the_last_attempt_raising_its_error(
    binding: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = FlakyService(console_failures=10)
    retries: list[int] = []

    with (
        caplog.at_level(logging.WARNING, logger="avatarwire.retry"),
        service,
        pytest.raises(AvatarError) as caught,
    ):
        open_with_retry(
            binding,
            service.config(),
            policy=FAST,
            on_retry=lambda attempt, error, delay: retries.append(attempt),
            timeouts=SHORT,
        )
    assert caught.value.code is ErrorCode.SERVER_ERROR
    assert caught.value.http_status == 503
    assert service.token_requests == 3
    assert retries == [1, 2]
    assert [r.getMessage().endswith("giving up") for r in caplog.records] == [False, False, True]


def test_an_error_no_retry_can_help_is_raised_at_once(caplog: pytest.LogCaptureFixture) -> None:
    service = FlakyService(console_failures=1, failure_status=401)
    retries: list[int] = []

    async def scenario() -> None:
        with pytest.raises(AvatarError) as caught:
            async with connect_with_retry(
                service.config(),
                policy=FAST,
                on_retry=lambda attempt, error, delay: retries.append(attempt),
                timeouts=SHORT,
            ):
                raise AssertionError("no session should open")
        assert caught.value.code is ErrorCode.SESSION_TOKEN_INVALID
        assert caught.value.retry is Retry.NO

    with caplog.at_level(logging.WARNING, logger="avatarwire.retry"):
        run(service, scenario)
    assert service.token_requests == 1
    assert retries == []
    assert caplog.records == []


def test_a_refused_token_is_retried_at_once_with_a_new_token_and_callbacks_stay_quiet() -> None:
    service = FlakyService(upgrade_rejections=1)
    retries: list[tuple[ErrorCode, float]] = []
    errors: list[AvatarError] = []
    closes: list[None] = []

    async def scenario() -> None:
        async with connect_with_retry(
            service.config(),
            policy=FAST,
            on_retry=lambda attempt, error, delay: retries.append((error.code, delay)),
            timeouts=SHORT,
            on_error=errors.append,
            on_close=lambda: closes.append(None),
        ) as session:
            assert session.connection_id == CONNECTION_ID
            assert errors == [] and closes == []

    run(service, scenario)
    assert retries == [(ErrorCode.SESSION_TOKEN_INVALID, 0.0)]
    assert service.upgrade_keys == ["token-1", "token-2"]
    assert errors == []
    assert closes == [None]


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_given_session_token_is_refused_since_each_attempt_needs_its_own(binding: str) -> None:
    config = SessionConfig(
        api_key="key",
        app_id="app",
        avatar_id="avatar",
        console_url="http://127.0.0.1:9/v1/console",
        ingress_url="ws://127.0.0.1:9/v2/driveningress",
    )
    with pytest.raises(TypeError, match="session_token"):
        open_with_retry(binding, config, policy=FAST, session_token="token")
