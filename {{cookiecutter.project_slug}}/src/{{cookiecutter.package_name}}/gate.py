"""The quality gate: thresholds per metric and dataset, and regressions against a baseline.

It reads results as saved in `results.json`, so a past run (or main's) can be gated or compared
without running anything again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from {{ cookiecutter.package_name }}.experiment import GateConfig

RecordKey = tuple[str, str, str, str]  # evaluator, flow, variant, dataset


@dataclass(frozen=True)
class Delta:
    current: float
    baseline: float

    @property
    def change(self) -> float:
        return self.current - self.baseline


@dataclass(frozen=True)
class Finding:
    key: RecordKey
    metric: str
    message: str

    def __str__(self) -> str:
        evaluator, flow, variant, dataset = self.key
        return f"{evaluator}.{self.metric} on {dataset} (flow {flow}, variant {variant}): {self.message}"


@dataclass
class GateReport:
    failures: list[Finding]
    regressions: list[Finding]
    deltas: dict[tuple[RecordKey, str], Delta]
    tolerance: float

    @property
    def passed(self) -> bool:
        return not self.failures


def record_key(evaluation: dict[str, Any]) -> RecordKey:
    return evaluation["evaluator"], evaluation["flow"], evaluation["variant"], evaluation["dataset"]


def threshold_for(gate: GateConfig, evaluator: str, metric: str, dataset: str) -> float | None:
    minimum = gate.thresholds.get(f"{evaluator}.{metric}")
    return minimum.get(dataset) if isinstance(minimum, dict) else minimum


def check(results: dict[str, Any], gate: GateConfig, baseline: dict[str, Any] | None = None) -> GateReport:
    failures = _unevaluated_runs(results) if gate.thresholds else []
    for evaluation in results["evaluations"]:
        key, metrics = record_key(evaluation), evaluation["metrics"]
        for threshold_key in gate.thresholds:
            evaluator, _, metric = threshold_key.partition(".")
            minimum = threshold_for(gate, evaluator, metric, key[3])
            if evaluator != key[0] or minimum is None:
                continue
            if metric not in metrics:
                failures.append(Finding(key, metric, f"no such metric (produced: {sorted(metrics)})"))
            elif metrics[metric] < minimum:
                failures.append(
                    Finding(key, metric, f"{metrics[metric]:.3f} is below the threshold {minimum:.3f}")
                )
    deltas, regressions = _compare(results, baseline or {"evaluations": []}, gate.tolerance)
    if gate.fail_on_regression:
        failures += regressions
    return GateReport(failures, regressions, deltas, gate.tolerance)


def _unevaluated_runs(results: dict[str, Any]) -> list[Finding]:
    """A run whose every line failed has no scores; a gate must not pass for want of them."""
    return [
        Finding(("run", run["flow"], run["variant"], run["dataset"]), "lines", message)
        for run in results.get("runs", [])
        if run["lines"] and run["failed"] == run["lines"]
        for message in [f"{run['failed']} of {run['lines']} lines failed, so nothing was evaluated"]
    ]


def _compare(
    results: dict[str, Any], baseline: dict[str, Any], tolerance: float
) -> tuple[dict[tuple[RecordKey, str], Delta], list[Finding]]:
    before = {record_key(e): e["metrics"] for e in baseline["evaluations"]}
    deltas, regressions = {}, []
    for evaluation in results["evaluations"]:
        key = record_key(evaluation)
        for metric, value in evaluation["metrics"].items():
            if metric in before.get(key, {}):
                delta = Delta(value, before[key][metric])
                deltas[key, metric] = delta
                if delta.change < -tolerance:
                    message = f"{value:.3f} regressed {delta.change:+.3f} from baseline {delta.baseline:.3f}"
                    regressions.append(Finding(key, metric, f"{message} (tolerance {tolerance:.3f})"))
    return deltas, regressions
