"""Views of results: markdown (PR comments, step summaries), terminal tables, one HTML file.

Every metric is shown with the gate's limit for it (`≥ minimum`, or `≤ maximum` for a
lower-is-better metric under gate.maximums) and whether it passes (— when the gate does not check
it); every run with its latency, tokens and estimated cost (— when it left no spans; for the
offline model, what the priced model would have cost). An evaluator that was skipped is one
line saying why, not an empty table. Marks are words and common symbols, never an emoji: a
terminal or browser without an emoji font shows them as they are.
Names, notes and findings come from files, settings and evaluators' answers: each view shows them as
typed (terminal.markdown_inline, terminal.text, the HTML template's autoescape).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from aiops_platform import results as results_folder
from aiops_platform.experiment import GateConfig
from aiops_platform.gate import GateReport, Limit, limit_for
from aiops_platform.results import EvaluationRecord, ExperimentResults, RunRecord
from aiops_platform.terminal import FittedTable, markdown_inline, text
from aiops_platform.terminal import line as markup_line

_COLUMNS = ("flow", "variant", "dataset", "lines", "failed")
_STATS_COLUMNS = ("p50 ms", "p95 ms", "tokens in", "tokens out", "cost")
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True, undefined=StrictUndefined
)
NONE = "—"  # no threshold, no spans, no price
SYSTEM_CARD = "system_card.md"  # written next to the reports by every run (system_card.py)
WORST_LINES = 10  # per dataset and variant
LEGEND = (
    "Each metric: value (change from the baseline) · gate threshold (≥ minimum, or ≤ maximum where lower "
    "is better) and pass/FAIL; — not gated."
)
VERDICT = {"pass": "pass", "fail": "FAIL", None: ""}


@dataclass(frozen=True)
class Cell:
    """One metric of one evaluated run, as the gate sees it."""

    metric: str
    value: float | None
    change: float | None  # against the baseline, when there is one
    regressed: bool
    threshold: Limit | None

    @property
    def status(self) -> str | None:
        """`pass`/`fail` against the limit (the gate's rule, Limit.met), None if not gated."""
        if self.threshold is None:
            return None
        return "pass" if self.value is not None and self.threshold.met(self.value) else "fail"

    @property
    def value_text(self) -> str:
        return "-" if self.value is None else f"{self.value:.3f}"

    @property
    def change_text(self) -> str:
        if self.change is None:
            return ""
        return f"({self.change:+.3f}" + (", regressed)" if self.regressed else ")")

    @property
    def threshold_text(self) -> str:
        return NONE if self.threshold is None else str(self.threshold)

    def markdown(self) -> str:
        value = " ".join(part for part in (self.value_text, self.change_text) if part)
        verdict = VERDICT[self.status]
        return f"{value} · {self.threshold_text}" + (f" {verdict}" if verdict else "")


def _cell(
    record: EvaluationRecord, name: str, gate: GateReport | None, gate_config: GateConfig | None
) -> Cell:
    key = (record.evaluator, record.flow, record.variant, record.dataset)
    delta = gate.deltas.get((key, name)) if gate else None
    return Cell(
        metric=name,
        value=record.result.metrics.get(name),
        change=delta.change if delta else None,
        regressed=bool(delta and gate and delta.regressed(gate.tolerance)),
        threshold=limit_for(gate_config, record.evaluator, name, record.dataset) if gate_config else None,
    )


def _by_evaluator(results: ExperimentResults) -> dict[str, tuple[list[EvaluationRecord], list[str]]]:
    """Each evaluator's records and metric names, in experiment order."""
    grouped: dict[str, list[EvaluationRecord]] = {}
    for record in results.evaluations:
        grouped.setdefault(record.evaluator, []).append(record)
    return {
        evaluator: (records, list(dict.fromkeys(name for r in records for name in r.result.metrics)))
        for evaluator, records in grouped.items()
    }


def _counts(record: EvaluationRecord | RunRecord) -> list[str]:
    lines = str(len(record.result.outputs))
    return [record.flow, record.variant, record.dataset, lines, str(record.result.failed)]


def _stats(record: RunRecord) -> list[str]:
    """p50/p95 latency, tokens and cost of a run's lines; — without spans (or without prices)."""
    stats = record.stats
    if stats is None:
        return [NONE] * len(_STATS_COLUMNS)
    cost = NONE if stats.cost is None else f"{stats.cost:.4f} {stats.currency}"
    return [
        f"{stats.p50_ms:.1f}",
        f"{stats.p95_ms:.1f}",
        str(stats.input_tokens),
        str(stats.output_tokens),
        cost,
    ]


def calls_text(results: ExperimentResults) -> str:
    """The run's model calls: made, answered from the cache, tokens the cache saved."""
    calls = results.model_calls
    if not calls:
        return ""
    if results.model.get("provider") == "offline":
        return f"Model calls: {calls['made']} to the offline model (deterministic, so never cached)"
    saved = f" ({calls['tokens_saved']:,} tokens saved)" if calls["cached"] else ""
    return f"Model calls: {calls['made']} made, {calls['cached']} answered from the cache{saved}"


def context_lines(results: ExperimentResults, gate: GateReport | None = None) -> list[str]:
    """What a reviewer needs before the numbers: which model answered, why, and what it cost in calls."""
    model = results.model_text()
    lines = [f"Model: {model}" if model else "", calls_text(results), cost_text(results), results.note]
    lines += [f"Skipped, not passed: {name}: {reason}" for name, reason in results.skipped().items()]
    if gate is not None and gate.baseline_note:
        lines.append(gate.baseline_note[0].upper() + gate.baseline_note[1:])
    return [line for line in lines if line]


def cost_text(results: ExperimentResults) -> str:
    """What the cost column means when nothing was charged: the offline model's tokens at the
    priced model's prices (results.add_run_stats), labelled so."""
    stats = [record.stats for record in results.runs if record.stats and record.stats.priced_as]
    if not stats:
        return ""
    amount = sum(run.cost or 0.0 for run in stats)
    currency = ", ".join(sorted({run.currency for run in stats}))
    priced = ", ".join(sorted({run.priced_as for run in stats}))
    return (
        f"Cost: {amount:.4f} {currency} over {len(stats)} runs, estimated at {priced} prices "
        "(offline run: nothing was charged)"
    )


NO_BASELINE = (
    "No baseline given: regressions and lines newly failing were not checked "
    "(make gate BASELINE=path/results.json, e.g. main's, checks them)."
)


def gate_lines(gate: GateReport) -> list[str]:
    """Beyond the findings: each line that newly fails, and whether significance could be tested."""
    lines = []
    if gate.new_failures:
        lines.append(f"{len(gate.new_failures)} line(s) passed a threshold on the baseline and fail now:")
        lines += [f"- {failure}" for failure in gate.new_failures]
    elif gate.compared:
        lines.append("No line that passed its thresholds on the baseline fails now.")
    elif not gate.baseline_note:  # no baseline at all (a refused one says why in its own line)
        lines.append(NO_BASELINE)
    if gate.significance_note:
        lines.append(gate.significance_note)
    return lines


def _markdown_row(cells: list[str]) -> str:
    """A table row whose every cell stays one cell, whatever it holds."""
    return "| " + " | ".join(map(markdown_inline, cells)) + " |"


def markdown(
    results: ExperimentResults,
    gate: GateReport | None = None,
    gate_config: GateConfig | None = None,
    card: str | None = None,
) -> str:
    """Which model ran, a gate verdict, the runs' latency and cost, then one table per evaluator with
    a row per flow x variant x dataset, each metric next to its threshold (from `gate_config`).
    `card`: the system card's path relative to the summary, linked under the title."""
    experiment, engine = markdown_inline(results.experiment, code=True), markdown_inline(results.engine)
    lines = [f"# Experiment {experiment} (engine: {engine})", ""]
    if card:
        lines += [f"[System card]({card}): intended use, data, results per dataset, limitations, owner", ""]
    context = context_lines(results, gate)
    if context:
        lines += ["\n>\n".join(f"> {markdown_inline(said)}" for said in context), ""]
    if gate is not None:
        verdict = "passed" if gate.passed else f"FAILED ({len(gate.failures)})"
        regressions = [finding for finding in gate.regressions if finding not in gate.failures]
        lines += [f"**Gate: {verdict}**", ""]
        lines += [f"- FAIL: {markdown_inline(finding)}" for finding in gate.failures]
        lines += [f"- regression: {markdown_inline(finding)}" for finding in regressions]
        lines.append("")
        for said in gate_lines(gate):  # a paragraph, or `- ` a list item
            bullet = said.startswith("- ")
            lines += [f"- {markdown_inline(said[2:])}"] if bullet else ["", markdown_inline(said), ""]
        lines.append("")
    lines += [
        "## Runs",
        "",
        _markdown_row([*_COLUMNS, *_STATS_COLUMNS]),
        "|---|---|---|---:|---:|" + "---:|" * len(_STATS_COLUMNS),
        *(_markdown_row(_counts(record) + _stats(record)) for record in results.runs),
        "",
        LEGEND,
        "",
    ]
    lines += _retrieval_vs_answer_markdown(results, gate, gate_config)
    skipped = results.skipped()
    for evaluator, (records, names) in _by_evaluator(results).items():
        if not names:
            said = markdown_inline(_no_metrics(evaluator, skipped))
            lines += [f"## {markdown_inline(evaluator)}", "", said, ""]
            continue
        lines += [
            f"## {markdown_inline(evaluator)}",
            "",
            _markdown_row([*_COLUMNS, *names]),
            "|---|---|---|---:|---:|" + "---:|" * len(names),
            *(
                _markdown_row(_counts(r) + [_cell(r, n, gate, gate_config).markdown() for n in names])
                for r in records
            ),
            "",
        ]
    return "\n".join(lines)


def metrics_tables(results: ExperimentResults, gate_config: GateConfig | None = None) -> list[FittedTable]:
    """Compact for terminals: flow/variant in one column, lines as `ok/total`, pass/FAIL on gated
    metrics; metrics that do not fit the terminal's width go on in a table of their own (FittedTable).
    An evaluator without metrics has no table: the run's context line says why."""
    tables = []
    marks = {status: f" {said}" if said else "" for status, said in VERDICT.items()}
    for evaluator, (records, names) in _by_evaluator(results).items():
        if not names:
            continue
        rows = []
        for record in records:
            total = len(record.result.outputs)
            lines = f"{total - record.result.failed}/{total}"
            row = [f"{record.flow}/{record.variant}", record.dataset, lines]
            cells = (_cell(record, name, None, gate_config) for name in names)
            rows.append([*map(text, row), *(text(cell.value_text + marks[cell.status]) for cell in cells)])
        title = markup_line("{} ({} engine)", evaluator, results.engine)
        tables.append(FittedTable(title, ["run", "dataset", "lines", *names], rows, keep=2))
    return tables


def _no_metrics(evaluator: str, skipped: dict[str, str]) -> str:
    """The one line an evaluator without metrics gets instead of an empty table."""
    if evaluator in skipped:
        return f"Skipped, not passed: {skipped[evaluator]}"
    return "No metrics: no line was scored (see its lines.jsonl)"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    fraction: float


def _scale(values: list[float]) -> float:
    """Metrics in [0, 1] are drawn against 1, judge scores (1 to 5) against 5, counts against their max."""
    top = max(values, default=0.0)
    return 1.0 if top <= 1.0 else 5.0 if top <= 5.0 else top


def _charts(results: ExperimentResults) -> dict[str, dict[str, list[Bar]]]:
    """dataset -> `evaluator.metric` -> one bar per flow[variant]."""
    charts: dict[str, dict[str, list[Bar]]] = {}
    for evaluator, (records, names) in _by_evaluator(results).items():
        for name in names:
            for dataset in dict.fromkeys(r.dataset for r in records):
                chosen = [r for r in records if r.dataset == dataset and name in r.result.metrics]
                scale = _scale([r.result.metrics[name] for r in chosen])
                charts.setdefault(dataset, {})[f"{evaluator}.{name}"] = [
                    Bar(f"{r.flow}/{r.variant}", r.result.metrics[name], r.result.metrics[name] / scale)
                    for r in chosen
                ]
    return charts


def _variant_comparison(results: ExperimentResults) -> tuple[list[str], list[dict[str, Any]]]:
    """Rows of (dataset, evaluator.metric) with one column per flow[variant]."""
    columns = list(dict.fromkeys(f"{r.flow}/{r.variant}" for r in results.evaluations))
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for record in results.evaluations:
        for name, value in record.result.metrics.items():
            rows.setdefault((record.dataset, f"{record.evaluator}.{name}"), {})[
                f"{record.flow}/{record.variant}"
            ] = f"{value:.3f}"
    return columns, [{"dataset": d, "metric": m, "cells": v} for (d, m), v in rows.items()]


def _shown(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


LineKey = tuple[str, str, str, int]  # flow, variant, dataset, line index


def _line_scores(results: ExperimentResults) -> dict[LineKey, dict[str, float]]:
    """Every line's numeric scores from every evaluator, as `evaluator.metric` -> score."""
    scores: dict[LineKey, dict[str, float]] = {}
    for record in results.evaluations:
        for index, output in enumerate(record.result.outputs):
            for name, value in (output or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    key = (record.flow, record.variant, record.dataset, index)
                    scores.setdefault(key, {})[f"{record.evaluator}.{name}"] = float(value)
    return scores


def _ranked_by(
    scores: dict[str, float], dataset: str, scales: dict[str, float], gate_config: GateConfig | None
) -> tuple[str, Limit | None, tuple[float, float]]:
    """The metric that makes a line bad, its limit, and the line's sort key (lower is worse).

    Gated metrics with a limit on this dataset: how far inside (+) or beyond (-) the limit the line
    is, as a share of the metric's scale, so F1 (0-1) and judge scores (1-5) compare. Else the worst
    share (the lowest score; the highest of a metric under gate.maximums) among the metrics the gate
    checks elsewhere, else among all. Ties: the line's mean share over every metric."""
    gated = {*gate_config.thresholds, *gate_config.maximums} if gate_config else set()
    lower = set(gate_config.maximums) if gate_config else set()

    def share(name: str) -> float:
        """The score as a share of its scale, higher better whatever the metric's direction."""
        part = scores[name] / scales[name]
        return 1 - part if name in lower else part

    limits = {}
    for name in scores.keys() & gated:
        evaluator, _, metric = name.partition(".")
        limit = limit_for(gate_config, evaluator, metric, dataset) if gate_config else None
        if limit is not None:
            limits[name] = limit
    if limits:
        margins = {
            name: (limit.value - scores[name] if limit.maximum else scores[name] - limit.value) / scales[name]
            for name, limit in limits.items()
        }
    else:
        margins = {name: share(name) for name in (scores.keys() & gated or scores)}
    metric = min(sorted(margins), key=margins.__getitem__)
    mean = sum(share(name) for name in scores) / len(scores)
    return metric, limits.get(metric), (margins[metric], mean)


def _worst_lines(
    results: ExperimentResults, rows: dict[str, list[dict[str, Any]]], gate_config: GateConfig | None = None
) -> dict[str, Any]:
    """The `WORST_LINES` worst lines of each variant on each dataset, worst first, each ranked by the
    gated metric furthest beyond its limit (see `_ranked_by`), with that metric named."""
    scores = _line_scores(results)
    by_metric: dict[str, list[float]] = {}
    for line in scores.values():
        for name, value in line.items():
            by_metric.setdefault(name, []).append(value)
    scales = {name: _scale(values) for name, values in by_metric.items()}
    outputs = {(r.flow, r.variant, r.dataset): r.result.outputs for r in results.runs}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for (flow, variant, dataset, index), line in scores.items():
        metric, threshold, rank = _ranked_by(line, dataset, scales, gate_config)
        row = rows.get(dataset, [])[index] if index < len(rows.get(dataset, [])) else {}
        output = outputs.get((flow, variant, dataset), [])
        answer = (output[index] or {}).get("answer", "") if index < len(output) else ""
        groups.setdefault((flow, variant, dataset), []).append(
            {
                "rank": rank,
                "dataset": dataset,
                "variant": f"{flow}/{variant}",
                "id": _shown(row.get("id", index)),
                "metric": metric,
                "score": line[metric],
                "threshold": threshold,
                "status": None if threshold is None else "pass" if threshold.met(line[metric]) else "fail",
                "input": _shown(row.get("question", row)),
                "output": _shown(answer),
                "ground_truth": _shown(row.get("ground_truth", "")),
            }
        )
    worst = sorted(
        (
            line
            for lines in groups.values()
            for line in sorted(lines, key=lambda line: line["rank"])[:WORST_LINES]
        ),
        key=lambda line: line["rank"],
    )
    return {
        "lines": worst,
        "filters": {
            name: sorted({line[name] for line in worst}) for name in ("dataset", "variant", "metric")
        },
    }


RETRIEVAL = "retrieval"  # the evaluator that scores retrieval on its own (rag projects)
ANSWER_METRICS = ("qa_metrics.f1_score", "judges.groundedness")  # what the answer is judged by
RETRIEVAL_NOTE = (
    "Retrieval scored on its own (the retrieved chunks against the labelled passages) next to the "
    "answer's scores. Retrieval failing: the model never saw the passage, fix the index, chunking or "
    "top_k. Retrieval passing and the answer failing: the model had the passage, fix the prompt or model."
)


@dataclass(frozen=True)
class RetrievalRow:
    """One flow x variant x dataset: retrieval metrics, then answer metrics, then where it fails."""

    counts: list[str]
    retrieval: list[Cell]
    answer: list[Cell]

    @property
    def verdict(self) -> str:
        """`retrieval`, `generation` or `—`: which stage a gate failure of this row comes from."""
        if any(cell.status == "fail" for cell in self.retrieval):
            return "retrieval"
        if any(cell.status == "fail" for cell in self.answer):
            return "generation"
        return NONE


def retrieval_vs_answer(
    results: ExperimentResults, gate: GateReport | None = None, gate_config: GateConfig | None = None
) -> tuple[list[str], list[RetrievalRow]]:
    """Column names (`retrieval.x` then the answer metrics present) and a row per run the retrieval
    evaluator scored; no columns when the experiment has no retrieval evaluator."""
    evaluators = _by_evaluator(results)
    if RETRIEVAL not in evaluators:
        return [], []
    records, names = evaluators[RETRIEVAL]
    by_key = {(r.evaluator, r.flow, r.variant, r.dataset): r for r in results.evaluations}
    produced = {f"{r.evaluator}.{metric}" for r in results.evaluations for metric in r.result.metrics}
    present = [name for name in ANSWER_METRICS if name in produced]
    rows = []
    for record in records:
        answer = []
        for name in present:
            evaluator, _, metric = name.partition(".")
            other = by_key.get((evaluator, record.flow, record.variant, record.dataset))
            missing = Cell(metric, None, None, False, None)
            answer.append(_cell(other, metric, gate, gate_config) if other else missing)
        retrieval = [_cell(record, name, gate, gate_config) for name in names]
        rows.append(RetrievalRow(_counts(record), retrieval, answer))
    return [f"{RETRIEVAL}.{name}" for name in names] + present, rows


def _retrieval_vs_answer_markdown(
    results: ExperimentResults, gate: GateReport | None, gate_config: GateConfig | None
) -> list[str]:
    columns, rows = retrieval_vs_answer(results, gate, gate_config)
    if not rows:
        return []
    return [
        "## Retrieval vs answer",
        "",
        RETRIEVAL_NOTE,
        "",
        _markdown_row([*_COLUMNS, *columns, "fails at"]),
        "|---|---|---|---:|---:|" + "---:|" * len(columns) + "---|",
        *(
            _markdown_row([*row.counts, *(c.markdown() for c in [*row.retrieval, *row.answer]), row.verdict])
            for row in rows
        ),
        "",
    ]


def html(
    results: ExperimentResults,
    rows: dict[str, list[dict[str, Any]]],
    gate: GateReport | None = None,
    gate_config: GateConfig | None = None,
    card: str | None = None,
) -> str:
    """One self-contained file: styles inline, charts as inline SVG, the line filters as one inline
    script (no external resource: it works offline, from file://). `card`: the system card's
    relative path, linked under the title."""
    tables = [
        {
            "evaluator": evaluator,
            "no_metrics": "" if names else _no_metrics(evaluator, results.skipped()),
            "names": names,
            "rows": [
                {"counts": _counts(r), "cells": [_cell(r, n, gate, gate_config) for n in names]}
                for r in records
            ],
        }
        for evaluator, (records, names) in _by_evaluator(results).items()
    ]
    columns, comparison = _variant_comparison(results)
    retrieval_columns, retrieval_rows = retrieval_vs_answer(results, gate, gate_config)
    return _TEMPLATES.get_template("report.html.jinja2").render(
        results=results,
        gate=gate,
        gate_lines=gate_lines(gate) if gate else [],
        card=card,
        context=context_lines(results, gate),
        columns=_COLUMNS,
        runs=[_counts(r) + _stats(r) for r in results.runs],
        stats_columns=_STATS_COLUMNS,
        legend=LEGEND,
        tables=tables,
        charts=_charts(results),
        variant_columns=columns,
        comparison=comparison,
        worst=_worst_lines(results, rows, gate_config),
        worst_per_run=WORST_LINES,
        retrieval_columns=retrieval_columns,
        retrieval_rows=retrieval_rows,
        retrieval_note=RETRIEVAL_NOTE,
    )


def write_all(
    results: ExperimentResults,
    verdict: GateReport,
    gated: bool,
    output: Path,
    gate_config: GateConfig | None = None,
) -> Path:
    """A new folder under `output`: per-line files, results.json (with the gate verdict), summary.md
    and report.html. `gated`: were there thresholds or a baseline (else the reports show no verdict);
    `gate_config`: the thresholds shown next to each metric. Both reports link the system card the
    run writes next to them (`system_card.md`)."""
    shown = verdict if gated else None
    directory = results_folder.new_results_dir(output)
    reports = {
        "summary.md": markdown(results, shown, gate_config, card=SYSTEM_CARD),
        "report.html": html(results, results.rows, shown, gate_config, card=SYSTEM_CARD),
    }
    extra = {
        "gate": {
            "passed": verdict.passed,
            "failures": [str(finding) for finding in verdict.failures],
            "new_failures": [asdict(failure) for failure in verdict.new_failures],
        }
    }
    results_folder.save(results, directory, reports, extra)
    return directory
