"""Views of results: markdown (PR comments, step summaries), terminal tables, one HTML file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rich import box
from rich.table import Table

from {{ cookiecutter.package_name }} import results as results_folder
from {{ cookiecutter.package_name }}.gate import GateReport
from {{ cookiecutter.package_name }}.results import EvaluationRecord, ExperimentResults

_COLUMNS = ("flow", "variant", "dataset", "lines", "failed")
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True, undefined=StrictUndefined
)
WORST_LINES = 5


def _value(metrics: dict[str, float], name: str) -> str:
    return f"{metrics[name]:.3f}" if name in metrics else "-"


def _by_evaluator(results: ExperimentResults) -> dict[str, tuple[list[EvaluationRecord], list[str]]]:
    """Each evaluator's records and metric names, in experiment order."""
    grouped: dict[str, list[EvaluationRecord]] = {}
    for record in results.evaluations:
        grouped.setdefault(record.evaluator, []).append(record)
    return {
        evaluator: (records, list(dict.fromkeys(name for r in records for name in r.result.metrics)))
        for evaluator, records in grouped.items()
    }


def _counts(record: EvaluationRecord) -> list[str]:
    lines = str(len(record.result.outputs))
    return [record.flow, record.variant, record.dataset, lines, str(record.result.failed)]


def _with_delta(record: EvaluationRecord, name: str, gate: GateReport | None) -> str:
    text = _value(record.result.metrics, name)
    delta = (
        gate.deltas.get(((record.evaluator, record.flow, record.variant, record.dataset), name))
        if gate
        else None
    )
    if delta is None:
        return text
    flag = " ⚠" if delta.change < -gate.tolerance else ""
    return f"{text} ({delta.change:+.3f}){flag}"


def markdown(results: ExperimentResults, gate: GateReport | None = None) -> str:
    """A gate verdict, then one table per evaluator with a row per flow x variant x dataset."""
    lines = [f"# Experiment `{results.experiment}` (engine: {results.engine})", ""]
    if gate is not None:
        verdict = "✅ passed" if gate.passed else f"❌ failed ({len(gate.failures)})"
        lines += [f"**Gate: {verdict}**", "", *(f"- ❌ {finding}" for finding in gate.failures)]
        lines += [f"- ⚠ {finding}" for finding in gate.regressions if finding not in gate.failures]
        lines.append("")
    for evaluator, (records, names) in _by_evaluator(results).items():
        lines += [
            f"## {evaluator}",
            "",
            "| " + " | ".join([*_COLUMNS, *names]) + " |",
            "|---|---|---|---:|---:|" + "---:|" * len(names),
            *(
                "| " + " | ".join(_counts(record) + [_with_delta(record, n, gate) for n in names]) + " |"
                for record in records
            ),
            "",
        ]
    return "\n".join(lines)


def metrics_tables(results: ExperimentResults) -> list[Table]:
    """Compact for terminals: flow/variant in one column, lines as `ok/total`."""
    tables = []
    for evaluator, (records, names) in _by_evaluator(results).items():
        table = Table(title=f"{evaluator} ({results.engine} engine)", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("run", "dataset", "lines", *names):
            table.add_column(
                column, justify="left" if column in ("run", "dataset") else "right", no_wrap=True
            )
        for record in records:
            total = len(record.result.outputs)
            lines = f"{total - record.result.failed}/{total}"
            row = [f"{record.flow}/{record.variant}", record.dataset, lines]
            table.add_row(*row, *(_value(record.result.metrics, name) for name in names))
        tables.append(table)
    return tables


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


def _worst_lines(results: ExperimentResults, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The lowest-scoring lines per dataset on the first metric of the first evaluator."""
    if not results.evaluations:
        return {"metric": None, "datasets": {}}
    first = results.evaluations[0]
    metric = next(iter(first.result.metrics), None)
    outputs = {(r.flow, r.variant, r.dataset): r.result.outputs for r in results.runs}
    worst: dict[str, list[dict[str, Any]]] = {}
    for record in (r for r in results.evaluations if r.evaluator == first.evaluator):
        for index, scores in enumerate(record.result.outputs):
            if scores is None or metric not in scores:
                continue
            row = rows[record.dataset][index]
            answer = (outputs[record.flow, record.variant, record.dataset][index] or {}).get("answer", "")
            worst.setdefault(record.dataset, []).append(
                {
                    "score": float(scores[metric]),
                    "variant": f"{record.flow}/{record.variant}",
                    "id": row.get("id", index),
                    "input": _shown(row.get("question", row)),
                    "output": _shown(answer),
                    "ground_truth": _shown(row.get("ground_truth", "")),
                }
            )
    return {
        "metric": f"{first.evaluator}.{metric}",
        "datasets": {
            d: sorted(lines, key=lambda line: line["score"])[:WORST_LINES] for d, lines in worst.items()
        },
    }


def html(
    results: ExperimentResults, rows: dict[str, list[dict[str, Any]]], gate: GateReport | None = None
) -> str:
    """One self-contained file: no scripts, styles inline, charts as inline SVG."""
    tables = [
        {
            "evaluator": evaluator,
            "names": names,
            "rows": [_counts(r) + [_with_delta(r, n, gate) for n in names] for r in records],
        }
        for evaluator, (records, names) in _by_evaluator(results).items()
    ]
    columns, comparison = _variant_comparison(results)
    return _TEMPLATES.get_template("report.html.jinja2").render(
        results=results,
        gate=gate,
        columns=_COLUMNS,
        tables=tables,
        charts=_charts(results),
        variant_columns=columns,
        comparison=comparison,
        worst=_worst_lines(results, rows),
    )


def write_all(results: ExperimentResults, verdict: GateReport, gated: bool, output: Path) -> Path:
    """A new folder under `output`: per-line files, results.json (with the gate verdict), summary.md
    and report.html. `gated`: were there thresholds or a baseline (else the reports show no verdict)."""
    shown = verdict if gated else None
    directory = results_folder.new_results_dir(output)
    reports = {"summary.md": markdown(results, shown), "report.html": html(results, results.rows, shown)}
    extra = {"gate": {"passed": verdict.passed, "failures": [str(finding) for finding in verdict.failures]}}
    results_folder.save(results, directory, reports, extra)
    return directory
