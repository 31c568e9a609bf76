"""Checks JSON Lines datasets before anything runs or registers: parse errors as `file:line`,
columns the experiment's mappings need, empty or duplicate ids, and the form of optional columns
whose shape an evaluator relies on (`expected_tool_calls`, tool_use.py) wherever a line has one."""

from __future__ import annotations

from collections.abc import Set
from pathlib import Path

from aiops_platform.experiment import Experiment
from aiops_platform.flow_entry import data_columns
from aiops_platform.jsonl import lines
from aiops_platform.problems import Problem
from aiops_platform.registry import DataSpec
from aiops_platform.tool_use import ToolUseError, expected_calls

# optional column -> its check (raises ToolUseError naming the field): a line without it is not checked
SHAPED_COLUMNS = {"expected_tool_calls": expected_calls}


def required_columns(experiment: Experiment, dataset: str) -> set[str]:
    """`${data.x}` columns used by every flow, and by the evaluators that score this dataset
    (an evaluator without a mapping takes what it finds, so it requires nothing up front)."""
    mappings = [flow.column_mapping for flow in experiment.flows] + [
        evaluator.column_mapping
        for evaluator in experiment.evaluators
        if evaluator.column_mapping and (evaluator.datasets is None or dataset in evaluator.datasets)
    ]
    return {column for mapping in mappings for column in data_columns(mapping)}


def validate_jsonl(path: Path, columns: Set[str] = frozenset(), id_column: str = "id") -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line in lines(path):
        if line.error is not None:
            problems.append(Problem(path, line.error, line.number))
            continue
        row = line.value
        if not isinstance(row, dict):
            problems.append(Problem(path, "expected a JSON object", line.number))
            continue
        missing = sorted(columns - row.keys())
        if missing:
            problems.append(Problem(path, f"missing columns {missing}", line.number))
        for column, check in SHAPED_COLUMNS.items():
            if column in row:
                try:
                    check(row[column], column)
                except ToolUseError as error:
                    problems.append(Problem(path, error.problem, line.number, key=error.field))
        identifier = str(row.get(id_column) or "").strip()
        if not identifier:
            problems.append(Problem(path, f"empty '{id_column}'", line.number))
        elif identifier in seen:
            message = f"duplicate '{id_column}' {identifier!r} (first on line {seen[identifier]})"
            problems.append(Problem(path, message, line.number))
        else:
            seen[identifier] = line.number
    if not seen and not problems:
        problems.append(Problem(path, "no lines (an empty file)", 0))
    return problems


def validate_experiment_data(experiment: Experiment, root: Path) -> list[Problem]:
    """Every dataset the experiment reads (registered assets resolved first: `resolve_assets`)."""
    return [
        problem
        for dataset in experiment.datasets
        if not dataset.is_asset
        for problem in validate_jsonl(root / dataset.path, required_columns(experiment, dataset.name))
    ]


def validate_for_registration(experiment: Experiment, root: Path, specs: list[DataSpec]) -> list[Problem]:
    """What must hold before anything is registered: the experiment's datasets, and each JSON Lines
    file a data spec points at (a folder asset is registered as it is)."""
    problems = validate_experiment_data(experiment, root)
    problems += [problem for spec in specs if spec.path.is_file() for problem in validate_jsonl(spec.path)]
    return sorted(set(problems), key=str)
