"""Checks JSON Lines datasets before anything runs or registers: parse errors as `file:line`,
columns the experiment's mappings need, empty or duplicate ids, and the form of optional columns
whose shape an evaluator relies on (`expected_tool_calls`, tool_use.py) wherever a line has one.

In an agent project the expected calls are also checked against flows/agent/tools.py: a misspelt tool
or argument name would only show as a lower tool-use score in the gate, never as the typo it is."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path

from aiops_platform import project
from aiops_platform.agent_tools import AgentError, tools_in
from aiops_platform.experiment import Experiment
from aiops_platform.flow_entry import data_columns
from aiops_platform.jsonl import lines
from aiops_platform.problems import Problem
from aiops_platform.registry import DataSpec
from aiops_platform.tool_use import ToolCall, ToolUseError, expected_calls

# optional column -> its check (raises ToolUseError naming the field): a line without it is not checked
SHAPED_COLUMNS = {"expected_tool_calls": expected_calls}
TOOLS_FILE = "tools.py"  # beside an agent's flow.py


@dataclass(frozen=True)
class OfferedTools:
    """The tools an agent is offered: name -> parameter names, and the file they are written in."""

    file: Path  # relative to the project root, as messages name it
    parameters: Mapping[str, tuple[str, ...]]

    def problems(self, calls: list[ToolCall], column: str) -> list[tuple[str, str]]:
        """(field, problem) for each expected call naming a tool or an argument the agent cannot use."""
        found = []
        for index, call in enumerate(calls):
            accepted = self.parameters.get(call.name)
            if accepted is None:
                tools = ", ".join(self.parameters)
                found.append(
                    (
                        f"{column}[{index}].name",
                        f"{call.name!r} is not a tool in {self.file} (its tools: {tools})",
                    )
                )
                continue
            listed = ", ".join(accepted) or "none"
            found += [
                (
                    f"{column}[{index}].arguments",
                    f"{argument!r} is not a parameter of {call.name} (its parameters: {listed})",
                )
                for argument in sorted(call.arguments.keys() - set(accepted))
            ]
        return found


def offered_tools(root: Path) -> tuple[OfferedTools | None, list[Problem]]:
    """In an agent project, its tools (loaded as the flow loads them, without the agent runtime) and
    what in tools.py leaves the model nothing to go by: no docstring, a parameter without a type.
    (None, []) in a project of another kind; (None, [why]) when tools.py cannot be loaded."""
    answers = project.load(root.resolve()) if (root / project.FILE).is_file() else None  # cached by path
    if answers is None or answers.flow_kind != "agent":
        return None, []
    relative = answers.flow / TOOLS_FILE
    file = root / relative
    try:
        tools = tools_in(file)
    except AgentError as error:
        return None, [Problem(file, str(error).removeprefix(f"{file}: "))]
    except Exception as error:  # noqa: BLE001 - the team's code: any failure to import it is the problem
        return None, [Problem(file, f"cannot be loaded: {type(error).__name__}: {error}")]
    parameters, problems = {}, []
    for tool in tools:
        signature = inspect.signature(tool)
        parameters[tool.__name__] = tuple(signature.parameters)
        untyped = [name for name, item in signature.parameters.items() if item.annotation is item.empty]
        if untyped:
            line = inspect.unwrap(tool).__code__.co_firstlineno
            message = f"tool {tool.__name__}: no type hint on {', '.join(untyped)} (the model sees no type)"
            problems.append(Problem(file, message, line))
    return OfferedTools(relative, parameters), problems


def required_columns(experiment: Experiment, dataset: str) -> set[str]:
    """`${data.x}` columns used by every flow, and by the evaluators that score this dataset
    (an evaluator without a mapping takes what it finds, so it requires nothing up front)."""
    mappings = [flow.column_mapping for flow in experiment.flows] + [
        evaluator.column_mapping
        for evaluator in experiment.evaluators
        if evaluator.column_mapping and (evaluator.datasets is None or dataset in evaluator.datasets)
    ]
    return {column for mapping in mappings for column in data_columns(mapping)}


def validate_jsonl(
    path: Path, columns: Set[str] = frozenset(), id_column: str = "id", tools: OfferedTools | None = None
) -> list[Problem]:
    """Each line's problems; with `tools`, also expected calls the agent could not make."""
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
                    calls = check(row[column], column)
                except ToolUseError as error:
                    problems.append(Problem(path, error.problem, line.number, key=error.field))
                    continue
                for field, problem in tools.problems(calls, column) if tools else []:
                    problems.append(Problem(path, problem, line.number, key=field))
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
    """Every dataset the experiment reads (registered assets resolved first: `resolve_assets`), and in
    an agent project the tools its expected calls name."""
    tools, problems = offered_tools(root)
    for dataset in experiment.datasets:
        if not dataset.is_asset:
            columns = required_columns(experiment, dataset.name)
            problems += validate_jsonl(root / dataset.path, columns, tools=tools)
    return problems


def validate_for_registration(experiment: Experiment, root: Path, specs: list[DataSpec]) -> list[Problem]:
    """What must hold before anything is registered: the experiment's datasets, and each JSON Lines
    file a data spec points at (a folder asset is registered as it is)."""
    problems = validate_experiment_data(experiment, root)
    problems += [problem for spec in specs if spec.path.is_file() for problem in validate_jsonl(spec.path)]
    return sorted(set(problems), key=str)
