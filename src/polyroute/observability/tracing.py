"""OpenTelemetry traces (the optional `otel` extra), after the GenAI semantic conventions.

Each model request gives one SERVER span ("POST /v1/chat/completions") and, under it, one
CLIENT span per upstream attempt ("chat gpt-4o-mini": `gen_ai.operation.name`,
`gen_ai.provider.name`, `gen_ai.request.model`, token usage, `error.type`, `server.address`).
A `traceparent` header from the client makes the server span its child (W3C Trace Context).

Spans are built when the request's account closes, from its record (record.py) and times noted
on the way: the server wraps the attempt coroutine it hands the router in `traced`, which notes
each attempt in the request's trace (the router knows nothing of tracing). The request path pays
nothing for tracing but a few timestamps, and nothing at all when tracing is off.
Prompt and completion text are never recorded (the conventions make them opt-in; a gateway
carries other people's data).

Turned on by LiteLLM's `litellm_settings.callbacks: ["otel"]`, or by the standard variables
OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (LiteLLM's OTEL_ENDPOINT,
OTEL_HEADERS and OTEL_EXPORTER=console are understood too); OTEL_SDK_DISABLED=true turns it off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from polyroute.errors import GatewayError

if TYPE_CHECKING:
    from polyroute.record import RequestRecord
    from polyroute.router.deployment import Deployment
    from polyroute.router.engine import AttemptFn, AttemptInfo, AttemptOutcome

log = logging.getLogger("polyroute.tracing")

OPERATIONS = {"chat_completion": "chat", "text_completion": "text_completion", "embeddings": "embeddings"}


REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}


@dataclass(slots=True)
class AttemptRecord:
    deployment: Deployment
    start_ns: int
    end_ns: int = 0
    error_type: str | None = None  # set when the attempt failed (or its stream broke)
    status: int | None = None


@dataclass(slots=True)
class RequestTrace:
    method: str
    path: str
    parent: str | None  # the client's traceparent header
    state: str | None  # its tracestate
    # The request's sampling parameters, as span attributes (read from its body at `begin`).
    params: dict[str, Any] = field(default_factory=dict)
    attempts: list[AttemptRecord] = field(default_factory=list)


def traced(attempt: AttemptFn, trace: RequestTrace | None) -> AttemptFn:
    """`attempt` noting each call in `trace` (start, end, how it failed): one CLIENT span per
    attempt when the request's trace is built. The attempt itself when tracing is off."""
    if trace is None:
        return attempt

    async def run(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        noted = AttemptRecord(deployment, time.time_ns())
        trace.attempts.append(noted)
        try:
            outcome = await attempt(deployment, info)
            if outcome.failed_after_start is not None:
                noted.error_type = outcome.failed_after_start.type
            return outcome
        except GatewayError as error:
            noted.error_type, noted.status = error.type, error.status
            raise
        except asyncio.CancelledError:
            noted.error_type = "cancelled"
            raise
        finally:
            noted.end_ns = time.time_ns()

    return run


def request_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """The GenAI conventions' request attributes a body sets (temperature, stop sequences, ...)."""
    attributes: dict[str, Any] = {}
    for param, name in REQUEST_PARAMS.items():
        value = body.get(param)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    stop = body.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = stop
    return attributes


def tracing_wanted(callbacks: frozenset[str], env: Mapping[str, str]) -> str | None:
    """Why tracing should be on (for the log), or None."""
    if str(env.get("OTEL_SDK_DISABLED", "")).lower() == "true":
        return None
    if "otel" in callbacks:
        return "litellm_settings.callbacks"
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_ENDPOINT"):
        if env.get(name):
            return name
    return None


class Tracing:
    """The tracer provider (ours, not the process-global one) and the span building."""

    def __init__(self, env: Mapping[str, str], service_name: str = "polyroute") -> None:
        from opentelemetry.propagators.textmap import DefaultGetter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from polyroute import __version__

        resource = Resource.create(
            {"service.name": env.get("OTEL_SERVICE_NAME") or service_name, "service.version": __version__}
        )
        self.provider = TracerProvider(resource=resource)
        # Batched export on the SDK's own thread: the event loop never waits for the collector.
        self.provider.add_span_processor(BatchSpanProcessor(_exporter(env), **_batch_options(env)))
        self.tracer = self.provider.get_tracer("polyroute", __version__)
        self.propagator = TraceContextTextMapPropagator()
        self._getter = DefaultGetter()

    # -- request path ------------------------------------------------------------------------------
    def begin(
        self, method: str, path: str, headers: Mapping[str, str], body: Mapping[str, Any]
    ) -> RequestTrace:
        """Notes the caller's trace context and the request's parameters; `traced` collects the
        attempts into it."""
        return RequestTrace(
            method, path, headers.get("traceparent"), headers.get("tracestate"), request_params(body)
        )

    # -- after the response --------------------------------------------------------------------------
    def finish(self, record: RequestRecord, trace: RequestTrace | None) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

        if trace is None:
            return
        method, path = trace.method, trace.path
        carrier = {}
        if trace.parent:
            carrier["traceparent"] = trace.parent
            if trace.state:
                carrier["tracestate"] = trace.state
        parent = self.propagator.extract(carrier) if carrier else None
        start_ns = int(record.started * 1e9)
        end_ns = time.time_ns()
        operation = OPERATIONS.get(record.call_type, record.call_type)
        server = self.tracer.start_span(
            f"{method} {path}", context=parent, kind=SpanKind.SERVER, start_time=start_ns
        )
        server.set_attributes(self._server_attributes(record, trace, method, path, operation))
        if record.status != "success":
            server.set_status(Status(StatusCode.ERROR))
            server.set_attribute("error.type", record.error_code or str(record.http_status))
        context = set_span_in_context(server)
        attempts = trace.attempts
        for n, attempt in enumerate(attempts, 1):
            last = n == len(attempts)
            model = attempt.deployment.call.model
            span = self.tracer.start_span(
                f"{operation} {model}", context=context, kind=SpanKind.CLIENT, start_time=attempt.start_ns
            )
            span.set_attributes(self._attempt_attributes(trace, attempt, operation, n))
            if last and attempt.error_type is None and record.usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", record.usage.prompt)
                span.set_attribute("gen_ai.usage.output_tokens", record.usage.completion)
            if attempt.error_type is not None:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", attempt.error_type)
            span.end(end_time=attempt.end_ns or end_ns)
        server.end(end_time=end_ns)

    def _server_attributes(
        self, record: RequestRecord, trace: RequestTrace, method: str, path: str, operation: str
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "http.response.status_code": record.http_status,
            "gen_ai.operation.name": operation,
            "polyroute.request_id": record.request_id,
            "polyroute.attempts": len(trace.attempts),
            "polyroute.cost_usd": record.cost,
        }
        if record.model_group:
            attributes["gen_ai.request.model"] = record.model_group[:200]
        if record.usage is not None:
            attributes["gen_ai.usage.input_tokens"] = record.usage.prompt
            attributes["gen_ai.usage.output_tokens"] = record.usage.completion
            attributes["polyroute.usage_estimated"] = record.usage.estimated
        # Names an operator chose, never the key or its hash.
        if record.key_alias:
            attributes["polyroute.key_alias"] = record.key_alias
        if record.team_id:
            attributes["polyroute.team_id"] = record.team_id
        if record.user_id:
            attributes["polyroute.user_id"] = record.user_id
        return attributes

    def _attempt_attributes(
        self, trace: RequestTrace, attempt: AttemptRecord, operation: str, number: int
    ) -> dict[str, Any]:
        deployment = attempt.deployment
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            # the conventions' well-known name when the provider's spec declares one
            "gen_ai.provider.name": deployment.adapter.spec.otel_name or deployment.provider,
            "gen_ai.request.model": deployment.call.model,
            "polyroute.deployment.id": deployment.id,
            "polyroute.model_group": deployment.model_name,
            "polyroute.attempt": number,
        }
        attributes.update(trace.params)
        if attempt.status is not None:
            attributes["http.response.status_code"] = attempt.status
        if deployment.call.api_base:
            # Host and port only: a base URL may carry credentials in its user info or query.
            parts = urlsplit(deployment.call.api_base)
            if parts.hostname:
                attributes["server.address"] = parts.hostname
                attributes["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
        return attributes

    def shutdown(self) -> None:
        """Exports what is still queued (bounded by the SDK's own timeout)."""
        try:
            self.provider.shutdown()
        except Exception:
            log.exception("flushing traces at shutdown failed")


def _exporter(env: Mapping[str, str]) -> Any:
    """The exporter the variables ask for, read from the gateway's environment (which includes
    the config's environment_variables section), not only the process's."""
    if str(env.get("OTEL_EXPORTER", "")).lower() == "console" or env.get("OTEL_TRACES_EXPORTER") == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    kwargs: dict[str, Any] = {}
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        kwargs["endpoint"] = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        kwargs["endpoint"] = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    elif env.get("OTEL_ENDPOINT"):  # LiteLLM's name: the collector's traces URL
        kwargs["endpoint"] = env["OTEL_ENDPOINT"]
    headers = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS")
    headers = headers or env.get("OTEL_HEADERS")
    if headers:
        kwargs["headers"] = {
            key.strip(): unquote(value.strip())
            for key, value in (item.split("=", 1) for item in headers.split(",") if "=" in item)
        }
    return OTLPSpanExporter(**kwargs)


def _batch_options(env: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, option in (
        ("OTEL_BSP_SCHEDULE_DELAY", "schedule_delay_millis"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "max_queue_size"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "max_export_batch_size"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "export_timeout_millis"),
    ):
        value = env.get(name)
        if value and value.isdigit():
            options[option] = int(value)
    return options


def build_tracing(callbacks: frozenset[str], env: Mapping[str, str]) -> Tracing | None:
    reason = tracing_wanted(callbacks, env)
    if reason is None:
        return None
    try:
        tracing = Tracing(env)
    except ImportError:
        log.warning(
            "traces requested by %s, but OpenTelemetry is not installed: pip install 'polyroute[otel]'",
            reason,
        )
        return None
    log.info("OpenTelemetry traces on (%s)", reason)
    return tracing
