"""Experiment results in memory and on disk: one folder per experiment run, nothing overwritten."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiops_platform.engines import RunResult
from aiops_platform.jsonl import write_jsonl


@dataclass(frozen=True)
class RunStats:
    """A run's latency and model use, read back from its flow spans (and their model-call children)."""

    traced_lines: int
    p50_ms: float
    p95_ms: float
    input_tokens: int
    output_tokens: int
    cost: float | None  # estimated at `make monitor`'s prices; None without a price list
    currency: str
    priced_as: str = ""  # offline runs: the model whose prices `cost` uses (nothing was charged)


@dataclass
class RunRecord:
    flow: str
    variant: str
    dataset: str
    result: RunResult
    stats: RunStats | None = None  # None when no span of the run was recorded (AIOPS_TRACING=false)

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
    skipped: str = ""  # why the evaluator left metrics out (e.g. no Azure AI project): not a pass

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
    # made / cached / tokens_saved, this process's model calls during the run (llm.CALLS)
    model_calls: dict[str, int] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)  # provider, model, endpoint host (llm.model_identity)
    note: str = ""  # a line for the reader, e.g. why a pull request ran the offline model

    def model_text(self) -> str:
        """`provider model at host`, or "" for results saved before the model was recorded."""
        if not self.model:
            return ""
        where = "" if self.model["endpoint"] == self.model["provider"] else f" at {self.model['endpoint']}"
        return f"{self.model['provider']} {self.model['model']}{where}"

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment,
            "engine": self.engine,
            "model": self.model or None,
            "note": self.note or None,
            "runs": [
                _summary(record, flow=record.flow, variant=record.variant, dataset=record.dataset)
                | {"stats": asdict(record.stats) if record.stats else None}
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
                | {"failed_lines": self.failed_lines(record)}
                | {"skipped": record.skipped or None}
                for record in self.evaluations
            ],
            "skipped": [{"evaluator": name, "reason": reason} for name, reason in self.skipped().items()],
            "model_calls": self.model_calls or None,
        }

    def skipped(self) -> dict[str, str]:
        """evaluator -> why it left metrics out, for every evaluator that did."""
        return {record.evaluator: record.skipped for record in self.evaluations if record.skipped}

    def line_id(self, record: EvaluationRecord, index: int) -> str:
        rows = self.rows.get(record.dataset, [])
        row = rows[index] if index < len(rows) and isinstance(rows[index], dict) else {}
        return str(row.get("id", index))

    def failed_lines(self, record: EvaluationRecord) -> list[str]:
        """The lines that errored (no score): a line that passed on the baseline and errors now fails."""
        return [
            self.line_id(record, index)
            for index, output in enumerate(record.result.outputs)
            if not isinstance(output, dict)
        ]

    def line_metrics(self, record: EvaluationRecord) -> dict[str, dict[str, float]]:
        """metric -> line id -> score: what a later run is compared with, line by line (gate.py)."""
        scores: dict[str, dict[str, float]] = {}
        for index, output in enumerate(record.result.outputs):
            if not isinstance(output, dict):
                continue  # a failed line has no score: failed_lines
            line_id = self.line_id(record, index)
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


def add_run_stats(results: ExperimentResults, since_ns: int, trace_dir: Path, prices: Path) -> None:
    """Give each run the stats of the flow spans its lines left in the store since `since_ns` (the
    experiment's start). Flow spans carry the run's variant and dataset (and the flow's name, which
    tells two flows with the same variant names apart); evaluator spans carry the evaluator's and
    are not the run's cost. Tokens are priced with `prices` (monitoring/config.yaml), as `make
    monitor` prices them."""
    from aiops_platform import monitor  # here: it imports the model client, slow
    from aiops_platform.monitoring_config import (
        MonitoringConfig,
        MonitoringConfigError,
        load_config,
    )

    day = datetime.fromtimestamp(since_ns / 1e9, UTC).strftime("%Y-%m-%d")
    files = [f for f in sorted(trace_dir.glob("spans-*.jsonl")) if f.stem.removeprefix("spans-") >= day]
    try:
        spans = [span for span in monitor.read_spans(files) if span["start_ns"] >= since_ns]
    except monitor.TraceReadError:
        return
    try:
        config: MonitoringConfig | None = load_config(prices)
    except MonitoringConfigError:
        config = None
    by_labels: dict[tuple[str, str], list[RunRecord]] = {}
    for record in results.runs:
        by_labels.setdefault((record.variant, record.dataset), []).append(record)
    roots: dict[int, list[dict[str, Any]]] = {}
    for span in monitor.requests(spans):
        attributes = span["attributes"]
        if "aiops.evaluator" in attributes or "aiops.dataset" not in attributes:
            continue
        candidates = by_labels.get(
            (str(attributes.get("aiops.variant")), str(attributes["aiops.dataset"])), []
        )
        named = [record for record in candidates if record.flow == attributes.get("aiops.flow")]
        chosen = named or (candidates if len(candidates) == 1 else [])
        if chosen:
            roots.setdefault(id(chosen[0]), []).append(span)
    usage = monitor.usage_by_trace(spans)
    priced_as = config.alerts.cost_model if config and results.model.get("provider") == "offline" else ""
    if priced_as:  # what the run would cost on the model the team pays for
        usage = {trace: _priced_as(priced_as, counts) for trace, counts in usage.items()}
    for record in results.runs:
        if id(record) in roots:
            summary = monitor.summary_of(record.flow, record.variant, roots[id(record)], usage, config)
            record.stats = RunStats(
                traced_lines=summary.requests,
                p50_ms=summary.p50_ms,
                p95_ms=summary.p95_ms,
                input_tokens=summary.input_tokens,
                output_tokens=summary.output_tokens,
                cost=summary.cost if config else None,
                currency=config.currency if config else "",
                priced_as=priced_as,
            )


def _priced_as(model: str, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """One trace's tokens, every model's counted as `model`'s."""
    total: dict[tuple[str, str], int] = {}
    for (_, kind), count in counts.items():
        total[model, kind] = total.get((model, kind), 0) + count
    return total


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
    records: list[RunRecord | EvaluationRecord] = [*results.runs, *results.evaluations]
    for record in records:
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
