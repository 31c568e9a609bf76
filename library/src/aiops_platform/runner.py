"""Runs an experiment's plan on one engine: base runs first, then evaluations of each base run."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiops_platform.engines import Engine, OnLine, RunRequest, RunResult
from aiops_platform.evaluation import mean_over_lines
from aiops_platform.experiment import Experiment, PlannedEvaluation, plan
from aiops_platform.flow_entry import data_reference, entry_parameters, output_reference
from aiops_platform.jsonl import read_jsonl
from aiops_platform.results import EvaluationRecord, ExperimentResults, RunRecord

StartTask = Callable[[str, int], OnLine]


class MappingError(ValueError):
    """An evaluator without a column_mapping has a parameter found neither in outputs nor data."""


def inferred_mapping(
    evaluator_path: Path, base: RunResult, columns: dict[str, object], project: Path | None = None
) -> dict[str, str]:
    """Each parameter from the flow output of the same name, else the data column of that name."""
    outputs = next((output for output in base.outputs if output is not None), {})
    mapping = {}
    for parameter in entry_parameters(evaluator_path, project):
        if parameter in outputs:
            mapping[parameter] = output_reference(parameter)
        elif parameter in columns:
            mapping[parameter] = data_reference(parameter)
        else:
            raise MappingError(
                f"evaluator {evaluator_path}: parameter {parameter!r} is neither a flow output "
                f"{sorted(outputs)} nor a data column {sorted(columns)}; add a column_mapping"
            )
    return mapping


def _evaluation_request(
    planned: PlannedEvaluation, root: Path, base: RunResult, first_row: dict, concurrency: int
) -> RunRequest:
    path, data = root / planned.evaluator.path, root / planned.base.dataset.path
    mapping = planned.evaluator.column_mapping or inferred_mapping(path, base, first_row, root)
    labels = {
        "evaluator": planned.evaluator.name,
        "variant": planned.base.variant.name,
        "dataset": planned.base.dataset.name,
    }
    limit = planned.base.dataset.limit
    return RunRequest(path, data, mapping, concurrency, limit, base=base, labels=labels, project=root)


def run_all(engine: Engine, jobs: list[tuple[RunRequest, OnLine]]) -> list[RunResult]:
    """Independent runs start together when the engine allows it; results keep the plan's order."""
    if not engine.concurrent_runs or len(jobs) < 2:
        return [engine.run(request, on_line) for request, on_line in jobs]
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="run") as runs:
        return list(runs.map(lambda job: engine.run(*job), jobs))


def skip_reasons(result: RunResult) -> str:
    """Why an evaluator left metrics out: the distinct `skipped` texts its lines returned ("" if none)."""
    lines = [output for output in result.outputs if isinstance(output, dict)]
    reasons = {line["skipped"] for line in lines if isinstance(line.get("skipped"), str)}
    return "; ".join(sorted(reasons))


def failed_runs(results: ExperimentResults) -> list[str]:
    """One line per run whose every line failed, naming the first error: the cause, not a symptom."""
    messages = []
    for record in results.runs:
        total, errors = len(record.result.errors), [e for e in record.result.errors if e is not None]
        if total and len(errors) == total:
            first = errors[0].strip().splitlines()[0][:300] if errors[0].strip() else "no reason given"
            where = f"{record.flow}/{record.variant} on {record.dataset}"
            messages.append(f"{where}: {total} of {total} lines failed (not evaluated): {first}")
    return messages


def run_experiment(
    experiment: Experiment,
    root: Path,
    engine: Engine,
    engine_name: str,
    concurrency: int,
    start_task: StartTask,
) -> ExperimentResults:
    planned_runs, planned_evaluations = plan(experiment)
    rows = {d.name: read_jsonl(root / d.path, d.limit) for d in experiment.datasets}
    base_jobs = []
    for planned in planned_runs:
        label = f"{planned.flow.name}/{planned.variant.name} on {planned.dataset.name}"
        mapping = {**planned.flow.column_mapping, **planned.variant.inputs}
        request = RunRequest(
            root / planned.flow.path,
            root / planned.dataset.path,
            mapping,
            concurrency,
            planned.dataset.limit,
            labels={"variant": planned.variant.name, "dataset": planned.dataset.name},
            project=root,
        )
        base_jobs.append((request, start_task(label, len(rows[planned.dataset.name]))))
    base_results = dict(zip((p.key for p in planned_runs), run_all(engine, base_jobs), strict=True))

    evaluated: list[PlannedEvaluation] = []
    evaluation_jobs: list[tuple[RunRequest, OnLine]] = []
    for evaluation in planned_evaluations:
        base = base_results[evaluation.base.key]
        if all(output is None for output in base.outputs):  # nothing to score; failed_runs() says why
            continue
        label = f"{evaluation.evaluator.name} on {evaluation.base.flow.name}/{evaluation.base.variant.name}"
        on_line = start_task(f"{label}/{evaluation.base.dataset.name}", len(base.outputs))
        first_row: dict[str, Any] = next(iter(rows[evaluation.base.dataset.name]), {})  # already read above
        evaluated.append(evaluation)
        evaluation_jobs.append((_evaluation_request(evaluation, root, base, first_row, concurrency), on_line))
    evaluations = []
    for evaluation, result in zip(evaluated, run_all(engine, evaluation_jobs), strict=True):
        result.metrics = result.metrics or mean_over_lines(result.outputs)  # no __aggregate__
        skipped = skip_reasons(result)  # e.g. no Azure AI project: reported, never a pass
        evaluations.append(EvaluationRecord(evaluation.evaluator.name, *evaluation.base.key, result, skipped))
    runs = [RunRecord(*key, result) for key, result in base_results.items()]
    return ExperimentResults(experiment.name, engine_name, runs, evaluations, rows)
