"""Readable views of results: a markdown summary (PR comments, step summaries) and a terminal table."""

from __future__ import annotations

from rich import box
from rich.table import Table

from {{ cookiecutter.package_name }}.results import EvaluationRecord, ExperimentResults

_COLUMNS = ("flow", "dataset", "lines", "failed")


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


def _cells(record: EvaluationRecord, names: list[str]) -> list[str]:
    counts = [record.flow, record.dataset, str(len(record.result.outputs)), str(record.result.failed)]
    return counts + [_value(record.result.metrics, name) for name in names]


def markdown(results: ExperimentResults) -> str:
    """One table per evaluator; a row per flow x dataset, so datasets never hide each other."""
    lines = [f"# Experiment `{results.experiment}` (engine: {results.engine})", ""]
    for evaluator, (records, names) in _by_evaluator(results).items():
        lines += [
            f"## {evaluator}",
            "",
            "| " + " | ".join([*_COLUMNS, *names]) + " |",
            "|---|---|---:|---:|" + "---:|" * len(names),
            *("| " + " | ".join(_cells(record, names)) + " |" for record in records),
            "",
        ]
    return "\n".join(lines)


def metrics_tables(results: ExperimentResults) -> list[Table]:
    tables = []
    for evaluator, (records, names) in _by_evaluator(results).items():
        table = Table(title=f"{evaluator} ({results.engine} engine)", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in [*_COLUMNS, *names]:
            table.add_column(
                column, justify="left" if column in ("flow", "dataset") else "right", no_wrap=True
            )
        for record in records:
            table.add_row(*_cells(record, names))
        tables.append(table)
    return tables
