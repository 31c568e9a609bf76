"""Experiment results in memory and on disk: one folder per experiment run, nothing overwritten."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.engines import RunResult
from {{ cookiecutter.package_name }}.flow_entry import write_jsonl


@dataclass
class RunRecord:
    flow: str
    variant: str
    dataset: str
    result: RunResult

    @property
    def folder(self) -> Path:
        return Path("runs") / self.flow / self.variant / self.dataset


@dataclass
class EvaluationRecord:
    evaluator: str
    flow: str
    variant: str
    dataset: str
    result: RunResult

    @property
    def folder(self) -> Path:
        return Path("evaluations") / self.evaluator / self.flow / self.variant / self.dataset


@dataclass
class ExperimentResults:
    experiment: str
    engine: str
    runs: list[RunRecord]
    evaluations: list[EvaluationRecord]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # dataset -> the lines used

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment,
            "engine": self.engine,
            "runs": [
                _summary(record, flow=record.flow, variant=record.variant, dataset=record.dataset)
                for record in self.runs
            ],
            "evaluations": [
                _summary(
                    record,
                    evaluator=record.evaluator,
                    flow=record.flow,
                    variant=record.variant,
                    dataset=record.dataset,
                )
                | {"metrics": record.result.metrics, "line_metrics": self.line_metrics(record)}
                for record in self.evaluations
            ],
        }

    def line_metrics(self, record: EvaluationRecord) -> dict[str, dict[str, float]]:
        """metric -> line id -> score: what a later run is compared with, line by line (gate.py)."""
        rows = self.rows.get(record.dataset, [])
        scores: dict[str, dict[str, float]] = {}
        for index, output in enumerate(record.result.outputs):
            if not isinstance(output, dict):
                continue  # a failed line has no score
            row = rows[index] if index < len(rows) and isinstance(rows[index], dict) else {}
            line_id = str(row.get("id", index))
            for metric, value in output.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    scores.setdefault(metric, {})[line_id] = float(value)
        return scores


def _summary(record: RunRecord | EvaluationRecord, **keys: str) -> dict:
    return keys | {
        "lines": len(record.result.outputs),
        "failed": record.result.failed,
        "details": (record.folder / "lines.jsonl").as_posix(),
    }


def new_results_dir(base: Path) -> Path:
    """A fresh timestamped folder; a second run in the same second gets a suffix, never a merge."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, suffix = base / stamp, 1
    while candidate.exists():
        suffix += 1
        candidate = base / f"{stamp}-{suffix}"
    candidate.mkdir(parents=True)
    return candidate


def save(results: ExperimentResults, directory: Path, reports: dict[str, str], extra: dict[str, Any]) -> None:
    """Per-line files, `results.json` (with `extra`, e.g. the gate verdict) and the rendered reports."""
    for record in [*results.runs, *results.evaluations]:
        folder = directory / record.folder
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(
            folder / "lines.jsonl",
            (
                {"line": index, "outputs": output, "error": error}
                for index, (output, error) in enumerate(
                    zip(record.result.outputs, record.result.errors, strict=True)
                )
            ),
        )
    summary = results.to_json() | extra
    (directory / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for name, text in reports.items():
        (directory / name).write_text(text, encoding="utf-8")
