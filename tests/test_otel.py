"""OpenTelemetry: the spans and metrics of a session, and its requests' trace context."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from avatarwire.core.config import AgoraEgress
from avatarwire.core.errors import AvatarError, Phase
from avatarwire.core.events import RequestFinished, ServerError, SessionClosed
from avatarwire.emulator import EmulatorThread, Fault

pytest.importorskip("opentelemetry.sdk", reason="needs the otel-test extra (opentelemetry-sdk)")

from binding_adapters import BINDINGS, Api, Session, api_for
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from avatarwire.bindings.otel import OpenTelemetry

PCM_200_MS = b"\x10\x00\xf0\xff" * 1600


@pytest.fixture(params=BINDINGS)
def api(request: pytest.FixtureRequest) -> Api:
    return api_for(request.param)


ERROR_AVATAR = "avatar-with-server-error"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    faults = {ERROR_AVATAR: Fault.server_error(at_message=1, text="driven server request failed")}
    with EmulatorThread(realtime=False, faults=faults) as running:
        yield running


class Recorded:
    """Providers whose spans and metrics stay in memory for the test to read."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = OpenTelemetry(self.tracer_provider, self.meter_provider)

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {
            metric.name: list(metric.data.data_points)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


async def until_finished(session: Session, req_id: str) -> RequestFinished:
    while True:
        event = await session.next_event()
        assert not isinstance(event, SessionClosed), event
        if isinstance(event, RequestFinished) and event.req_id == req_id:
            return event


def test_one_session_with_two_requests_one_interrupted(api: Api, emu: EmulatorThread) -> None:
    recorded = Recorded()
    parent_tracer = recorded.tracer_provider.get_tracer("the-application")

    async def scenario(api: Api) -> tuple[str, str, str]:
        with parent_tracer.start_as_current_span("handle-call"):
            async with api.connect(emu.session_config(), telemetry=recorded.telemetry) as session:
                first = await session.send_audio(PCM_200_MS)
                assert await session.interrupt() == first
                assert (await until_finished(session, first)).interrupted
                second = await session.send_audio(PCM_200_MS, end=True)
                assert not (await until_finished(session, second)).interrupted
                connection_id = session.connection_id
                assert connection_id is not None
        return connection_id, first, second

    connection_id, first, second = api.run(scenario)

    [parent] = recorded.finished("handle-call")
    steps = [recorded.finished(f"avatarwire.{name}") for name in ("token", "connect", "handshake")]
    for [step] in steps:
        assert step.parent is not None and step.parent.span_id == parent.context.span_id
        assert step.status.is_ok
    token, connect, handshake = (step for [step] in steps)
    assert token.end_time <= connect.start_time and connect.end_time <= handshake.start_time

    requests = {
        s.attributes["avatarwire.req_id"]: s for s in recorded.finished("avatarwire.request")
    }
    assert set(requests) == {first, second}
    for req_id, outcome in ((first, "interrupted"), (second, "finished")):
        span = requests[req_id]
        assert span.parent is not None and span.parent.span_id == parent.context.span_id
        attributes = span.attributes
        assert attributes["avatarwire.connection_id"] == connection_id
        assert attributes["avatarwire.outcome"] == outcome
        assert attributes["avatarwire.audio_seconds"] == pytest.approx(0.2)
    assert requests[second].attributes["avatarwire.frames"] > 0
    assert requests[second].attributes["avatarwire.time_to_first_frame"] >= 0

    metrics = recorded.metrics()
    [ready] = metrics["avatarwire.session.time_to_ready"]
    assert ready.count == 1 and ready.sum > 0
    assert metrics["avatarwire.request.time_to_first_frame"][0].count >= 1
    [interrupt] = metrics["avatarwire.request.interrupt_to_last_frame"]
    assert interrupt.count == 1
    by_outcome = {
        p.attributes["avatarwire.outcome"]: p.value for p in metrics["avatarwire.requests"]
    }
    assert by_outcome == {"interrupted": 1, "finished": 1}
    assert "avatarwire.errors" not in metrics


def test_the_request_span_goes_out_as_the_traceparent(api: Api, emu: EmulatorThread) -> None:
    recorded = Recorded()
    channel = f"otel-{api.name}"
    config = emu.session_config(agora=AgoraEgress(channel_name=channel, token="agora-token-1"))

    async def scenario(api: Api) -> tuple[str, str]:
        async with api.connect(config, telemetry=recorded.telemetry) as session:
            traced = await session.send_audio(PCM_200_MS, end=True)
            await until_finished(session, traced)
            explicit = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            send = functools.partial(session.raw.send_audio, traceparent=explicit)
            given = await session.api.call(send, PCM_200_MS, True)
            await until_finished(session, given)
        return traced, given

    traced, given = api.run(scenario)
    spans = {s.attributes["avatarwire.req_id"]: s for s in recorded.finished("avatarwire.request")}
    context = spans[traced].context
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    [publisher] = emu.egress()["agora"][channel]
    sent = {record["req_id"]: record["traceparent"] for record in publisher["requests"]}
    assert sent[traced] == expected
    # The application's own traceparent wins over the span's.
    assert sent[given] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_failed_step_is_an_error_span_and_counted_by_code(emu: EmulatorThread) -> None:
    recorded = Recorded()
    api = api_for("asyncio")
    config = emu.session_config(api_key="wrong-key-0000")

    async def scenario(api: Api) -> None:
        async with api.connect(config, telemetry=recorded.telemetry):
            pass

    with pytest.raises(AvatarError) as caught:
        api.run(scenario)
    code = caught.value.code.value
    assert caught.value.phase is Phase.SESSION_TOKEN
    [token] = recorded.finished("avatarwire.token")
    assert not token.status.is_ok
    assert token.attributes["avatarwire.error_code"] == code
    [errors] = recorded.metrics()["avatarwire.errors"]
    assert errors.attributes == {"avatarwire.error_code": code}
    assert errors.value == 1
    assert not recorded.finished("avatarwire.connect")


def test_runtime_errors_are_counted_and_a_close_finishes_open_requests(emu: EmulatorThread) -> None:
    recorded = Recorded()
    api = api_for("blocking")
    config = emu.session_config(avatar_id=ERROR_AVATAR)

    async def scenario(api: Api) -> str:
        async with api.connect(config, telemetry=recorded.telemetry) as session:
            req_id = await session.send_audio(PCM_200_MS)  # never ended
            while not isinstance(await session.next_event(), ServerError):
                pass
        return req_id

    req_id = api.run(scenario)
    [span] = recorded.finished("avatarwire.request")
    assert span.attributes["avatarwire.req_id"] == req_id
    # The core finishes what the close cut short as interrupted.
    assert span.attributes["avatarwire.outcome"] == "interrupted"
    metrics = recorded.metrics()
    [errors] = metrics["avatarwire.errors"]
    assert (errors.attributes, errors.value) == ({"avatarwire.error_code": "upstreamError"}, 1)
    [cut] = metrics["avatarwire.requests"]
    assert (cut.attributes, cut.value) == ({"avatarwire.outcome": "interrupted"}, 1)
    assert "avatarwire.request.interrupt_to_last_frame" not in metrics  # no interrupt() call


def test_without_telemetry_opentelemetry_is_never_imported(emu: EmulatorThread) -> None:
    program = textwrap.dedent(
        f"""
        import sys
        from avatarwire.bindings.blocking import connect
        from avatarwire.core.config import SessionConfig

        config = SessionConfig(api_key={emu.api_key!r}, app_id={emu.app_id!r},
            avatar_id={emu.avatar_id!r}, console_url={emu.console_url!r},
            ingress_url={emu.ingress_url!r})
        with connect(config) as session:
            req_id = session.send_audio(b"\\x00\\x00" * 1600, end=True)
            assert session.wait_for_request(req_id, timeout=10).finished
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        assert not loaded, loaded
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_global_tracer_is_used_when_no_provider_is_given() -> None:
    telemetry = OpenTelemetry()
    assert telemetry.tracer is not None
    assert isinstance(trace.get_tracer_provider(), trace.TracerProvider)
