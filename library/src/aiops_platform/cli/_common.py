"""What every command group shares: the console, one way to fail, the common options, and loading
the experiment file (validated; registered assets resolved only where data is read).

Every value printed comes from outside (files, records, traces, answers) or may: it reaches the
console only through `terminal` (`fail` and `print_problems` do that for their values)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from aiops_platform.terminal import line, markup, visible

if TYPE_CHECKING:  # every command imports this module: what loads the experiment loads in `load`
    from aiops_platform import experiment as experiment_file
    from aiops_platform import session

# Logs (CI, pipes) get room for the metric tables; a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() else 120)


class RegistryTarget(StrEnum):
    local = "local"
    azureml = "azureml"


ExperimentFile = Annotated[Path, typer.Option("--file", "-f", help="Experiment file")]
EnvironmentOption = Annotated[
    str | None,
    typer.Option("--env", help="Merge experiment.<env>.yaml (pr, dev, test, prod) over the base file"),
]
TargetOption = Annotated[
    RegistryTarget | None, typer.Option("--target", help="local (default) or azureml; env REGISTRY_TARGET")
]


def fail(
    message: str | BaseException, *values: object, code: int = 1, problems: Iterable[object] = ()
) -> typer.Exit:
    """Print one error line, then one line per problem, and return the exit to raise:
    `raise fail("cannot read {}: {}", path, error.strerror) from error`.

    `message` is the command's own words (Rich markup) with a `{}` per value (terminal.line); an
    exception alone is all outside text. No value can break the line, act on the terminal or apply markup."""
    said = line(message, *values) if isinstance(message, str) else markup(message)
    console.print(f"[bold red]Error[/] {said}", highlight=False, soft_wrap=True)
    print_problems(problems)
    return typer.Exit(code)


def export_schema(text: str, output: Path | None, check: bool) -> None:
    """A JSON Schema to stdout, to `output`, or (`check`) exit 1 when `output` differs from it."""
    if output is None:
        console.out(text, end="")
    elif check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            console.print(line("[red]{} is stale:[/] run `make schema`", output))
            raise typer.Exit(1)
    else:
        output.write_text(text, encoding="utf-8")


def print_problems(problems: Iterable[object]) -> None:
    """One line each: a problem quotes its file (a dataset value, a name), shown as typed."""
    for problem in problems:
        console.print(Text.assemble(("✗ ", "red"), visible(problem)), highlight=False, soft_wrap=True)


def chosen_target(option: RegistryTarget | None) -> RegistryTarget:
    from aiops_platform.settings import get_settings

    return option or RegistryTarget(get_settings().registry_target)


def refused(error: session.Refused) -> typer.Exit:
    """A session's refusal as the command's error line, its problems and its exit status."""
    return fail("{}", error, problems=error.problems, code=error.code)


def load(file: Path, environment: str | None = None) -> experiment_file.Experiment:
    """The validated experiment (schema and local paths; no registry is asked)."""
    from aiops_platform import session

    try:
        return session.load(file, environment)
    except session.Refused as error:
        raise refused(error) from error


def with_data(loaded: experiment_file.Experiment, file: Path) -> experiment_file.Experiment:
    """Registered-asset datasets resolved to local copies through the chosen registry target."""
    from aiops_platform import session

    try:
        return session.with_data(loaded, file)
    except session.Refused as error:
        raise refused(error) from error


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise fail("cannot read results file {}: {}", path, error) from error
