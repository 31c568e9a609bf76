"""Monitoring as code and the feedback loop: thresholds from one file, samples that register."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, answers_into, fresh_tracing, sample_project
from test_tracing import _Ingestion
from typer.testing import CliRunner

from aiops_platform import governance, llm, monitor, project, tracing
from aiops_platform.cli import app
from aiops_platform.data_validation import validate_jsonl
from aiops_platform.evaluation import ONLINE_JUDGES
from aiops_platform.flow_entry import load_entry
from aiops_platform.monitoring_config import (
    MonitoringConfigError,
    arm_parameters,
    load_config,
)
from aiops_platform.registry import LocalRegistry
from aiops_platform.settings import get_settings

PROJECT = PROJECT_ROOT
ANSWERS = project.load(PROJECT)  # a qa flow: its requests carry a question and a context
PREFIX = governance.load(PROJECT).use_case.lower()  # sample assets are <use case>_production_samples
MONITORING = PROJECT / "monitoring"
EXPERIMENT_LINE = {"question": "Q?", "context": "C."}
THRESHOLD = re.compile(r"^\[json\(parameters\('(\w+)'\)\)\]$")
runner = CliRunner()
SAMPLE = Path(".aiops/samples/production_samples.jsonl")  # where `monitor sample` writes by default


def _json(name: str, monitoring: Path = MONITORING) -> dict:
    return json.loads((monitoring / name).read_text(encoding="utf-8"))


KINDS = ["qa", "agent"]  # an agent project adds the tool-failure rule and the tool panel
TOOL_RULE = "tool-failures"
ARM_CONCAT = re.compile(r"parameters\('(\w+)'\)|'([^']*)'")


def _monitoring(kind: str) -> Path:
    return sample_project(kind) / "monitoring"


def _kql(query: str, parameters: dict) -> str:
    """A rule's query as Azure runs it: an ARM `[concat(...)]` evaluated with the parameters file."""
    if not query.startswith("[concat("):
        return query
    return "".join(parameters[name]["value"] if name else text for name, text in ARM_CONCAT.findall(query))


def _rules(monitoring: Path) -> dict[str, dict]:
    rules = [
        r for r in _json("alerts.json", monitoring)["resources"] if r["type"].endswith("scheduledQueryRules")
    ]
    return {re.search(r"\{0\}-([\w-]+)'", rule["name"])[1]: rule for rule in rules}


def _tool_queries() -> list[str]:
    """The agent project's tool-failure alert and workbook tool panel, as the queries Azure runs."""
    monitoring = _monitoring("agent")
    parameters = _json("alerts.parameters.json", monitoring)["parameters"]
    (criterion,) = _rules(monitoring)[TOOL_RULE]["properties"]["criteria"]["allOf"]
    items = _json("workbook.json", monitoring)["variables"]["workbook"]["items"]
    (panel,) = [
        item["content"]["query"] for item in items if item["content"].get("title") == "Tool calls by tool"
    ]
    return [_kql(criterion["query"], parameters), panel]


@pytest.mark.parametrize("kind", KINDS)
def test_the_committed_alert_parameters_come_from_the_config(kind: str):
    monitoring = _monitoring(kind)
    assert (monitoring / "alerts.parameters.json").read_text(encoding="utf-8") == arm_parameters(
        load_config(monitoring / "config.yaml")
    ), "monitoring/alerts.parameters.json is stale: run `make alert-params`"


@pytest.mark.parametrize("kind", KINDS)
def test_every_alert_rule_takes_its_threshold_from_the_config(kind: str):
    monitoring = _monitoring(kind)
    template, parameters = _json("alerts.json", monitoring), _json("alerts.parameters.json", monitoring)
    parameters = parameters["parameters"]
    alerts = load_config(monitoring / "config.yaml").alerts
    rules = _rules(monitoring)
    names = {"server-errors", "latency-p95", "daily-tokens", "daily-cost", "online-score-drop"}
    assert set(rules) == (names | {TOOL_RULE} if kind == "agent" else names)
    expected = {
        "serverErrorRatePercent": alerts.server_error_rate_percent,
        "latencyP95Ms": alerts.latency_p95_ms,
        "dailyTokens": alerts.daily_tokens,
        "dailyCost": alerts.daily_cost,
        "onlineScoreMin": alerts.online_score_min,
    }
    if kind == "agent":
        expected["toolFailureRatePercent"] = alerts.tool_failure_rate_percent
    used = set()
    for rule in rules.values():
        (criterion,) = rule["properties"]["criteria"]["allOf"]
        match = THRESHOLD.match(str(criterion["threshold"]))
        assert match, f"{rule['name']}: threshold {criterion['threshold']!r} is a literal, not a parameter"
        used.add(match[1])
        assert float(parameters[match[1]]["value"]) == float(expected[match[1]])
        assert rule["properties"]["actions"]["actionGroups"], rule["name"]
        assert criterion["metricMeasureColumn"] in _kql(criterion["query"], parameters), rule["name"]
    assert used == set(expected)
    assert any(r["type"] == "Microsoft.Insights/actionGroups" for r in template["resources"])
    assert set(parameters) <= set(template["parameters"])
    if kind == "agent":  # the minimum count is the config's too, not a literal in the query
        assert f"| where calls >= {alerts.tool_failure_min_calls} |" in _tool_queries()[0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_workbook_is_a_deployable_template_with_queries(kind: str):
    template = _json("workbook.json", _monitoring(kind))
    (workbook_resource,) = template["resources"]
    assert workbook_resource["type"] == "Microsoft.Insights/workbooks"
    items = template["variables"]["workbook"]["items"]
    queries = [item["content"]["query"] for item in items if item["type"] == 3]
    assert any("gen_ai.usage.input_tokens" in query for query in queries)
    assert any("online_evaluation" in query for query in queries)
    tool_panels = [query for query in queries if "execute_tool" in query]
    assert len(tool_panels) == (1 if kind == "agent" else 0)
    if kind == "agent":  # the columns of `monitor summary`'s "Tool calls by tool"
        columns = re.search(r"\| project ([\w, ]+) \|", tool_panels[0])[1].split(", ")
        assert columns == ["tool", "calls", "failures", "failure_percent", "p50_ms", "p95_ms"]


def test_the_tool_queries_read_what_the_exporter_sends_for_tool_calls(
    trace_store: Path, monkeypatch: pytest.MonkeyPatch
):
    """Tool calls exported to Azure Monitor (a local ingestion endpoint) as the `dependencies` rows the
    agent's tool queries filter and count: the span name, `success`, the customDimensions keys."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    monkeypatch.setenv(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint=http://127.0.0.1:{server.server_address[1]}/",
    )
    _Ingestion.received.clear()
    fresh_tracing()

    def lookup_batch(batch: str) -> str:
        """Find a batch record."""
        return f"{batch}: released"

    def check_limit(batch: str) -> str:
        """Check a batch against its specification."""
        raise KeyError(batch)

    try:
        tracing.call_tool(lookup_batch, {"batch": "B1"}, call_id="call-1")
        with pytest.raises(KeyError):
            tracing.call_tool(check_limit, {"batch": "B2"}, call_id="call-2")
        tracer_provider, meter_provider = tracing.providers()
        tracer_provider.force_flush()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    finally:
        server.shutdown()
    envelopes = [item for body in _Ingestion.received for item in json.loads(body)]
    rows = {  # baseData of a RemoteDependency: name, success, duration; properties are customDimensions
        item["data"]["baseData"]["name"]: item["data"]["baseData"]
        for item in envelopes
        if item["data"]["baseType"] == "RemoteDependencyData"
    }
    for query in _tool_queries():
        assert query.startswith("dependencies | ")
        prefix = re.search(r'where name startswith "([^"]+)"', query)[1]
        counted = {name: row for name, row in rows.items() if name.startswith(prefix)}
        assert {name: row["success"] for name, row in counted.items()} == {
            "execute_tool lookup_batch": True,
            "execute_tool check_limit": False,
        }
        assert "countif(success == false)" in query
        for key in re.findall(r'customDimensions\["([^"]+)"\]', query):
            assert all(key in row["properties"] for row in counted.values()), key
        tools = {row["properties"]["gen_ai.tool.name"] for row in counted.values()}
        assert tools == {"lookup_batch", "check_limit"}
    # Why the queries count `success`: the exporter keeps no error.type in customDimensions.
    assert "error.type" not in rows["execute_tool check_limit"]["properties"]


def test_a_bad_config_names_the_field(tmp_path: Path):
    config = yaml.safe_load((MONITORING / "config.yaml").read_text(encoding="utf-8"))
    config["alerts"]["latency_p95_ms"] = -1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(MonitoringConfigError, match=r"alerts\.latency_p95_ms: Input should be greater"):
        load_config(tmp_path / "config.yaml")


def test_a_tool_failure_threshold_without_its_minimum_count_is_refused(tmp_path: Path):
    config = yaml.safe_load((_monitoring("agent") / "config.yaml").read_text(encoding="utf-8"))
    del config["alerts"]["tool_failure_min_calls"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(MonitoringConfigError, match=r"tool_failure_min_calls go together: set both"):
        load_config(tmp_path / "config.yaml")


@pytest.fixture
def traced_requests(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Five flow calls traced into the scratch project's store."""
    store = project_copy / ".aiops/traces"
    monkeypatch.setenv("AIOPS_TRACE_DIR", str(store))
    get_settings.cache_clear()
    tracing.reset()
    flow = load_entry(project_copy / ANSWERS.flow)
    rows = (project_copy / "data/core_qa.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    for row in map(json.loads, rows):
        flow(**{name: row[name] for name in inspect.signature(flow).parameters if name in row})
    yield store
    get_settings.cache_clear()
    tracing.reset()


def test_sampled_requests_become_a_registered_dataset_version(traced_requests: Path, project_copy: Path):
    with tracing.run_attributes(variant="baseline", dataset="core_qa"):  # an experiment run: not sampled
        load_entry(project_copy / ANSWERS.flow)(**EXPERIMENT_LINE)
    result = runner.invoke(app, ["monitor", "sample", "--size", "10"])
    assert result.exit_code == 0, result.output
    assert "Sampled 5 requests" in result.output
    result = runner.invoke(app, ["monitor", "sample", "--size", "3"])
    assert result.exit_code == 0, result.output
    assert f"azureml:{PREFIX}_production_samples:2 (new version" in result.output
    data = project_copy / SAMPLE
    assert "into .aiops/samples/production_samples.jsonl" in result.output
    assert not (project_copy / "data/production_samples.jsonl").exists()  # real requests: not committed
    lines = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and all(line["ground_truth"] == "" and line["answer"] for line in lines)
    assert all(line["question"] and line["context"] for line in lines)
    assert validate_jsonl(data, {"question", "answer", "context", "ground_truth"}) == []
    again = runner.invoke(app, ["monitor", "sample", "--size", "3"])  # same traces, same seed
    assert "(unchanged" in again.output
    bigger = runner.invoke(app, ["monitor", "sample", "--size", "4"])
    assert "production_samples:3 (new version" in bigger.output
    versions = LocalRegistry(project_copy).versions()
    assert [v.version for v in versions[f"{PREFIX}_production_samples"]] == ["1", "2", "3"]


def test_a_rag_request_s_sample_line_carries_the_passages_it_retrieved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A rag flow is asked a question only: the context a judge needs is what it retrieved (its output)."""
    rag = sample_project("rag")
    for folder in ("data", "flows", "monitoring"):
        shutil.copytree(rag / folder, tmp_path / folder)
    shutil.copy(rag / "experiment.yaml", tmp_path / "experiment.yaml")
    answers_into(tmp_path, rag)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIOPS_TRACE_DIR", str(tmp_path / ".aiops/traces"))
    get_settings.cache_clear()
    tracing.reset()
    try:
        flow = load_entry(tmp_path / project.load(tmp_path).flow)
        assert "context" not in inspect.signature(flow).parameters
        rows = (tmp_path / "data/core_qa.jsonl").read_text(encoding="utf-8").splitlines()[:3]
        for row in map(json.loads, rows):
            flow(question=row["question"])
        result = runner.invoke(app, ["monitor", "sample", "--size", "3"])
    finally:
        get_settings.cache_clear()
        tracing.reset()
    assert result.exit_code == 0, result.output
    assert f"azureml:{PREFIX}_production_samples:1 (new version" in result.output
    lines = [json.loads(line) for line in (tmp_path / SAMPLE).read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and all(line["question"] and line["answer"] and line["context"] for line in lines)
    assert validate_jsonl(tmp_path / SAMPLE, {"question", "answer", "context", "ground_truth"}) == []


def test_committing_a_sample_is_an_explicit_output_under_data(traced_requests: Path, project_copy: Path):
    committed = ["--output", "data/production_samples.jsonl"]
    result = runner.invoke(app, ["monitor", "sample", "--size", "2", *committed])
    assert result.exit_code == 0, result.output
    assert "into data/production_samples.jsonl" in result.output
    assert validate_jsonl(project_copy / "data/production_samples.jsonl", {"question", "answer"}) == []
    spec = yaml.safe_load((project_copy / "data/production_samples.yml").read_text(encoding="utf-8"))
    assert spec["name"].endswith("_production_samples") and spec["path"] == "production_samples.jsonl"
    assert not (project_copy / SAMPLE).exists()
    outside = runner.invoke(app, ["monitor", "sample", "--output", str(project_copy.parent / "x.jsonl")])
    assert outside.exit_code == 1 and "must be inside the project" in " ".join(outside.output.split())


def test_sampling_never_overwrites_labelled_lines(traced_requests: Path, project_copy: Path):
    assert runner.invoke(app, ["monitor", "sample", "--size", "2"]).exit_code == 0
    data = project_copy / SAMPLE
    labelled = data.read_text(encoding="utf-8").replace('"ground_truth": ""', '"ground_truth": "checked"', 1)
    data.write_text(labelled, encoding="utf-8")
    result = runner.invoke(app, ["monitor", "sample", "--size", "2"])
    assert result.exit_code == 1
    assert "has 1 labelled lines; keep them and sample into another --name" in " ".join(result.output.split())
    assert data.read_text(encoding="utf-8") == labelled
    elsewhere = runner.invoke(app, ["monitor", "sample", "--size", "2", "--name", "production_samples_2"])
    assert elsewhere.exit_code == 0, elsewhere.output


def test_online_evaluation_scores_the_latest_registered_sample_and_emits_them(
    traced_requests: Path, project_copy: Path
):
    missing = runner.invoke(app, ["monitor", "evaluate"])
    assert missing.exit_code == 1
    assert "no production sample in the local registry yet: run `make sample` first" in missing.output
    assert runner.invoke(app, ["monitor", "sample", "--size", "3"]).exit_code == 0
    assert runner.invoke(app, ["monitor", "sample", "--size", "4"]).exit_code == 0
    (project_copy / SAMPLE).unlink()  # the registered version is what is read, not the working file
    result = runner.invoke(app, ["monitor", "evaluate"])
    assert result.exit_code == 0, result.output
    scores = json.loads((project_copy / "results/online/scores.json").read_text(encoding="utf-8"))
    assert scores["dataset"].startswith(f"azureml:{PREFIX}_production_samples@latest (")
    assert "_production_samples/2/production_samples.jsonl" in scores["dataset"]
    assert (scores["lines"], scores["unscored"]) == (4, 0)
    assert set(scores["scores"]) == set(ONLINE_JUDGES)
    assert all(1.0 <= value <= 5.0 for value in scores["scores"].values())
    (online,) = [s for s in monitor.read_spans([traced_requests]) if s["name"] == "online_evaluation"]
    assert online["attributes"]["aiops.score.groundedness"] == scores["scores"]["groundedness"]


def test_a_line_the_judges_cannot_score_is_counted_not_fatal(traced_requests: Path, project_copy: Path):
    assert runner.invoke(app, ["monitor", "sample", "--size", "3"]).exit_code == 0
    data = project_copy / SAMPLE
    data.write_text(data.read_text(encoding="utf-8") + '{"id": "broken", "question": "no answer field"}\n')
    result = runner.invoke(app, ["monitor", "evaluate", str(data)])
    assert result.exit_code == 0, result.output
    assert "3 lines scored, 1 not" in " ".join(result.output.split())


def test_a_judge_reply_that_is_not_a_score_object_fails_its_line_not_the_command(
    traced_requests: Path, project_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    assert runner.invoke(app, ["monitor", "sample", "--size", "3"]).exit_code == 0
    reply = llm.Completion("[4, 5]", 0, 0)  # JSON, but not the score object a judge must answer
    monkeypatch.setattr(llm, "chat", lambda *args, **kwargs: reply)
    result = runner.invoke(app, ["monitor", "evaluate", str(project_copy / SAMPLE)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "no line could be scored (3 failed)" in " ".join(result.output.split())


def test_long_inputs_are_cut_per_string_so_spans_stay_valid_json(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AIOPS_TRACE_DIR", str(tmp_path))
    tracing.reset()
    echo = tracing.traced("flow echo")(lambda question, context: {"answer": "a", "context": context})
    echo(question="q", context="x" * (tracing.CONTENT_LIMIT + 1000))
    tracing.reset()
    spans = monitor.read_spans([tmp_path])
    (root,) = monitor.requests(spans)
    assert len(json.loads(root["attributes"]["aiops.inputs"])["context"]) == tracing.CONTENT_LIMIT
    (line,) = monitor.sample(spans, 5, 0)
    assert len(line["context"]) == tracing.CONTENT_LIMIT


def test_an_app_insights_export_reads_as_the_same_spans(tmp_path: Path):
    columns = ["id", "operation_Id", "operation_ParentId", "name", "duration", "success", "customDimensions"]
    columns.append("start_ms")
    dimensions = {"aiops.flow": ANSWERS.flow_kind, "aiops.variant": "blue"}
    chat = {"gen_ai.usage.input_tokens": "40", "gen_ai.usage.output_tokens": "8"}
    flow = f"flow {ANSWERS.flow_kind}"
    rows = [
        ["f1", "t1", "req1", flow, 120.0, "True", json.dumps(dimensions), 1_700_000_000_000],
        ["c1", "t1", "f1", "chat gpt-4o-mini", 100.0, "True", json.dumps(chat), 1_700_000_000_010],
        ["f2", "t2", "req2", flow, 300.0, "False", json.dumps(dimensions), 1_700_000_001_000],
    ]
    table = {"name": "PrimaryResult", "columns": [{"name": column} for column in columns], "rows": rows}
    export = tmp_path / "app-insights.json"
    export.write_text(json.dumps({"tables": [table]}), encoding="utf-8")
    (summary,) = monitor.summarise(monitor.read_spans([export]), load_config(MONITORING / "config.yaml"))
    assert (summary.requests, summary.errors, summary.input_tokens, summary.output_tokens) == (2, 1, 40, 8)
    assert (summary.p50_ms, summary.p95_ms) == (120.0, 300.0)


def test_a_corrupt_line_in_the_store_is_skipped_with_a_warning_naming_it(traced_requests: Path):
    tracing.reset()  # flushes the store
    (span_file,) = traced_requests.glob("spans-*.jsonl")
    good = span_file.read_text(encoding="utf-8")
    span_file.write_text(good + '{"name": "cut sho\n[1, 2]\n', encoding="utf-8")
    result = runner.invoke(app, ["monitor", "summary"])
    assert result.exit_code == 0, result.output
    total = len(good.splitlines())
    output = " ".join(result.output.split())  # rich wraps long paths
    assert f"{span_file.name}:{total + 1}: skipped, not valid JSON" in output
    assert f"{span_file.name}:{total + 2}: skipped, not a JSON object" in output
    flow = ANSWERS.flow_kind
    (row,) = [line.split() for line in result.output.splitlines() if line.split()[:1] == [flow]]
    assert row[2] == "5"  # every request still counted


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["summary", "missing.jsonl"], "missing.jsonl: no such file"),
        (["summary", "--config", "missing.yaml"], "missing.yaml: [Errno 2] No such file or directory"),
        (["summary", "empty-store"], "no traces in empty-store: run the flow first"),
        (["summary", "pyproject.toml"], "pyproject.toml: not a span file or App Insights export"),
        (["sample", "empty-store"], "no successful requests with recorded inputs in empty-store"),
        (["evaluate", "missing.jsonl"], "missing.jsonl: no such file"),
        (["evaluate", "azureml:nope"], "'azureml:nope' is not azureml:<name>:<version>"),
    ],
    ids=[
        "missing-span-file",
        "missing-config",
        "empty-store",
        "not-spans",
        "nothing-to-sample",
        "missing-sample-file",
        "bad-reference",
    ],
)
def test_bad_monitor_input_is_one_clear_line(project_copy: Path, arguments: list[str], message: str):
    result = runner.invoke(app, ["monitor", *arguments])
    assert result.exit_code in (1, 2)
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_the_monitor_summary_shows_every_value_whole_in_an_80_column_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from aiops_platform.cli._common import console

    spans = [
        {
            "trace_id": f"{flow}-{number}",
            "span_id": f"{flow}-{number}",
            "parent_id": None,
            "name": flow,
            "start_ns": 0,
            "end_ns": int(milliseconds * 1e6),
            "status": "ERROR" if flow == "content_safety" else "UNSET",
            "attributes": {"aiops.flow": flow, "aiops.variant": variant},
        }
        for flow, variant, durations in (
            ("qa", "baseline", [12.3, 45.6]),
            ("judges", "default", [2.1, 1234.5, 7.0]),
            ("content_safety", "default", [0.4]),
        )
        for number, milliseconds in enumerate(durations)
    ]
    store = tmp_path / "spans-1.jsonl"
    store.write_text("".join(json.dumps(span) + "\n" for span in spans), encoding="utf-8")
    config = MONITORING / "config.yaml"
    monkeypatch.setattr(console, "width", 80)

    result = runner.invoke(app, ["monitor", "summary", str(store), "--config", str(config)])

    assert result.exit_code == 0, result.output
    shown = result.output
    assert "…" not in shown and max(map(len, shown.splitlines())) <= 80
    for summary in monitor.summarise(monitor.read_spans([store]), load_config(config)):
        row = [summary.flow, summary.variant, f"{summary.errors} ({100 * summary.error_rate:.0f} %)"]
        row += [f"{summary.p50_ms:.1f}", f"{summary.p95_ms:.1f}", f"{summary.cost:.4f}"]
        row += [str(summary.requests), str(summary.input_tokens), str(summary.output_tokens)]
        assert all(re.search(rf"(?<![\w.]){re.escape(cell)}(?![\w.])", shown) for cell in row), (row, shown)
    for heading in ("requests", "errors", "p50 ms", "p95 ms", "tokens in", "tokens out", "cost USD"):
        assert heading in shown
