"""Runs an experiment's plan on one engine: base runs first, then evaluations of each base run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from statistics import fmean

from {{ cookiecutter.package_name }}.engines import Engine, OnLine, RunRequest, RunResult
from {{ cookiecutter.package_name }}.engines.inprocess import entry_parameters, read_jsonl
from {{ cookiecutter.package_name }}.experiment import Experiment, PlannedEvaluation, plan
from {{ cookiecutter.package_name }}.results import EvaluationRecord, ExperimentResults, RunRecord

StartTask = Callable[[str, int], OnLine]


class MappingError(ValueError):
    """An evaluator without a column_mapping has a parameter found neither in outputs nor data."""


def mean_of_lines(result: RunResult) -> dict[str, float]:
    """The aggregate of an evaluator without `__aggregate__`: the mean of each numeric output."""
    lines = [output for output in result.outputs if output]
    names = [name for name, value in (lines[0] if lines else {}).items() if isinstance(value, int | float)]
    return {name: fmean(float(line[name]) for line in lines) for name in names}


def inferred_mapping(evaluator_path: Path, base: RunResult, data: Path) -> dict[str, str]:
    """Each parameter from the flow output of the same name, else the data column of that name."""
    outputs = next((output for output in base.outputs if output is not None), {})
    columns = read_jsonl(data)[0] if data.stat().st_size else {}
    mapping = {}
    for parameter in entry_parameters(evaluator_path):
        if parameter in outputs:
            mapping[parameter] = "${run.outputs." + parameter + "}"
        elif parameter in columns:
            mapping[parameter] = "${data." + parameter + "}"
        else:
            raise MappingError(
                f"evaluator {evaluator_path}: parameter {parameter!r} is neither a flow output "
                f"{sorted(outputs)} nor a data column {sorted(columns)}; add a column_mapping"
            )
    return mapping


def _evaluation_request(
    planned: PlannedEvaluation, root: Path, base: RunResult, concurrency: int
) -> RunRequest:
    path, data = root / planned.evaluator.path, root / planned.base.dataset.path
    mapping = planned.evaluator.column_mapping or inferred_mapping(path, base, data)
    return RunRequest(path, data, mapping, concurrency, planned.base.dataset.limit, base=base)


def run_experiment(
    experiment: Experiment,
    root: Path,
    engine: Engine,
    engine_name: str,
    concurrency: int,
    start_task: StartTask,
) -> ExperimentResults:
    planned_runs, planned_evaluations = plan(experiment)
    rows = {d.name: read_jsonl(root / d.path)[: d.limit] for d in experiment.datasets}
    base_results: dict[tuple[str, str, str], RunResult] = {}
    runs = []
    for planned in planned_runs:
        data, limit = root / planned.dataset.path, planned.dataset.limit
        label = f"{planned.flow.name}/{planned.variant.name} on {planned.dataset.name}"
        on_line = start_task(label, len(rows[planned.dataset.name]))
        mapping = {**planned.flow.column_mapping, **planned.variant.inputs}
        result = engine.run(RunRequest(root / planned.flow.path, data, mapping, concurrency, limit), on_line)
        base_results[planned.key] = result
        runs.append(RunRecord(*planned.key, result))
    evaluations = []
    for planned in planned_evaluations:
        base = base_results[planned.base.key]
        label = f"{planned.evaluator.name} on {planned.base.flow.name}/{planned.base.variant.name}"
        on_line = start_task(f"{label}/{planned.base.dataset.name}", len(base.outputs))
        result = engine.run(_evaluation_request(planned, root, base, concurrency), on_line)
        result.metrics = result.metrics or mean_of_lines(result)
        evaluations.append(EvaluationRecord(planned.evaluator.name, *planned.base.key, result))
    return ExperimentResults(experiment.name, engine_name, runs, evaluations, rows)
