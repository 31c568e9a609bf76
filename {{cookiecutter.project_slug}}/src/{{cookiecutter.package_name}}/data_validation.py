"""Checks JSON Lines datasets before anything runs or registers: parse errors as `file:line`,
columns the experiment's mappings need, and empty or duplicate ids."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from {{ cookiecutter.package_name }}.experiment import Experiment

_DATA_REFERENCE = re.compile(r"^\$\{data\.([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def required_columns(experiment: Experiment, dataset: str) -> set[str]:
    """`${data.x}` columns used by every flow, and by the evaluators that score this dataset
    (an evaluator without a mapping takes what it finds, so it requires nothing up front)."""
    mappings = [flow.column_mapping for flow in experiment.flows] + [
        evaluator.column_mapping
        for evaluator in experiment.evaluators
        if evaluator.column_mapping and (evaluator.datasets is None or dataset in evaluator.datasets)
    ]
    return {m[1] for mapping in mappings for ref in mapping.values() if (m := _DATA_REFERENCE.match(ref))}


def validate_jsonl(path: Path, columns: set[str] = frozenset(), id_column: str = "id") -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                problems.append(Problem(path, number, f"not valid JSON ({error.msg}, column {error.colno})"))
                continue
            if not isinstance(row, dict):
                problems.append(Problem(path, number, "expected a JSON object"))
                continue
            missing = sorted(columns - row.keys())
            if missing:
                problems.append(Problem(path, number, f"missing columns {missing}"))
            identifier = str(row.get(id_column) or "").strip()
            if not identifier:
                problems.append(Problem(path, number, f"empty '{id_column}'"))
            elif identifier in seen:
                problems.append(
                    Problem(
                        path,
                        number,
                        f"duplicate '{id_column}' {identifier!r} (first on line {seen[identifier]})",
                    )
                )
            else:
                seen[identifier] = number
    if not seen and not problems:
        problems.append(Problem(path, 0, "no lines"))
    return problems


def validate_experiment_data(experiment: Experiment, root: Path) -> list[Problem]:
    return [
        problem
        for dataset in experiment.datasets
        for problem in validate_jsonl(root / dataset.path, required_columns(experiment, dataset.name))
    ]
