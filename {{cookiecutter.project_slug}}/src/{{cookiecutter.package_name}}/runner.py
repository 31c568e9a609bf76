"""Runs an experiment's plan on one engine: base runs first, then evaluations of each base run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.package_name }}.engines import Engine, OnLine, RunRequest
from {{ cookiecutter.package_name }}.experiment import Experiment, plan
from {{ cookiecutter.package_name }}.results import EvaluationRecord, ExperimentResults, RunRecord

StartTask = Callable[[str, int], OnLine]


def count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


def run_experiment(
    experiment: Experiment,
    root: Path,
    engine: Engine,
    engine_name: str,
    concurrency: int,
    start_task: StartTask,
) -> ExperimentResults:
    planned_runs, planned_evaluations = plan(experiment)
    base_results = {}
    runs = []
    for planned in planned_runs:
        data = root / planned.dataset.path
        on_line = start_task(f"{planned.flow.name} on {planned.dataset.name}", count_lines(data))
        request = RunRequest(root / planned.flow.path, data, planned.flow.column_mapping, concurrency)
        result = engine.run(request, on_line)
        base_results[planned.flow.name, planned.dataset.name] = result
        runs.append(RunRecord(planned.flow.name, planned.dataset.name, result))
    evaluations = []
    for planned in planned_evaluations:
        data = root / planned.base.dataset.path
        label = f"{planned.evaluator.name} on {planned.base.flow.name}/{planned.base.dataset.name}"
        on_line = start_task(label, count_lines(data))
        request = RunRequest(
            root / planned.evaluator.path,
            data,
            planned.evaluator.column_mapping,
            concurrency,
            base=base_results[planned.base.flow.name, planned.base.dataset.name],
        )
        result = engine.run(request, on_line)
        evaluations.append(
            EvaluationRecord(
                planned.evaluator.name, planned.base.flow.name, planned.base.dataset.name, result
            )
        )
    return ExperimentResults(experiment.name, engine_name, runs, evaluations)
