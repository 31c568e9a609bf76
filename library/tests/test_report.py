"""One report for everything: two datasets x two variants, nothing overwritten, HTML self-contained;
each metric next to its threshold, each run with its latency and cost, the worst lines by the gate."""

import io
import json
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from aiops_platform import paths, report
from aiops_platform.cli import app
from aiops_platform.engines import RunResult
from aiops_platform.experiment import GateConfig
from aiops_platform.gate import check
from aiops_platform.monitoring_config import load_config
from aiops_platform.results import (
    EvaluationRecord,
    ExperimentResults,
    RunRecord,
    add_run_stats,
)


@pytest.fixture
def two_variants(tiny_experiment: Path) -> Path:
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    data["flows"][0]["variants"] = [
        {"name": "baseline"},
        {"name": "concise", "inputs": {"prompt": "qa_concise.jinja2"}},
    ]
    data["gate"] = {"thresholds": {"qa_metrics.f1_score": 0.1}}
    tiny_experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    return tiny_experiment


@pytest.fixture
def report_folder(two_variants: Path, tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        app, ["experiment", "run", "-f", str(two_variants), "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "out").iterdir()
    return folder


RUNS = [(v, d) for v in ("baseline", "concise") for d in ("core_qa", "hard_qa")]


def test_every_variant_and_dataset_has_its_own_results(report_folder: Path):
    saved = json.loads((report_folder / "results.json").read_text(encoding="utf-8"))
    assert [(e["variant"], e["dataset"]) for e in saved["evaluations"]] == RUNS
    for variant, dataset in RUNS:
        assert (report_folder / "runs/qa" / variant / dataset / "lines.jsonl").is_file()
        assert (report_folder / "evaluations/qa_metrics/qa" / variant / dataset / "lines.jsonl").is_file()
    metrics = {(e["variant"], e["dataset"]): e["metrics"]["exact_match"] for e in saved["evaluations"]}
    assert metrics["baseline", "core_qa"] != metrics["concise", "core_qa"]  # the variants really differ


def test_markdown_summary_has_a_row_per_variant_and_dataset(report_folder: Path):
    summary = (report_folder / "summary.md").read_text(encoding="utf-8")
    for variant, dataset in RUNS:
        assert f"| qa | {variant} | {dataset} | 3 | 0 |" in summary
    assert "**Gate: passed**" in summary


def test_html_report_is_self_contained_with_tables_charts_comparison_and_worst_lines(report_folder: Path):
    page = (report_folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page) and not re.search(r"(src|href)=\"https?:", page)
    for variant, dataset in RUNS:
        assert f"<td>{variant}</td><td>{dataset}</td>" in page.replace('<td class="">', "<td>")
    assert page.count("<svg") >= 2 * 3  # a chart per dataset and metric
    assert "<h2>Variant comparison</h2>" in page and "<th>qa/concise</th>" in page
    parsed = Page(page)
    assert parsed.line_rows and {row["metric"] for row in parsed.line_rows} == {"qa_metrics.f1_score"}
    assert "<h3>core_qa</h3>" in page and "<h3>hard_qa</h3>" in page
    assert "Gate passed" in page


def test_a_run_records_latency_and_tokens_from_its_spans(report_folder: Path):
    saved = json.loads((report_folder / "results.json").read_text(encoding="utf-8"))
    for run in saved["runs"]:
        stats = run["stats"]
        assert stats["traced_lines"] == 3 and 0 < stats["p50_ms"] <= stats["p95_ms"]
        assert stats["input_tokens"] > 0 and stats["output_tokens"] > 0
        assert stats["cost"] is None  # the tiny experiment's folder has no monitoring/config.yaml


class Page(HTMLParser):
    """The report's tables as rows of (attributes, cell texts, cell attributes), its filters and script."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[dict]] = {}
        self.filters: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self._table = self._row = self._cell = self._select = None
        self.feed(text)

    @property
    def line_rows(self) -> list[dict]:
        return [row["attrs"] | {"cells": row["cells"]} for row in self.tables.get("worst-lines", [])[1:]]

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(attributes.get("id") or f"table{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": {k.removeprefix("data-"): v for k, v in attributes.items()}, "cells": []}
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"text": "", **attributes}
            self._row["cells"].append(self._cell)
        elif tag == "select":
            self._select = self.filters.setdefault(attributes["data-filter"], [])
        elif tag == "option" and self._select is not None:
            self._select.append(attributes["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._cell = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data


QUESTION = 'Is <b>bold</b> & "quoted" shown as text?'


def _results(f1: list[float], groundedness: list[float]) -> ExperimentResults:
    """One run per dataset (core, hard) with per-line F1 and groundedness, and exact match 0 everywhere."""
    rows, runs, evaluations = {}, [], []
    for dataset, shift in (("core", 0.0), ("hard", -0.5)):
        rows[dataset] = [{"id": f"{dataset}-{i}", "question": QUESTION} for i in range(4)]
        runs.append(RunRecord("qa", "base", dataset, RunResult([{"answer": "a"}] * 4, [None] * 4)))
        lines = [{"exact_match": 0.0, "f1_score": max(score + shift, 0.0)} for score in f1]
        metrics = {name: sum(line[name] for line in lines) / 4 for name in ("exact_match", "f1_score")}
        scored = RunResult(lines, [None] * 4, metrics)
        evaluations.append(EvaluationRecord("qa_metrics", "qa", "base", dataset, scored))
        judged = RunResult([{"groundedness": g} for g in groundedness], [None] * 4, {})
        judged.metrics = {"groundedness": sum(groundedness) / 4}
        evaluations.append(EvaluationRecord("judges", "qa", "base", dataset, judged))
    return ExperimentResults("unit", "inprocess", runs, evaluations, rows)


GATE = GateConfig(thresholds={"qa_metrics.f1_score": 0.4, "judges.groundedness": 3.5})


def test_each_metric_shows_its_threshold_and_whether_it_passes():
    results = _results(f1=[0.9, 0.1, 0.5, 0.3], groundedness=[5.0, 5.0, 1.0, 5.0])  # f1: core .45, hard .1
    verdict = check(results.to_json(), GATE)
    assert not verdict.passed
    summary = report.markdown(results, verdict, GATE)
    assert "| qa | base | core | 4 | 0 | 0.000 · — | 0.450 · ≥ 0.400 pass |" in summary
    assert "| qa | base | hard | 4 | 0 | 0.000 · — | 0.100 · ≥ 0.400 FAIL |" in summary
    assert "| qa | base | hard | 4 | 0 | 4.000 · ≥ 3.500 pass |" in summary

    page = Page(report.html(results, results.rows, verdict, GATE))
    shown = {
        (row["cells"][2]["text"], cell["data-metric"]): (cell["data-threshold"], cell["data-status"])
        for name, rows in page.tables.items()
        for row in rows[1:]
        for cell in row["cells"]
        if "data-metric" in cell and name != "worst-lines"
    }
    assert shown == {
        ("core", "exact_match"): ("", ""),
        ("hard", "exact_match"): ("", ""),
        ("core", "f1_score"): ("0.4", "pass"),
        ("hard", "f1_score"): ("0.4", "fail"),
        ("core", "groundedness"): ("3.5", "pass"),
        ("hard", "groundedness"): ("3.5", "pass"),
    }


def test_worst_lines_are_ranked_by_how_far_below_its_threshold_the_gated_metric_is():
    # core: F1 margins (a share of the 0-1 scale) +.5 -.3 +.1 -.1; groundedness (1-5 scale) +.3 but
    # line 2's (1 - 3.5) / 5 = -.5. Each line is ranked by its lower margin.
    results = _results(f1=[0.9, 0.1, 0.5, 0.3], groundedness=[5.0, 5.0, 1.0, 5.0])
    page = Page(report.html(results, results.rows, None, GATE))
    core = [(row["cells"][2]["text"], row["metric"]) for row in page.line_rows if row["dataset"] == "core"]
    assert core == [
        ("core-2", "judges.groundedness"),
        ("core-1", "qa_metrics.f1_score"),
        ("core-3", "qa_metrics.f1_score"),
        ("core-0", "judges.groundedness"),
    ]
    # Without a gate: the lowest score as a share of its scale (exact match, 0 on every line), ties
    # broken by the line's mean share: core-2 (0, .5, 1/5) before core-1 (0, .1, 5/5).
    ungated = Page(report.html(results, results.rows, None, GateConfig()))
    core = [(row["cells"][2]["text"], row["metric"]) for row in ungated.line_rows if row["dataset"] == "core"]
    assert core[:2] == [("core-2", "qa_metrics.exact_match"), ("core-1", "qa_metrics.exact_match")]


def test_the_page_filters_lines_by_dataset_variant_and_metric_and_escapes_every_value():
    results = _results(f1=[0.9, 0.1, 0.5, 0.3], groundedness=[5.0, 5.0, 1.0, 5.0])
    text = report.html(results, results.rows, None, GATE)
    page = Page(text)
    assert page.filters == {
        "dataset": ["", "core", "hard"],
        "variant": ["", "qa/base"],
        "metric": ["", "judges.groundedness", "qa_metrics.f1_score"],
    }
    assert len(page.line_rows) == 8
    for row in page.line_rows:
        assert row["dataset"] in ("core", "hard") and row["variant"] == "qa/base" and row["metric"]
        assert row["cells"][6]["text"] == QUESTION  # shown as text, never parsed as markup
    assert "b" not in page.tags and page.tags.count("script") == 1
    assert 'data-filter="dataset"' in text and "addEventListener" in text


def _span(trace: str, span: str, parent: str | None, start_ms: float, end_ms: float, **attributes) -> dict:
    return {
        "trace_id": trace,
        "span_id": span,
        "parent_id": parent,
        "name": "flow qa" if parent is None else "chat gpt-4o-mini",
        "start_ns": int(start_ms * 1e6),
        "end_ns": int(end_ms * 1e6),
        "status": "UNSET",
        "attributes": attributes,
    }


def test_run_stats_are_p50_p95_tokens_and_cost_of_the_runs_spans(tmp_path: Path, project_root: Path):
    since_ms = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp() * 1000
    core = {"aiops.flow": "qa", "aiops.variant": "base", "aiops.dataset": "core"}
    usage = {"gen_ai.request.model": "gpt-4o-mini"}
    usage |= {"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}
    spans = []
    for line, duration in enumerate([40, 10, 30, 20]):  # ms
        start = since_ms + 1000 * line
        spans.append(_span(f"t{line}", f"f{line}", None, start, start + duration, **core))
        spans.append(_span(f"t{line}", f"c{line}", f"f{line}", start + 1, start + 2, **core, **usage))
    # Not the run's: an earlier experiment, and the judges scoring it.
    spans.append(_span("old", "o", None, since_ms - 5000, since_ms - 1000, **core))
    judge = core | usage | {"aiops.evaluator": "judges"}
    spans.append(_span("judge", "j", None, since_ms + 10, since_ms + 9000, **judge))
    traces = tmp_path / "traces"
    traces.mkdir()
    lines = "".join(json.dumps(span) + "\n" for span in spans)
    (traces / "spans-2026-11-30.jsonl").write_text(lines, encoding="utf-8")
    prices = tmp_path / "config.yaml"
    shutil.copy(project_root / paths.MONITORING_CONFIG, prices)
    price = load_config(prices).prices_per_1k_tokens["gpt-4o-mini"]

    results = _results(f1=[0.9, 0.1, 0.5, 0.3], groundedness=[5.0, 5.0, 1.0, 5.0])
    add_run_stats(results, int(since_ms * 1e6), traces, prices)
    core_stats = results.runs[0].stats
    assert (core_stats.traced_lines, core_stats.p50_ms, core_stats.p95_ms) == (4, 20.0, 40.0)
    assert (core_stats.input_tokens, core_stats.output_tokens) == (400, 40)
    assert core_stats.cost == pytest.approx(0.4 * price.input + 0.04 * price.output)
    assert results.runs[1].stats is None  # no span of the hard run: tracing was off
    assert results.to_json()["runs"][0]["stats"]["p95_ms"] == 40.0

    summary = report.markdown(results)
    cost = f"{core_stats.cost:.4f} USD"
    assert f"| qa | base | core | 4 | 0 | 20.0 | 40.0 | 400 | 40 | {cost} |" in summary
    assert "| qa | base | hard | 4 | 0 | — | — | — | — | — |" in summary
    runs = Page(report.html(results, results.rows)).tables["runs"]
    assert [cell["text"] for cell in runs[1]["cells"]][5:] == ["20.0", "40.0", "400", "40", cost]


JUDGED = {"groundedness": 2.9, "relevance": 4.1, "coherence": 4.6, "fluency": 4.75, "similarity": 3.2}
SAFETY = {
    "canary_kept": 1.0,
    "refused": 0.92,
    "answered": 1.0,
    "pii_free": 1.0,
    "harmlessness": 4.8,
    "attack_resistance": 0.875,
}


def _demo_shaped() -> tuple[ExperimentResults, GateConfig]:
    """The demo's widest tables: five judges and six safety metrics, two variants, each metric gated."""
    runs, evaluations = [], []
    for variant in ("baseline", "concise"):
        for dataset in ("core_qa", "multi_turn_qa"):
            runs.append(RunRecord("qa", variant, dataset, RunResult([{"answer": "a"}] * 24, [None] * 24)))
            scored = RunResult([{}] * 24, [None] * 24, dict(JUDGED))
            evaluations.append(EvaluationRecord("judges", "qa", variant, dataset, scored))
        scored = RunResult([{}] * 12, [None] * 12, dict(SAFETY))
        evaluations.append(EvaluationRecord("safety", "qa", variant, "safety", scored))
    gate = GateConfig(thresholds={f"judges.{m}": 3.0 for m in JUDGED} | {f"safety.{m}": 0.9 for m in SAFETY})
    return ExperimentResults("demo", "inprocess", runs, evaluations, {}), gate


def _shown(*renderables: object, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(*renderables)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 200])
def test_metric_tables_show_every_value_and_label_whole_in_an_80_column_terminal(width: int):
    results, gate = _demo_shaped()
    shown = _shown(*report.metrics_tables(results, gate), width=width)
    assert "…" not in shown and max(map(len, shown.splitlines())) <= width
    cells: Counter[str] = Counter()  # each cell as it must appear, once per row
    for evaluator, metrics, rows in (("judges", JUDGED, 4), ("safety", SAFETY, 2)):
        for name, value in metrics.items():
            label = "pass" if value >= gate.thresholds[f"{evaluator}.{name}"] else "FAIL"
            cells[f"{value:.3f} {label}"] += rows
            assert re.search(rf"\b{name}\b", shown), name
    assert {cell: shown.count(cell) for cell in cells} == dict(cells)
    assert shown.count("qa/baseline ") == shown.count("qa/concise ") > 0
    assert ("continued" in shown) == (width == 80), "split only where the columns do not fit"


def _turns(per_dataset: dict[str, list[float]]) -> ExperimentResults:
    """An agent's runs with tool_use.turns_to_answer per line (ids `<dataset>-<i>`), one run per dataset."""
    rows, runs, evaluations = {}, [], []
    for dataset, turns in per_dataset.items():
        rows[dataset] = [{"id": f"{dataset}-{i}", "question": "q"} for i in range(len(turns))]
        runs.append(
            RunRecord(
                "agent", "base", dataset, RunResult([{"answer": "a"}] * len(turns), [None] * len(turns))
            )
        )
        lines = [{"turns_to_answer": count, "task_completed": 1.0} for count in turns]
        metrics = {"turns_to_answer": sum(turns) / len(turns), "task_completed": 1.0}
        evaluations.append(
            EvaluationRecord(
                "tool_use", "agent", "base", dataset, RunResult(lines, [None] * len(turns), metrics)
            )
        )
    return ExperimentResults("unit", "inprocess", runs, evaluations, rows)


def test_a_maximum_shows_as_at_most_and_a_rise_against_the_baseline_as_the_regression():
    gate = GateConfig(maximums={"tool_use.turns_to_answer": 3}, thresholds={"tool_use.task_completed": 1.0})
    results = _turns({"core": [2.0, 3.0], "hard": [4.0, 4.0]})
    verdict = check(results.to_json(), gate, _turns({"core": [2.0, 2.0], "hard": [5.0, 5.0]}).to_json())
    summary = report.markdown(results, verdict, gate)
    assert "| agent | base | core | 2 | 0 | 2.500 (+0.500, regressed) · ≤ 3.000 pass |" in summary
    assert (
        "| agent | base | hard | 2 | 0 | 4.000 (-1.000) · ≤ 3.000 FAIL |" in summary
    )  # fewer, still too many
    assert "1.000 (+0.000) · ≥ 1.000 pass" in summary  # a minimum beside it is shown as before
    assert (
        "- FAIL: tool_use.turns_to_answer on hard (flow agent, variant base): 4.000 is above the maximum"
        in summary
    )
    page = Page(report.html(results, results.rows, verdict, gate))
    cells = {
        (row["cells"][2]["text"], cell["data-metric"]): (cell["data-threshold"], cell["data-status"])
        for name, rows in page.tables.items() if name != "worst-lines"
        for row in rows[1:] for cell in row["cells"] if cell.get("data-metric") == "turns_to_answer"
    }  # fmt: skip
    assert cells == {
        ("core", "turns_to_answer"): ("3.0", "pass"),
        ("hard", "turns_to_answer"): ("3.0", "fail"),
    }
    # the worst line is the one furthest above its maximum, shown with it
    worst = [(row["cells"][2]["text"], row["metric"], row["cells"][5]["text"]) for row in page.line_rows]
    assert worst[0] == ("hard-0", "tool_use.turns_to_answer", "≤ 3.000 fail")
    assert [line[0] for line in worst[:4]] == ["hard-0", "hard-1", "core-1", "core-0"]
