"""Each flow call leaves spans (latency, status, tokens) locally, and in Azure Monitor when configured."""

from __future__ import annotations

import gzip
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import openai
import pytest
from conftest import PROJECT_ROOT, fresh_tracing
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from aiops_platform import llm, monitor, tracing
from aiops_platform.cli import app
from aiops_platform.flow_entry import load_entry
from aiops_platform.monitoring_config import load_config

PROJECT = PROJECT_ROOT
FLOW = PROJECT / "flows" / "qa"  # the sample project's flow; spans are the same for every kind
LINE = {"question": "When are checks done?", "context": "Checks are done weekly. Audits are done yearly."}


def test_a_flow_call_is_a_root_span_with_a_model_call_carrying_token_usage(trace_store: Path):
    output = load_entry(FLOW)(**LINE)
    spans = monitor.read_spans([trace_store])
    (root,) = monitor.requests(spans)
    assert root["name"] == "flow qa" and root["status"] == "UNSET"
    assert root["attributes"]["aiops.variant"] == "default"
    assert json.loads(root["attributes"]["aiops.outputs"]) == output
    (model_call,) = [span for span in spans if span["name"].startswith("chat ")]
    assert model_call["parent_id"] == root["span_id"]
    attributes = model_call["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "offline-extractive"
    assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.usage.output_tokens"] > 0
    assert root["end_ns"] - root["start_ns"] >= model_call["end_ns"] - model_call["start_ns"] > 0


def test_threads_that_trace_their_first_call_at_once_all_succeed(trace_store: Path):
    """The in-process engine's workers start together; setting up tracing must not race."""
    start_together = threading.Barrier(16)

    def first_call(_: int) -> dict:
        start_together.wait()
        return load_entry(FLOW)(**LINE)

    with ThreadPoolExecutor(max_workers=16) as pool:
        outputs = list(pool.map(first_call, range(16)))
    assert len(outputs) == 16
    assert len(monitor.requests(monitor.read_spans([trace_store]))) == 16


def test_run_labels_reach_the_flow_span(trace_store: Path):
    with tracing.run_attributes(variant="concise", dataset="core_qa"):
        load_entry(FLOW)(**LINE)
    (root,) = monitor.requests(monitor.read_spans([trace_store]))
    assert root["attributes"]["aiops.variant"] == "concise"
    assert root["attributes"]["aiops.dataset"] == "core_qa"


def test_a_failed_model_call_marks_both_spans_as_errors(trace_store: Path, monkeypatch: pytest.MonkeyPatch):
    refusing = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": {"message": "denied"}}))
    client = openai.OpenAI(
        api_key="unused",  # pragma: allowlist secret
        base_url="http://model.invalid/v1",
        http_client=httpx.Client(transport=refusing),
        max_retries=0,
    )
    monkeypatch.setattr(llm, "get_client", lambda: client)
    with pytest.raises(llm.ModelCallError):
        load_entry(FLOW)(**LINE)
    spans = monitor.read_spans([trace_store])
    failed = {span["name"]: span for span in spans if span["status"] == "ERROR"}
    assert failed["flow qa"]["attributes"]["error.type"] == "ModelCallError"
    assert failed["chat offline-extractive"]["attributes"]["error.type"] == "ModelCallError"


def test_a_failed_calls_span_holds_no_credential_of_the_endpoint(
    trace_store: Path, monkeypatch: pytest.MonkeyPatch
):
    password = "pa55-" + "word-in-the-url"  # pragma: allowlist secret
    endpoint = f"http://alice:{password}@model.invalid/v1"
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", endpoint)
    monkeypatch.setenv("LLM_CACHE", "off")
    fresh_tracing()
    refusing = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": {"message": "denied"}}))
    client = openai.OpenAI(
        api_key="unused",  # pragma: allowlist secret
        base_url=endpoint,
        http_client=httpx.Client(transport=refusing),
        max_retries=0,
    )
    monkeypatch.setattr(llm, "get_client", lambda: client)
    finished = InMemorySpanExporter()
    tracing.providers()[0].add_span_processor(SimpleSpanProcessor(finished))
    with pytest.raises(llm.ModelCallError) as failed:
        load_entry(FLOW)(**LINE)
    assert "openai (http://model.invalid/v1) refused the call (401)" in str(failed.value)
    descriptions = [span.status.description or "" for span in finished.get_finished_spans()]
    assert any("refused the call (401)" in description for description in descriptions)
    assert not any(password in description or "alice" in description for description in descriptions)


def test_a_secret_a_caller_writes_in_a_question_is_masked_in_the_flows_span(trace_store: Path):
    """Spans keep inputs and outputs (local trace_store, Azure Monitor): a key pasted into a question is
    masked there as in the server's log."""
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0k"  # pragma: allowlist secret
    load_entry(FLOW)(**(LINE | {"question": f"Is {key} a key? {LINE['question']}"}))
    (root,) = monitor.requests(monitor.read_spans([trace_store]))
    assert key not in json.dumps(root)
    assert json.loads(root["attributes"]["aiops.inputs"])["question"].startswith("Is *** a key?")


def test_each_call_records_genai_metrics(trace_store: Path, monkeypatch: pytest.MonkeyPatch):
    reader = InMemoryMetricReader()
    real_meter_provider = tracing.MeterProvider
    monkeypatch.setattr(
        tracing,
        "MeterProvider",
        lambda metric_readers, resource: real_meter_provider([*metric_readers, reader], resource=resource),
    )
    fresh_tracing()
    load_entry(FLOW)(**LINE)
    points = {
        metric.name: metric.data.data_points
        for resource_metrics in reader.get_metrics_data().resource_metrics
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
    }
    expected = {"gen_ai.client.token.usage", "gen_ai.client.operation.duration", "aiops.flow.duration"}
    assert expected <= set(points)
    token_types = {point.attributes["gen_ai.token.type"] for point in points["gen_ai.client.token.usage"]}
    assert token_types == {"input", "output"}
    assert all(point.sum > 0 for point in points["gen_ai.client.token.usage"])
    (flow_duration,) = points["aiops.flow.duration"]
    assert flow_duration.count == 1 and flow_duration.attributes["aiops.flow"] == FLOW.name


def test_tracing_off_writes_nothing(trace_store: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIOPS_TRACING", "false")
    fresh_tracing()
    load_entry(FLOW)(**LINE)
    assert not trace_store.exists()


def test_monitor_summary_counts_requests_latency_and_tokens(trace_store: Path):
    for _ in range(5):
        load_entry(FLOW)(**LINE)
    config = load_config(PROJECT / "monitoring/config.yaml")
    (summary,) = monitor.summarise(monitor.read_spans([trace_store]), config)
    assert (summary.flow, summary.variant, summary.requests, summary.errors) == (FLOW.name, "default", 5, 0)
    assert 0 < summary.p50_ms <= summary.p95_ms
    assert summary.input_tokens > summary.output_tokens > 0
    assert summary.cost > 0  # the offline model is priced as gpt-4o-mini in monitoring/config.yaml
    result = CliRunner().invoke(
        app, ["monitor", "summary", str(trace_store), "--config", str(PROJECT / "monitoring/config.yaml")]
    )
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if line.split()[:1] == [FLOW.name]]
    assert " 5 " in row


class _Ingestion(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        _Ingestion.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"itemsReceived": 1, "itemsAccepted": 1, "errors": []}')

    def log_message(self, *args):
        pass


def test_with_a_connection_string_spans_also_go_to_azure_monitor(trace_store: Path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    monkeypatch.setenv(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={endpoint}",
    )
    fresh_tracing()
    try:
        load_entry(FLOW)(**LINE)
        tracer_provider, meter_provider = tracing.providers()
        tracer_provider.force_flush()
        sent = b"".join(_Ingestion.received).decode("utf-8")
        assert "flow qa" in sent
        assert "gen_ai.usage.input_tokens" in sent
        assert monitor.requests(monitor.read_spans([trace_store]))  # the local trace_store still gets them
        tracer_provider.shutdown()
        meter_provider.shutdown()
    finally:
        server.shutdown()


@pytest.mark.parametrize("value", ["not a connection string", "InstrumentationKey=not-a-guid"])
def test_a_malformed_connection_string_stops_a_command_with_one_line(
    trace_store: Path, monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", value)
    fresh_tracing()
    inputs = [f"{name}={json.dumps(item) if isinstance(item, list) else item}" for name, item in LINE.items()]
    result = CliRunner().invoke(app, ["run", *[part for item in inputs for part in ("-i", item)]])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING is not a valid connection string (" in line
    assert "Application Insights resource's Overview page, or unset it to trace locally only" in line
    assert not trace_store.exists()  # stopped before the flow ran
