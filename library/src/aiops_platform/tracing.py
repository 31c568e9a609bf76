"""OpenTelemetry spans and metrics for each flow call and model call, in the GenAI semantic conventions;
for an agent, its invocation and each of its tool calls (`agent_invocation`, `tool`, `call_tool`).

Spans always go to a local JSON-lines store (`.aiops/traces/`, read by `monitor summary`), and also
to Azure Monitor when APPLICATIONINSIGHTS_CONNECTION_STRING is set. A connection string the
exporter cannot use stops the server and every command at start-up with one line
(check_configuration): a deployment that looks healthy while its telemetry, and so its alerts, go
nowhere is worse than one that does not start (blue/green keeps the old colour live).

We keep our own TracerProvider instead of the global one, so Prompt Flow's executor or server can
set up its own tracing without either side overriding the other; parent/child links still flow
through OpenTelemetry's context.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from aiops_platform import ci_api, paths, project
from aiops_platform.settings import get_settings

CONTENT_LIMIT = 4000  # characters kept of each input/output string on a flow span
RUN_LABELS_VARIABLE = "AIOPS_RUN_LABELS"  # how run labels reach Prompt Flow's worker processes
_run_attributes: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "run_attributes", default=None
)
F = TypeVar("F", bound=Callable[..., Any])
_build_lock = threading.RLock()
_built: dict[str, Any] = {}


class TracingConfigError(RuntimeError):
    """APPLICATIONINSIGHTS_CONNECTION_STRING cannot be used; the message says why and the fix."""


class JsonLinesSpanExporter(SpanExporter):
    """One JSON line per finished span, one file per UTC day; appends are safe across processes.

    Each day's file stays open in append mode: one write per span, no open/close on the hot path.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._files: dict[str, int] = {}  # day -> descriptor

    def _descriptor(self, day: str) -> int:
        if day not in self._files:
            self._close_all()  # a new day: yesterday's file is done (a late span just reopens it)
            self._folder.mkdir(parents=True, exist_ok=True)
            path = self._folder / f"spans-{day}.jsonl"
            self._files[day] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        return self._files[day]

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        by_day: dict[str, list[str]] = {}
        for span in spans:
            day = datetime.fromtimestamp((span.end_time or 0) / 1e9, UTC).strftime("%Y-%m-%d")
            by_day.setdefault(day, []).append(json.dumps(span_record(span), default=str) + "\n")
        with self._lock:
            for day, lines in by_day.items():
                os.write(self._descriptor(day), "".join(lines).encode("utf-8"))
        return SpanExportResult.SUCCESS

    def _close_all(self) -> None:
        for descriptor in self._files.values():
            os.close(descriptor)
        self._files.clear()

    def shutdown(self) -> None:
        with self._lock:
            self._close_all()


def service_name() -> str:
    """The project's name as an installed package: every span and metric is labelled with it."""
    try:
        return project.load().slug
    except project.ProjectError:
        return "aiops-project"  # a `pf flow build` image holds the flow, not the project


def span_record(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }


def _once(name: str, build: Callable[[], Any]) -> Any:
    """Build once per process, under a lock: the engine's worker threads all trace their first line
    at the same moment, and the SDK's instrument registry is not safe against that."""
    with _build_lock:
        if name not in _built:
            _built[name] = build()
        return _built[name]


def reset() -> None:
    """Shut the providers down (closing the store's files) so the next span reads the settings again."""
    with _build_lock:
        if "providers" in _built:
            _built["providers"][0].shutdown()
        _built.clear()


def providers() -> tuple[TracerProvider, MeterProvider]:
    return _once("providers", _build_providers)


def check_configuration() -> None:
    """Build the exporters now, once, at start-up: TracingConfigError when Azure Monitor's connection
    string is malformed, instead of a failure in every traced call later (a 500 per request)."""
    try:
        connection = get_settings().applicationinsights_connection_string
    except ValueError:  # other settings: the command that reads them says what is wrong
        return
    if connection is not None:
        providers()


def _build_providers() -> tuple[TracerProvider, MeterProvider]:
    settings = get_settings()
    resource = Resource.create({"service.name": service_name()})
    tracer_provider = TracerProvider(resource=resource)
    readers = []
    if settings.aiops_tracing:
        tracer_provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(paths.trace_dir())))
    if settings.applicationinsights_connection_string is not None:
        from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter, AzureMonitorTraceExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        connection = settings.applicationinsights_connection_string.get_secret_value()
        try:
            span_exporter = AzureMonitorTraceExporter(
                connection_string=connection, tracer_provider=tracer_provider
            )
            metric_exporter = AzureMonitorMetricExporter(connection_string=connection)
        except ValueError as error:  # the exporter's own parser: "Invalid instrumentation key...", no value
            tracer_provider.shutdown()
            raise TracingConfigError(
                f"APPLICATIONINSIGHTS_CONNECTION_STRING is not a valid connection string "
                f"({ci_api.hide_tokens(str(error), os.environ)}): copy it "
                "from the Application Insights resource's Overview page, or unset it to trace locally only"
            ) from None
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers.append(PeriodicExportingMetricReader(metric_exporter))
    return tracer_provider, MeterProvider(metric_readers=readers, resource=resource)


def tracer() -> trace.Tracer:
    return _once("tracer", lambda: providers()[0].get_tracer(service_name()))


def instruments() -> dict[str, Any]:
    return _once("instruments", _build_instruments)


def _build_instruments() -> dict[str, Any]:
    """The GenAI client metrics, plus flow request duration (with `error.type` on failures)."""
    meter: metrics.Meter = providers()[1].get_meter(service_name())
    return {
        "tokens": meter.create_histogram("gen_ai.client.token.usage", unit="{token}"),
        "model_duration": meter.create_histogram("gen_ai.client.operation.duration", unit="s"),
        "flow_duration": meter.create_histogram("aiops.flow.duration", unit="s"),
    }


@contextmanager
def run_attributes(**attributes: str) -> Iterator[None]:
    """Flow spans started inside this block carry these (flow, variant, dataset) attributes."""
    token = _run_attributes.set({f"aiops.{key}": value for key, value in attributes.items()})
    try:
        yield
    finally:
        _run_attributes.reset(token)


def _shortened(value: Any) -> Any:
    """Each string masked (ci_api.hide_tokens: a caller may paste a key into a question), then cut."""
    if isinstance(value, str):
        return ci_api.hide_tokens(value, os.environ)[:CONTENT_LIMIT]
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shortened(item) for item in value]
    return value


def _content(value: Any) -> str:
    """Valid JSON however long the strings are: each one is masked and cut, never the document."""
    return json.dumps(_shortened(value), default=str, ensure_ascii=False)


def current_run_labels() -> dict[str, str]:
    """Labels set by `run_attributes` in this thread, or by the engine for a worker process."""
    labels = _run_attributes.get()
    if labels is None and RUN_LABELS_VARIABLE in os.environ:
        labels = {f"aiops.{key}": value for key, value in json.loads(os.environ[RUN_LABELS_VARIABLE]).items()}
    return labels or {}


def traced(name: str) -> Callable[[F], F]:
    """A span around each flow call: latency, status, and inputs/outputs unless AIOPS_TRACE_CONTENT=false."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            settings = get_settings()
            attributes = {"aiops.flow": name.removeprefix("flow "), "aiops.variant": settings.aiops_variant}
            attributes |= current_run_labels()
            started = time.perf_counter()
            with tracer().start_as_current_span(name, attributes=attributes) as span:
                if settings.aiops_trace_content:
                    span.set_attribute("aiops.inputs", _content(kwargs or args))
                try:
                    result = function(*args, **kwargs)
                except Exception as error:
                    _record_error(span, error)
                    instruments()["flow_duration"].record(
                        time.perf_counter() - started, attributes | {"error.type": type(error).__name__}
                    )
                    raise
                if settings.aiops_trace_content:
                    span.set_attribute("aiops.outputs", _content(result))
                instruments()["flow_duration"].record(time.perf_counter() - started, attributes)
                return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _record_error(span: Span, error: BaseException) -> None:
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(Status(StatusCode.ERROR, ci_api.hide_tokens(str(error), os.environ)[:500]))


@contextmanager
def model_call(operation: str, provider: str, model: str, **attributes: Any) -> Iterator[Span]:
    """A client span for one model call; the caller adds usage with `record_usage`."""
    started = time.perf_counter()
    common = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    with tracer().start_as_current_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes=common | attributes | current_run_labels(),
        record_exception=False,
    ) as span:
        try:
            yield span
        except Exception as error:
            _record_error(span, error)
            common["error.type"] = type(error).__name__
            raise
        finally:
            instruments()["model_duration"].record(time.perf_counter() - started, common)


def record_usage(span: Span, response_model: str, input_tokens: int, output_tokens: int) -> None:
    span.set_attribute("gen_ai.response.model", response_model)
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    for token_type, count in (("input", input_tokens), ("output", output_tokens)):
        instruments()["tokens"].record(
            count, {"gen_ai.token.type": token_type, "gen_ai.request.model": response_model}
        )


def record_online_scores(means: dict[str, float], lines: int, dataset: str) -> None:
    """One `online_evaluation` span with the mean judge scores: what the score-drop alert queries."""
    attributes: dict[str, str | int | float] = {f"aiops.score.{m}": value for m, value in means.items()}
    attributes |= {"aiops.online.lines": lines, "aiops.dataset": dataset}
    tracer().start_span("online_evaluation", attributes=attributes).end()


# ---- agents and their tools (OpenTelemetry GenAI semantic conventions v1.41: agent and tool spans) ----


@contextmanager
def agent_invocation(
    name: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    agent_id: str | None = None,
    description: str | None = None,
    conversation_id: str | None = None,
) -> Iterator[Span]:
    """An `invoke_agent {name}` span (INTERNAL: the agent runs in this process) around one turn of an
    agent: its model calls (`chat ...`) and tool calls (`execute_tool ...`) are its children.

    `provider` and `model` default to the configured model's (what `llm.chat` puts on its spans).
    An exception marks the span as an error (`error.type`, status; its message only when trace
    content is on, as on a tool's span) and goes on to the caller.
    """
    if provider is None or model is None:
        from aiops_platform.llm import PROVIDER_NAMES  # the model client's module: loaded with a call

        settings = get_settings()
        provider = provider or PROVIDER_NAMES[settings.provider]
        model = model or settings.model
    attributes: dict[str, str] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": provider,
        "gen_ai.agent.name": name,
        "gen_ai.request.model": model,
    }
    optional = {"gen_ai.agent.id": agent_id, "gen_ai.agent.description": description}
    optional["gen_ai.conversation.id"] = conversation_id
    attributes |= {key: value for key, value in optional.items() if value}
    with _agent_span(f"invoke_agent {name}", attributes, get_settings().aiops_trace_content) as span:
        yield span


@contextmanager
def _agent_span(title: str, attributes: dict[str, str], content: bool) -> Iterator[Span]:
    """An INTERNAL span with the run's labels whose failure is recorded by `_record_failure`."""
    with tracer().start_as_current_span(
        title,
        kind=SpanKind.INTERNAL,
        attributes=attributes | current_run_labels(),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as error:
            _record_failure(span, error, content)
            raise


def _record_failure(span: Span, error: BaseException, content: bool) -> None:
    """An agent's or tool's failure; its message only with content on (it may quote what a tool read)."""
    if content:
        _record_error(span, error)
    else:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))


class ToolCall:
    """The open `execute_tool` span of one call: `arguments` and `result` record what went in and out,
    when trace content is on (AIOPS_TRACE_CONTENT), as JSON text masked and cut like a flow's inputs."""

    def __init__(self, span: Span, content: bool) -> None:
        self.span = span
        self.content = content

    def arguments(self, value: Any) -> None:
        if self.content:
            self.span.set_attribute("gen_ai.tool.call.arguments", _content(value))

    def result(self, value: Any) -> None:
        if self.content:
            self.span.set_attribute("gen_ai.tool.call.result", _content(value))


@contextmanager
def execute_tool(
    name: str,
    *,
    call_id: str | None = None,
    arguments: Any = None,
    description: str | None = None,
    tool_type: str = "function",
) -> Iterator[ToolCall]:
    """An `execute_tool {name}` span (INTERNAL) around one tool call, with the convention's tool name,
    type and call id (the model's, when it asked for the call).

    Arguments and result (`gen_ai.tool.call.arguments`/`.result`) are kept only when trace content
    is on: off by default for confidential or personal data (governance.yaml's data_classification),
    where a failure's message is not kept either (it may quote what the tool read), only its type.
    """
    content = get_settings().aiops_trace_content
    attributes: dict[str, str] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": tool_type,
    }
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    if description:
        attributes["gen_ai.tool.description"] = description
    with _agent_span(f"execute_tool {name}", attributes, content) as span:
        call = ToolCall(span, content)
        if arguments is not None:
            call.arguments(arguments)
        yield call


def _description(function: Callable[..., Any]) -> str | None:
    """The first line of a docstring: what a tool is for (the model reads the same words)."""
    lines = (inspect.getdoc(function) or "").strip().splitlines()
    return lines[0] if lines else None


@overload
def tool(function: F) -> F: ...
@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]: ...
def tool(function: F | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Trace each call of a tool function as an `execute_tool` span: `@tool` or `@tool(name=...)`.

    The function keeps its name, signature and docstring (what a framework reads to offer it to a
    model) and may be async. `call_tool` runs it with the model's call id.
    """

    def decorate(function: F) -> F:
        tool_name = name or function.__name__
        tool_description = description or _description(function)
        signature = inspect.signature(function)

        def span(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            try:
                arguments = dict(signature.bind(*args, **kwargs).arguments)
            except TypeError:  # called wrongly: the call raises it, on the span
                arguments = {"args": list(args), **kwargs}
            return execute_tool(tool_name, arguments=arguments, description=tool_description)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(args, kwargs) as call:
                    result = await function(*args, **kwargs)
                    call.result(result)
                    return result

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(args, kwargs) as call:
                    result = function(*args, **kwargs)
                    call.result(result)
                    return result

        wrapper.__aiops_tool__ = (tool_name, tool_description, function)
        return wrapper

    return decorate(function) if function is not None else decorate


def call_tool(
    function: Callable[..., Any], arguments: str | Mapping[str, Any], call_id: str | None = None
) -> Any:
    """Run one tool call as the model asked for it, in an `execute_tool` span with the call's id:
    `arguments` (the call's JSON text, or a mapping) as keywords. A function decorated with `tool`
    keeps its name and description there. Arguments that are not a JSON object fail on the span
    (ValueError), as does the tool's own exception; both go on to the caller.
    """
    tool_name, tool_description, target = getattr(
        function, "__aiops_tool__", (function.__name__, _description(function), function)
    )
    if inspect.iscoroutinefunction(target):
        raise TypeError(f"{tool_name} is async: await it, decorated with tracing.tool")
    with execute_tool(tool_name, call_id=call_id, description=tool_description) as call:
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
        except ValueError:
            call.arguments(arguments)  # as the model wrote them
            raise
        call.arguments(parsed)
        if not isinstance(parsed, dict):
            raise ValueError(f"the arguments of {tool_name} are not a JSON object")
        result = target(**parsed)
        call.result(result)
        return result
