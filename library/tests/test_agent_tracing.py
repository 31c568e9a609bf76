"""An agent's turn and each of its tool calls are spans in the OpenTelemetry GenAI conventions
(`invoke_agent {agent}`, `execute_tool {tool}`, semantic conventions v1.41), in the local trace_store, and
`monitor summary` counts the tool calls per tool with their latency and errors.

The agent here is a plain-Python tool loop over the real openai client and the offline model's tool
calling (test_offline_tools.py): what the agent flow kind will run.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from conftest import PROJECT_ROOT, answers_into, fresh_tracing
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_offline_tools import SOP, TOOLS, check_specification_limit
from typer.testing import CliRunner

from aiops_platform import llm, monitor, offline_model, tracing
from aiops_platform.cli import app
from aiops_platform.cli._common import console
from aiops_platform.monitoring_config import load_config
from aiops_platform.settings import Settings, get_settings

AGENT = "qc-assistant"
MODEL = "offline-extractive"
runner = CliRunner()


@tracing.tool
def lookup_sop_section(topic: str) -> str:
    """Look up the SOP section that covers a topic.

    A second line the span does not carry.
    """
    return SOP.get(topic.lower(), "No SOP section covers that topic.")


@tracing.tool(name="check_specification_limit")
def check_limit(attribute: str, value: float) -> str:
    """Check a measured value against the specification limit of a quality attribute."""
    return check_specification_limit(attribute, value)  # an attribute without a limit: KeyError


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lookup_sop_section": lookup_sop_section,
    "check_specification_limit": check_limit,
}


@pytest.fixture
def client() -> openai.OpenAI:
    return llm.build_client(Settings(llm_provider="offline"))


def agent_turn(client: openai.OpenAI, messages: list[dict[str, Any]]) -> str:
    """One turn: the model calls tools (a failing tool's error goes back to it) until it answers."""
    with tracing.agent_invocation(AGENT, conversation_id="conv-1", description="Answers QC questions"):
        for _ in range(5):
            with tracing.model_call("chat", "offline", MODEL) as span:
                response = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
                usage = response.usage
                assert usage is not None
                tracing.record_usage(span, response.model, usage.prompt_tokens, usage.completion_tokens)
            message = response.choices[0].message
            if not message.tool_calls:
                messages.append({"role": "assistant", "content": message.content})
                return message.content or ""
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                try:
                    result = tracing.call_tool(
                        FUNCTIONS[call.function.name], call.function.arguments, call.id
                    )
                except (KeyError, ValueError) as error:  # the model is told, and answers without it
                    result = f"The tool failed: {type(error).__name__}."
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise AssertionError("no answer after five rounds")


def by_name(spans: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return sorted((span for span in spans if span["name"].startswith(prefix)), key=lambda s: s["start_ns"])


def test_an_agent_turn_is_one_invoke_agent_span_over_its_chat_and_tool_spans(trace_store: Path, client):
    answer = agent_turn(
        client, [{"role": "user", "content": "Is a pH of 7.9 within the specification limit?"}]
    )
    assert answer == "The pH value 7.9 is outside the specification limit 6.5 to 7.5."

    spans = monitor.read_spans([trace_store])
    (agent,) = by_name(spans, "invoke_agent ")
    assert agent["name"] == f"invoke_agent {AGENT}" and agent["parent_id"] is None
    assert agent["status"] == "UNSET"
    assert agent["attributes"] == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "offline",  # the configured model's, as llm.chat names it
        "gen_ai.agent.name": AGENT,
        "gen_ai.agent.description": "Answers QC questions",
        "gen_ai.request.model": MODEL,
        "gen_ai.conversation.id": "conv-1",
    }
    chats, (tool,) = by_name(spans, "chat "), by_name(spans, "execute_tool ")
    assert len(chats) == 2 and len(spans) == 4
    assert {span["trace_id"] for span in spans} == {agent["trace_id"]}
    assert {span["parent_id"] for span in [*chats, tool]} == {agent["span_id"]}
    assert (
        chats[0]["end_ns"] <= tool["start_ns"] and tool["end_ns"] <= chats[1]["start_ns"]
    )  # call, run, answer
    assert all(chat["attributes"]["gen_ai.usage.input_tokens"] > 0 for chat in chats)
    assert tool["name"] == "execute_tool check_specification_limit" and tool["status"] == "UNSET"
    attributes = tool["attributes"]
    assert {key: value for key, value in attributes.items() if not key.startswith("gen_ai.tool.call.")} == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "check_specification_limit",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": check_limit.__doc__,
    }
    assert attributes["gen_ai.tool.call.id"] == "call_offline_1"  # the model's id for the call
    assert json.loads(attributes["gen_ai.tool.call.arguments"]) == {"attribute": "pH", "value": 7.9}
    assert json.loads(attributes["gen_ai.tool.call.result"]) == answer


def test_a_failing_tool_is_an_error_span_and_the_agent_goes_on(trace_store: Path, client):
    question = "Is the dissolution value 80 within its specification limit?"  # no limit for dissolution
    answer = agent_turn(client, [{"role": "user", "content": question}])
    assert answer == offline_model.NO_ANSWER  # the turn ends with an answer, not the exception
    spans = monitor.read_spans([trace_store])
    (tool,) = by_name(spans, "execute_tool ")
    assert tool["status"] == "ERROR"
    assert tool["attributes"]["error.type"] == "KeyError"
    assert "gen_ai.tool.call.result" not in tool["attributes"]  # only a successful call has one
    assert json.loads(tool["attributes"]["gen_ai.tool.call.arguments"])["attribute"] == "dissolution value"
    (agent,) = by_name(spans, "invoke_agent ")
    assert agent["status"] == "UNSET"  # the loop handled it


def test_an_error_the_agent_does_not_handle_marks_the_agent_span_too(trace_store: Path):
    with (
        pytest.raises(json.JSONDecodeError),
        tracing.agent_invocation(AGENT, provider="openai", model="gpt-4o"),
    ):
        tracing.call_tool(lookup_sop_section, '{"topic": "cleaning"', "call_1")  # cut-off arguments
    spans = monitor.read_spans([trace_store])
    (tool,), (agent,) = by_name(spans, "execute_tool "), by_name(spans, "invoke_agent ")
    assert (tool["status"], tool["attributes"]["error.type"]) == ("ERROR", "JSONDecodeError")
    assert tool["attributes"]["gen_ai.tool.call.arguments"] == json.dumps(
        '{"topic": "cleaning"'
    )  # as written
    assert (agent["status"], agent["attributes"]["error.type"]) == ("ERROR", "JSONDecodeError")
    assert agent["attributes"]["gen_ai.provider.name"] == "openai"
    assert agent["attributes"]["gen_ai.request.model"] == "gpt-4o"


def confidential_project(folder: Path) -> Path:
    folder.mkdir()
    answers_into(folder)
    governance = yaml.safe_load((folder / "governance.yaml").read_text(encoding="utf-8"))
    governance["data_classification"] = "confidential"
    (folder / "governance.yaml").write_text(yaml.safe_dump(governance), encoding="utf-8")
    shutil.copy(PROJECT_ROOT / "experiment.yaml", folder / "experiment.yaml")  # marks the root
    return folder


def test_confidential_data_keeps_no_tool_arguments_results_or_error_messages(
    trace_store: Path, client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(confidential_project(tmp_path / "project"))
    monkeypatch.delenv("AIOPS_TRACE_CONTENT")  # the tests' default: on; here the project's decides
    fresh_tracing()
    assert get_settings().aiops_trace_content is False
    for question in [
        "What does the SOP say about balance calibration?",
        "Is the assay value 117.3 in its limit?",
    ]:
        agent_turn(client, [{"role": "user", "content": question}])
    agent_turn(
        client, [{"role": "user", "content": "Is the dissolution value 80 within its specification limit?"}]
    )
    spans = monitor.read_spans([trace_store])
    tools = by_name(spans, "execute_tool ")
    assert [tool["attributes"]["gen_ai.tool.name"] for tool in tools] == [
        "lookup_sop_section",
        "check_specification_limit",
        "check_specification_limit",
    ]
    stored = json.dumps([(span["name"], span["attributes"]) for span in spans])  # ids and times: random
    for said in ("calibrat", "assay", "117.3", "dissolution", "specification limit 95"):
        assert said not in stored.lower(), said
    for tool in tools:
        assert not {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} & tool["attributes"].keys()
        assert tool["attributes"]["gen_ai.tool.call.id"] == "call_offline_1"  # ids and names stay
    failed = tools[-1]
    assert (failed["status"], failed["attributes"]["error.type"]) == ("ERROR", "KeyError")
    # an error the agent does not handle: its span keeps no message either (the KeyError's quotes it),
    # in the trace_store or in a status description (what Azure Monitor receives)
    finished = InMemorySpanExporter()
    tracing.providers()[0].add_span_processor(SimpleSpanProcessor(finished))
    with pytest.raises(KeyError), tracing.agent_invocation(AGENT):
        tracing.call_tool(check_limit, {"attribute": "dissolution", "value": 80}, "call_9")
    statuses = {span.name: span.status for span in finished.get_finished_spans()}
    assert set(statuses) == {f"invoke_agent {AGENT}", "execute_tool check_specification_limit"}
    assert {(status.status_code.name, status.description) for status in statuses.values()} == {
        ("ERROR", "KeyError")
    }
    assert "dissolution" not in json.dumps([span["attributes"] for span in monitor.read_spans([trace_store])])


def test_a_decorated_tool_keeps_what_a_framework_reads_and_traces_direct_and_async_calls(trace_store: Path):
    assert lookup_sop_section.__name__ == "lookup_sop_section"
    assert list(inspect.signature(lookup_sop_section).parameters) == ["topic"]
    assert (lookup_sop_section.__doc__ or "").startswith("Look up the SOP section")

    @tracing.tool(description="Find a batch record line.")
    async def find_batch_record(batch_id: str, step: str = "compression") -> dict[str, str]:
        return {"batch": batch_id, "step": step}

    assert inspect.iscoroutinefunction(find_batch_record)
    assert asyncio.run(find_batch_record("B-1")) == {"batch": "B-1", "step": "compression"}
    assert lookup_sop_section(topic="cleaning").startswith("Cleaning of equipment")
    with pytest.raises(TypeError, match="async"):
        tracing.call_tool(find_batch_record, {"batch_id": "B-1"})
    found, looked_up = by_name(monitor.read_spans([trace_store]), "execute_tool ")
    assert found["attributes"]["gen_ai.tool.description"] == "Find a batch record line."
    assert json.loads(found["attributes"]["gen_ai.tool.call.arguments"]) == {"batch_id": "B-1"}
    assert json.loads(found["attributes"]["gen_ai.tool.call.result"]) == {
        "batch": "B-1",
        "step": "compression",
    }
    assert "gen_ai.tool.call.id" not in found["attributes"]  # called by code, not by a model
    assert (
        looked_up["attributes"]["gen_ai.tool.description"] == "Look up the SOP section that covers a topic."
    )
    assert looked_up["parent_id"] is None


# ---- monitor summary -----------------------------------------------------------------------------

CONFIG = """\
currency: USD
prices_per_1k_tokens:
  gpt-4o-mini: {input: 0.00015, output: 0.0006}
alerts:
  server_error_rate_percent: 5
  latency_p95_ms: 4000
  daily_tokens: 2000000
  daily_cost: 25
  online_score_min: 3.5
  online_score_metric: groundedness
  cost_model: "gpt-4o-mini"
"""


def flow_requests() -> list[dict[str, Any]]:
    """Three qa requests (one failed), each with a model call: a trace_store without tool spans."""
    spans = []
    for n, (milliseconds, status) in enumerate([(120.0, "UNSET"), (80.5, "UNSET"), (300.25, "ERROR")]):
        start = 1_000_000_000 * n
        spans.append(
            {
                "trace_id": f"t{n}",
                "span_id": f"f{n}",
                "parent_id": None,
                "name": "flow qa",
                "start_ns": start,
                "end_ns": start + int(milliseconds * 1e6),
                "status": status,
                "attributes": {"aiops.flow": "qa", "aiops.variant": "default"},
            }
        )
        usage = {"gen_ai.usage.input_tokens": 100 + n, "gen_ai.usage.output_tokens": 10 + n}
        spans.append(
            {
                "trace_id": f"t{n}",
                "span_id": f"c{n}",
                "parent_id": f"f{n}",
                "name": "chat gpt-4o-mini",
                "start_ns": start + 1,
                "end_ns": start + 2_000_000,
                "status": "UNSET",
                "attributes": {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    **usage,
                },
            }
        )
    return spans


def tool_span(n: int, trace: int, tool: str, milliseconds: float, status: str = "UNSET") -> dict[str, Any]:
    start = 1_000_000_000 * trace + 3_000_000
    return {
        "trace_id": f"t{trace}",
        "span_id": f"x{n}",
        "parent_id": f"f{trace}",
        "name": f"execute_tool {tool}",
        "start_ns": start,
        "end_ns": start + int(milliseconds * 1e6),
        "status": status,
        "attributes": {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.type": "function",
        },
    }


# `monitor summary` of flow_requests() in an 80-column terminal, as printed before tool calls were counted
BEFORE_TOOL_CALLS = (
    "         Traced requests by flow (or evaluator) and variant         \n"
    "                                                                    \n"
    " flow   variant   requests     errors   p50 ms   p95 ms   tokens in \n"
    " ────────────────────────────────────────────────────────────────── \n"
    " qa     default          3   1 (33 %)    120.0    300.2         303 \n"
    "                                                                    \n"
    " Traced requests by flow (or evaluator) \n"
    "         and variant, continued         \n"
    "                                        \n"
    " flow   variant   tokens out   cost USD \n"
    " ────────────────────────────────────── \n"
    " qa     default           33     0.0001 \n"
    "                                        \n"
    "  cost: an estimate, at the per-model   \n"
    "         prices in config.yaml          \n"
)


def summary_of(spans: list[dict[str, Any]], folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder.mkdir()
    (folder / "spans-1.jsonl").write_text(
        "".join(json.dumps(span) + "\n" for span in spans), encoding="utf-8"
    )
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(console, "width", 80)
    result = runner.invoke(app, ["monitor", "summary", "spans-1.jsonl", "--config", "config.yaml"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_store_without_tool_spans_gets_the_summary_it_got_before(tmp_path: Path, monkeypatch):
    assert summary_of(flow_requests(), tmp_path / "flows", monkeypatch) == BEFORE_TOOL_CALLS
    assert monitor.tool_summaries(flow_requests()) == []


def test_monitor_summary_counts_tool_calls_per_tool_with_latency_and_errors(tmp_path: Path, monkeypatch):
    durations = [4.0, 1.0, 3.0, 2.0, 100.0]  # p50: 3.0, p95: the slowest
    tools = [tool_span(n, n % 3, "lookup_sop_section", ms) for n, ms in enumerate(durations)]
    tools.append(tool_span(9, 2, "check_specification_limit", 7.5, status="ERROR"))
    shown = summary_of(flow_requests() + tools, tmp_path / "agent", monkeypatch)
    assert shown.startswith(BEFORE_TOOL_CALLS)  # tool spans are no requests, and have no tokens
    rows = [line.split() for line in shown.removeprefix(BEFORE_TOOL_CALLS).splitlines()]
    assert ["tool", "calls", "errors", "p50", "ms", "p95", "ms"] in rows
    assert ["check_specification_limit", "1", "1", "(100", "%)", "7.5", "7.5"] in rows
    assert ["lookup_sop_section", "5", "0", "(0", "%)", "3.0", "100.0"] in rows
    assert monitor.tool_summaries(flow_requests() + tools) == [
        monitor.ToolSummary("check_specification_limit", calls=1, errors=1, p50_ms=7.5, p95_ms=7.5),
        monitor.ToolSummary("lookup_sop_section", calls=5, errors=0, p50_ms=3.0, p95_ms=100.0),
    ]


def test_monitor_summary_counts_the_tool_calls_an_agent_traced(trace_store: Path, client, monkeypatch):
    for question in [
        "What does the SOP say about balance calibration?",
        "Is a pH of 7.1 within the specification limit?",
        "Is the dissolution value 80 within its specification limit?",
    ]:
        agent_turn(client, [{"role": "user", "content": question}])
    spans = monitor.read_spans([trace_store])
    (requests,) = monitor.summarise(spans, load_config(PROJECT_ROOT / "monitoring/config.yaml"))
    assert (requests.flow, requests.requests, requests.errors) == (f"invoke_agent {AGENT}", 3, 0)
    lookup, check = by_name(spans, "execute_tool lookup"), by_name(spans, "execute_tool check")
    milliseconds = sorted((span["end_ns"] - span["start_ns"]) / 1e6 for span in check)
    assert monitor.tool_summaries(spans) == [
        monitor.ToolSummary("check_specification_limit", 2, 1, milliseconds[0], milliseconds[1]),
        monitor.ToolSummary(
            "lookup_sop_section", 1, 0, *[(lookup[0]["end_ns"] - lookup[0]["start_ns"]) / 1e6] * 2
        ),
    ]
    monkeypatch.setattr(console, "width", 120)
    result = runner.invoke(
        app,
        ["monitor", "summary", str(trace_store), "--config", str(PROJECT_ROOT / "monitoring/config.yaml")],
    )
    assert result.exit_code == 0, result.output
    assert "Tool calls by tool" in result.output
    (row,) = [
        line.split()
        for line in result.output.splitlines()
        if line.split()[:1] == ["check_specification_limit"]
    ]
    assert row[1:5] == ["2", "1", "(50", "%)"]
