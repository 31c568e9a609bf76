"""The quality gate: thresholds per metric and dataset, and regressions against a baseline.

It reads results as saved in `results.json`, so a past run (or main's) can be gated or compared
without running anything again. A drop counts as a regression only when it is beyond the tolerance
and, where both results carry per-line scores, significant: the 95% interval of the mean per-line
change (a paired bootstrap over the lines both runs scored) excludes zero. With too few paired
lines, or no per-line scores, the tolerance alone decides and the summary says so.

A metric is higher-is-better unless `gate.maximums` gives it a maximum (a count of turns, a
latency): then a value above the maximum fails, and a rise beyond the tolerance is the regression.

A mean over ten lines cannot see two broken answers, but a line can: each line that met a limit
(threshold or maximum) on the baseline and misses it now is listed (`NewFailure`), and
`max_new_failures` (per dataset) fails the gate when a run has more of them. With the offline model
or the response cache, a line the change did not touch answers as before, so such a line is
evidence on its own.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from aiops_platform.experiment import GateConfig

RecordKey = tuple[str, str, str, str]  # evaluator, flow, variant, dataset
RECORD_FIELDS = ("evaluator", "flow", "variant", "dataset")
MIN_PAIRED_LINES = 8  # fewer lines than this cannot show a change is more than noise
RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Limit:
    """A metric's bound on one dataset: a minimum (`gate.thresholds`) or, for a lower-is-better
    metric, a maximum (`gate.maximums`)."""

    value: float
    maximum: bool = False

    def met(self, score: float) -> bool:
        """NaN meets no limit: it would otherwise pass unnoticed."""
        return score <= self.value if self.maximum else score >= self.value

    @property
    def name(self) -> str:
        return "maximum" if self.maximum else "threshold"

    def __str__(self) -> str:
        return f"{'≤' if self.maximum else '≥'} {self.value:.3f}"


@dataclass(frozen=True)
class Delta:
    current: float
    baseline: float
    paired_lines: int = 0
    interval: tuple[float, float] | None = None  # of the mean per-line change; None: not tested
    lower_is_better: bool = False  # a metric under gate.maximums: a rise is the regression

    @property
    def change(self) -> float:
        return self.current - self.baseline

    def regressed(self, tolerance: float) -> bool:
        """Worse than the baseline by more than `tolerance`, in the metric's direction."""
        return (self.change if self.lower_is_better else -self.change) > tolerance

    @property
    def significant(self) -> bool | None:
        """Does the interval exclude zero? None when significance could not be tested."""
        return None if self.interval is None else self.interval[0] > 0 or self.interval[1] < 0

    def describe(self) -> str:
        """`[low, high] over n lines`, or why significance was not tested."""
        if self.interval is not None:
            low, high = self.interval
            return f"95% interval [{low:+.3f}, {high:+.3f}] over {self.paired_lines} lines"
        if self.paired_lines:
            return f"only {self.paired_lines} paired lines, too few to test significance"
        return "no per-line scores to pair, significance not tested"


def paired_bootstrap(
    current: dict[str, float], baseline: dict[str, float]
) -> tuple[int, tuple[float, float] | None]:
    """Lines scored in both runs, and the interval of their mean change (None below MIN_PAIRED_LINES).
    Seeded, so the same results always give the same verdict."""
    changes = [current[line] - baseline[line] for line in sorted(current.keys() & baseline.keys())]
    if len(changes) < MIN_PAIRED_LINES:
        return len(changes), None
    rng = random.Random(0)
    means = sorted(sum(rng.choices(changes, k=len(changes))) / len(changes) for _ in range(RESAMPLES))
    tail = (1 - CONFIDENCE) / 2
    return len(changes), (means[int(tail * RESAMPLES)], means[int((1 - tail) * RESAMPLES) - 1])


@dataclass(frozen=True)
class Finding:
    key: RecordKey
    metric: str
    message: str

    def __str__(self) -> str:
        evaluator, flow, variant, dataset = self.key
        return f"{evaluator}.{self.metric} on {dataset} (flow {flow}, variant {variant}): {self.message}"


@dataclass(frozen=True)
class NewFailure:
    """A line that met a limit on the baseline and misses it now, with each such metric as
    `evaluator.metric now (was before, threshold t)` (or `maximum m`)."""

    flow: str
    variant: str
    dataset: str
    line: str
    metrics: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.dataset} line {self.line} ({self.flow}/{self.variant}): {'; '.join(self.metrics)}"


@dataclass
class GateReport:
    failures: list[Finding]
    regressions: list[Finding]
    deltas: dict[tuple[RecordKey, str], Delta]
    tolerance: float
    baseline_note: str = ""  # why the baseline was not compared, when it was not
    new_failures: list[NewFailure] = field(default_factory=list)
    compared: bool = False  # was a baseline compared, line by line where both have per-line scores

    @property
    def significance_note(self) -> str:
        """One line naming the compared metrics whose significance could not be tested, or ""."""
        untested = {key: delta for key, delta in self.deltas.items() if delta.interval is None}
        if not untested:
            return ""
        unpaired = [key for key, delta in untested.items() if not delta.paired_lines]
        few = [key for key, delta in untested.items() if delta.paired_lines]
        reasons = []
        if unpaired:
            reasons.append(f"without per-line scores (no line compared): {_metrics_text(unpaired)}")
        if few:
            reasons.append(f"fewer than {MIN_PAIRED_LINES} paired lines: {_metrics_text(few)}")
        return (
            f"Significance not tested for {len(untested)} of {len(self.deltas)} compared metrics, "
            f"the tolerance alone decides for them; {'; '.join(reasons)}"
        )

    @property
    def passed(self) -> bool:
        return not self.failures


def _metrics_text(keys: list[tuple[RecordKey, str]], shown: int = 3) -> str:
    """`evaluator.metric on dataset`, distinct, the first `shown` of them and how many more."""
    named = list(dict.fromkeys(f"{key[0]}.{metric} on {key[3]}" for key, metric in keys))
    more = f" and {len(named) - shown} more" if len(named) > shown else ""
    return ", ".join(named[:shown]) + more


def record_key(evaluation: dict[str, Any]) -> RecordKey:
    return evaluation["evaluator"], evaluation["flow"], evaluation["variant"], evaluation["dataset"]


def limit_for(gate: GateConfig, evaluator: str, metric: str, dataset: str) -> Limit | None:
    """The metric's minimum or maximum on `dataset`, or None when the gate does not check it there.
    The schema keeps a metric out of both sections."""
    for bounds, maximum in ((gate.thresholds, False), (gate.maximums, True)):
        bound = bounds.get(f"{evaluator}.{metric}")
        value = bound.get(dataset) if isinstance(bound, dict) else bound
        if value is not None:
            return Limit(value, maximum)
    return None


def lower_is_better(gate: GateConfig, evaluator: str, metric: str) -> bool:
    """A metric with a maximum (on any dataset) is compared with its baseline the other way round."""
    return f"{evaluator}.{metric}" in gate.maximums


class BaselineError(ValueError):
    """A baseline the gate cannot compare against: one line saying what is wrong with it."""


def baseline_problem(baseline: object) -> str | None:
    """What makes a (hand-edited, damaged or hostile) baseline results.json unusable, or None:
    comparing with it would crash, or quietly compare nothing, so the gate must not pass on it."""
    if not isinstance(baseline, dict):
        return f"is a JSON {_kind(baseline)}, not a results.json object"
    evaluations = baseline.get("evaluations")
    if not isinstance(evaluations, list):
        return "has no 'evaluations' list"
    for index, evaluation in enumerate(evaluations):
        where = f"evaluations[{index}]"
        if not isinstance(evaluation, dict):
            return f"{where} is a JSON {_kind(evaluation)}, not an object"
        missing = [key for key in (*RECORD_FIELDS, "metrics") if key not in evaluation]
        if missing:
            return f"{where} has no {', '.join(map(repr, missing))}"
        scores = {f"{where}.metrics": evaluation["metrics"]}
        lines = evaluation.get("line_metrics") or {}
        if not isinstance(lines, dict):
            return f"{where}.line_metrics is a JSON {_kind(lines)}, not an object"
        scores |= {f"{where}.line_metrics.{metric}": per_line for metric, per_line in lines.items()}
        for name, values in scores.items():
            if not isinstance(values, dict):
                return f"{name} is a JSON {_kind(values)}, not an object"
            for key, value in values.items():
                if _number(value) is None:
                    return f"{name}.{key} is {json.dumps(value)}, not a number"
    return None


def _kind(value: object) -> str:
    """A parsed JSON value's type as JSON names it."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def check(results: dict[str, Any], gate: GateConfig, baseline: dict[str, Any] | None = None) -> GateReport:
    """The verdict; BaselineError when the baseline is not one to compare against (baseline_problem)."""
    if baseline is not None and (problem := baseline_problem(baseline)):
        raise BaselineError(problem)
    failures = _unevaluated_runs(results) if gate.thresholds or gate.maximums else []
    for evaluation in results["evaluations"]:
        key, metrics = record_key(evaluation), evaluation["metrics"]
        for limit_key in [*gate.thresholds, *gate.maximums]:
            evaluator, _, metric = limit_key.partition(".")
            limit = limit_for(gate, evaluator, metric, key[3])
            if evaluator != key[0] or limit is None:
                continue
            if metric not in metrics and evaluation.get("skipped"):
                failures.append(Finding(key, metric, f"not measured: {evaluation['skipped']}"))
            elif metric not in metrics:
                failures.append(Finding(key, metric, f"no such metric (produced: {sorted(metrics)})"))
            elif not math.isfinite(metrics[metric]):  # NaN is below nothing: it would pass unnoticed
                failures.append(Finding(key, metric, f"{metrics[metric]} is not a number"))
            elif not limit.met(metrics[metric]):
                side = "above" if limit.maximum else "below"
                message = f"{metrics[metric]:.3f} is {side} the {limit.name} {limit.value:.3f}"
                failures.append(Finding(key, metric, message))
    note = different_models(results, baseline) if baseline else ""
    comparable = baseline if baseline and not note else {"evaluations": []}
    deltas, regressions = _compare(results, comparable, gate)
    new_failures = newly_failing(results, comparable, gate)
    failures += beyond_allowance(new_failures, gate.max_new_failures)
    if gate.fail_on_regression:
        failures += regressions
    compared = bool(baseline and not note)
    return GateReport(failures, regressions, deltas, gate.tolerance, note, new_failures, compared)


def newly_failing(results: dict[str, Any], baseline: dict[str, Any], gate: GateConfig) -> list[NewFailure]:
    """Lines that met a metric's limit on the baseline and miss it now: scored beyond it (or NaN),
    or errored (listed in `failed_lines`, no score at all). A line not run now is not compared."""
    now = {record_key(e): e for e in results["evaluations"]}
    found: dict[tuple[str, str, str, str], list[str]] = {}
    for old in baseline["evaluations"]:
        evaluator, flow, variant, dataset = key = record_key(old)
        if key not in now:
            continue
        scores = _line_scores(now[key])
        errored = {str(line) for line in now[key].get("failed_lines") or ()}
        for metric, before in _line_scores(old).items():
            limit = limit_for(gate, evaluator, metric, dataset)
            if limit is None:
                continue
            for line, was in before.items():
                was, score = _number(was), _number(scores.get(metric, {}).get(line))
                if was is None or not limit.met(was):
                    continue
                if score is not None and not limit.met(score):
                    said = f"{evaluator}.{metric} {score:.3f}"
                elif score is None and line in errored:
                    said = f"{evaluator}.{metric} errored"
                else:
                    continue
                said += f" (was {was:.3f}, {limit.name} {limit.value:.3f})"
                found.setdefault((flow, variant, dataset, line), []).append(said)
    return [NewFailure(*where, tuple(metrics)) for where, metrics in found.items()]


def _line_scores(evaluation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metric -> line -> score as saved; a results.json edited by hand or damaged gives no lines."""
    metrics = evaluation.get("line_metrics")
    if not isinstance(metrics, dict):
        return {}
    return {metric: lines for metric, lines in metrics.items() if isinstance(lines, dict)}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def beyond_allowance(new_failures: list[NewFailure], allowed: dict[str, int]) -> list[Finding]:
    """A finding per run with more newly failing lines than its dataset's `max_new_failures`."""
    by_run: dict[tuple[str, str, str], list[str]] = {}
    for failure in new_failures:
        by_run.setdefault((failure.flow, failure.variant, failure.dataset), []).append(failure.line)
    findings = []
    for (flow, variant, dataset), lines in by_run.items():
        limit = allowed.get(dataset)
        if limit is not None and len(lines) > limit:
            message = (
                f"{len(lines)} lines passed on the baseline and fail now, {limit} allowed "
                f"(max_new_failures): {', '.join(lines)}"
            )
            findings.append(Finding(("lines", flow, variant, dataset), "new_failures", message))
    return findings


def different_models(results: dict[str, Any], baseline: dict[str, Any]) -> str:
    """Why two results cannot be compared ("" when they can): a drop between the offline model and
    a real one, or two deployments, says nothing about the change under review. Results saved
    before the model was recorded are compared."""
    current, before = results.get("model"), baseline.get("model")
    if not current or not before or current == before:
        return ""
    return (
        f"baseline not compared: it was scored by {_model_text(before)}, this run by {_model_text(current)}; "
        "the thresholds alone decide"
    )


def _model_text(model: dict[str, str]) -> str:
    return f"{model.get('provider')} {model.get('model')} ({model.get('endpoint')})"


def _unevaluated_runs(results: dict[str, Any]) -> list[Finding]:
    """A run whose every line failed has no scores; a gate must not pass for want of them."""
    return [
        Finding(("run", run["flow"], run["variant"], run["dataset"]), "lines", message)
        for run in results.get("runs", [])
        if run["lines"] and run["failed"] == run["lines"]
        for message in [f"{run['failed']} of {run['lines']} lines failed, so nothing was evaluated"]
    ]


def _compare(
    results: dict[str, Any], baseline: dict[str, Any], gate: GateConfig
) -> tuple[dict[tuple[RecordKey, str], Delta], list[Finding]]:
    before, tolerance = {record_key(e): e for e in baseline["evaluations"]}, gate.tolerance
    deltas, regressions = {}, []
    for evaluation in results["evaluations"]:
        key = record_key(evaluation)
        old = before.get(key, {"metrics": {}})
        for metric, value in evaluation["metrics"].items():
            if metric not in old["metrics"]:
                continue
            lines = evaluation.get("line_metrics", {}).get(metric, {})
            paired, interval = paired_bootstrap(lines, old.get("line_metrics", {}).get(metric, {}))
            lower = lower_is_better(gate, key[0], metric)
            delta = Delta(value, old["metrics"][metric], paired, interval, lower)
            deltas[key, metric] = delta
            if delta.regressed(tolerance) and delta.significant is not False:
                message = f"{value:.3f} regressed {delta.change:+.3f} from baseline {delta.baseline:.3f}"
                direction = ", lower is better" if lower else ""
                detail = f"tolerance {tolerance:.3f}{direction}; {delta.describe()}"
                regressions.append(Finding(key, metric, f"{message} ({detail})"))
    return deltas, regressions
