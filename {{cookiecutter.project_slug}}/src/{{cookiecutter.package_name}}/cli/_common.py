"""What every command group shares: the console, one way to fail, the common options, and loading
the experiment file (validated; registered assets resolved only where data is read)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from {{ cookiecutter.package_name }} import azure_ml, paths, registry
from {{ cookiecutter.package_name }} import experiment as experiment_file
from {{ cookiecutter.package_name }}.problems import Problem
from {{ cookiecutter.package_name }}.settings import get_settings

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


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print one error and return the exit to raise: `raise fail(...) from error`."""
    console.print(f"[bold red]Error[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def export_schema(text: str, output: Path | None, check: bool) -> None:
    """A JSON Schema to stdout, to `output`, or (`check`) exit 1 when `output` differs from it."""
    if output is None:
        console.out(text, end="")
    elif check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            console.print(f"[red]{output} is stale:[/] run `make schema`")
            raise typer.Exit(1)
    else:
        output.write_text(text, encoding="utf-8")


def print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)


def chosen_target(option: RegistryTarget | None) -> RegistryTarget:
    return option or RegistryTarget(get_settings().registry_target)


def load(file: Path, environment: str | None = None) -> experiment_file.Experiment:
    """The validated experiment (schema and local paths; no registry is asked)."""
    try:
        return experiment_file.load(file, environment)
    except experiment_file.ExperimentError as error:
        raise fail(f"invalid experiment\n{error}", code=2) from error


def with_data(loaded: experiment_file.Experiment, file: Path) -> experiment_file.Experiment:
    """Registered-asset datasets resolved to local copies through the chosen registry target."""
    if not any(dataset.is_asset for dataset in loaded.datasets):
        return loaded
    target = registry.target(chosen_target(None).value, paths.root(file.parent))
    try:
        return experiment_file.resolve_assets(loaded, target, str(file))
    except experiment_file.ExperimentError as error:
        raise fail(f"invalid experiment\n{error}", code=2) from error
    except azure_ml.AzureUnavailable as error:
        raise fail(error) from error


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise fail(f"cannot read results file {path}: {error}") from error
