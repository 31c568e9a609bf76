"""`data`: validate the experiment's datasets, list the local data-asset registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from aiops_platform import paths
from aiops_platform.cli._common import (
    ExperimentFile,
    console,
    fail,
    load,
    print_problems,
    with_data,
)
from aiops_platform.terminal import line, text

app = typer.Typer(no_args_is_help=True, help="Validate and list datasets.")


@app.command("validate")
def data_validate(file: ExperimentFile = paths.EXPERIMENT) -> None:
    """Check every dataset line: JSON, the columns the mappings need, and non-empty unique ids."""
    from aiops_platform import data_validation

    loaded = with_data(load(file), file)
    problems = data_validation.validate_experiment_data(loaded, file.parent)
    print_problems(problems)
    if problems:
        raise fail("{} problem(s) in the datasets of {}", len(problems), file)
    console.print(line("[green]OK[/] {} datasets valid", len(loaded.datasets)))


ProjectOption = Annotated[Path | None, typer.Option(help="Project folder (default: the current project)")]


@app.command("list")
def data_list(root: ProjectOption = None) -> None:
    """Every version in the local data-asset registry."""
    from aiops_platform import registry

    table = Table("name", "version", "sha256", "path", "registered", box=box.SIMPLE_HEAD)
    for name, versions in registry.LocalRegistry(paths.root(root)).versions().items():
        for version in versions:
            cells = (name, version.version, version.sha256[:12], version.path, version.registered_at)
            table.add_row(*map(text, cells))  # the registry's own file: anyone may have edited it
    console.print(table)
