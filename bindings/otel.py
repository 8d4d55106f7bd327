"""OpenTelemetry for sessions: spans, metrics and the request's W3C trace context.

``connect(config, telemetry=OpenTelemetry())`` (``pip install 'avatarwire[otel]'``).
Spans: ``avatarwire.token``, ``avatarwire.connect``, ``avatarwire.handshake`` and one
``avatarwire.request`` per request, whose context goes out as the request's
``traceparent`` (unless the application passes one), so the service's work is part
of the caller's trace. Metrics: histograms of time to ready, time to first frame
and interrupt-to-last-frame (seconds); counters of requests by outcome and errors by
code. Only this module imports ``opentelemetry``; a session without telemetry
never does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode

from avatarwire import __version__
from avatarwire.core.errors import AvatarError
from avatarwire.core.requests import RequestStatus

from .observer import SessionObserver

__all__ = ["OpenTelemetry"]

SCOPE = "avatarwire"

#: Span and metric attribute names.
CONNECTION_ID = "avatarwire.connection_id"
REQ_ID = "avatarwire.req_id"
AUDIO_SECONDS = "avatarwire.audio_seconds"
FRAMES = "avatarwire.frames"
TIME_TO_FIRST_FRAME = "avatarwire.time_to_first_frame"
OUTCOME = "avatarwire.outcome"
ERROR_CODE = "avatarwire.error_code"


class OpenTelemetry:
    """Telemetry through OpenTelemetry's API (the global providers unless given)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self.time_to_ready = meter.create_histogram(
            "avatarwire.session.time_to_ready",
            unit="s",
            description="From the start of connect() (token included) to a ready session",
        )
        self.time_to_first_frame = meter.create_histogram(
            "avatarwire.request.time_to_first_frame",
            unit="s",
            description="From a request's first audio to its first frame",
        )
        self.interrupt_to_last_frame = meter.create_histogram(
            "avatarwire.request.interrupt_to_last_frame",
            unit="s",
            description="From interrupt() to the service finishing the interrupted request",
        )
        self.requests = meter.create_counter(
            "avatarwire.requests", unit="{request}", description="Requests by outcome"
        )
        self.errors = meter.create_counter(
            "avatarwire.errors", unit="{error}", description="Errors by code"
        )
        self.propagator = TraceContextTextMapPropagator()

    def session(self) -> SessionObserver:
        """The observer of one session."""
        return _SessionTelemetry(self)


@dataclass(slots=True)
class _Request:
    span: trace.Span
    opened: float
    first_frame: float | None = None
    interrupted_at: float | None = None


@dataclass(slots=True)
class _SessionTelemetry:
    otel: OpenTelemetry
    started: float = field(default_factory=time.monotonic)
    connection_id: str | None = None
    opening: _Request | None = None
    requests: dict[str, _Request] = field(default_factory=dict)

    def step(self, name: str) -> AbstractContextManager[None]:
        return self._step(name)

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        with self.otel.tracer.start_as_current_span(
            f"avatarwire.{name}", record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield
            except AvatarError as error:
                self._fail(span, error)
                raise
            except BaseException as other:
                span.set_status(Status(StatusCode.ERROR, type(other).__name__))
                raise

    def ready(self, connection_id: str) -> None:
        self.connection_id = connection_id
        self.otel.time_to_ready.record(time.monotonic() - self.started)

    def request_opening(self) -> tuple[str, str] | None:
        attributes = {CONNECTION_ID: self.connection_id} if self.connection_id else None
        span = self.otel.tracer.start_span("avatarwire.request", attributes=attributes)
        self.opening = _Request(span, time.monotonic())
        carrier: dict[str, str] = {}
        self.otel.propagator.inject(carrier, context=trace.set_span_in_context(span))
        traceparent = carrier.get("traceparent")
        return (traceparent, carrier.get("tracestate", "")) if traceparent else None

    def request_opened(self, req_id: str) -> None:
        request, self.opening = self.opening, None
        if request is None:
            return
        if not req_id:  # the audio was refused: no request started
            request.span.set_attribute(OUTCOME, "refused")
            request.span.end()
            return
        request.span.set_attribute(REQ_ID, req_id)
        self.requests[req_id] = request

    def frame(self, req_id: str) -> None:
        request = self.requests.get(req_id)
        if request is not None and request.first_frame is None:
            request.first_frame = time.monotonic()
            seconds = request.first_frame - request.opened
            request.span.set_attribute(TIME_TO_FIRST_FRAME, seconds)
            self.otel.time_to_first_frame.record(seconds)

    def interrupted(self, req_id: str) -> None:
        request = self.requests.get(req_id)
        if request is not None and request.interrupted_at is None:
            request.interrupted_at = time.monotonic()

    def request_finished(self, status: RequestStatus) -> None:
        request = self.requests.pop(status.req_id, None)
        if request is None:
            return
        outcome = "interrupted" if status.interrupted else "finished"
        if status.interrupted and request.interrupted_at is not None:
            self.otel.interrupt_to_last_frame.record(time.monotonic() - request.interrupted_at)
        self._end(request, status, outcome)

    def error(self, error: AvatarError) -> None:
        self.otel.errors.add(1, {ERROR_CODE: error.code.value})

    def closed(self, error: AvatarError | None) -> None:
        if error is not None:
            self.otel.errors.add(1, {ERROR_CODE: error.code.value})
        for request in self.requests.values():
            request.span.set_attribute(OUTCOME, "closed")
            if error is not None:
                self._fail(request.span, error, count=False)
            self.otel.requests.add(1, {OUTCOME: "closed"})
            request.span.end()
        self.requests.clear()

    def _end(self, request: _Request, status: RequestStatus, outcome: str) -> None:
        span = request.span
        if self.connection_id:
            span.set_attribute(CONNECTION_ID, self.connection_id)
        if status.audio_seconds is not None:
            span.set_attribute(AUDIO_SECONDS, status.audio_seconds)
        span.set_attribute(FRAMES, status.frames)
        span.set_attribute(OUTCOME, outcome)
        self.otel.requests.add(1, {OUTCOME: outcome})
        span.end()

    def _fail(self, span: trace.Span, error: AvatarError, *, count: bool = True) -> None:
        span.set_attribute(ERROR_CODE, error.code.value)
        span.set_status(Status(StatusCode.ERROR, error.code.value))
        if count:
            self.otel.errors.add(1, {ERROR_CODE: error.code.value})
