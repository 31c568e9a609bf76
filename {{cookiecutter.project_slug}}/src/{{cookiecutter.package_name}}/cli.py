"""Command line: thin wrappers that parse, call one module, and print."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from {{ cookiecutter.package_name }} import experiment as experiment_file
from {{ cookiecutter.package_name }} import report, results
from {{ cookiecutter.package_name }}.engines import get_engine
from {{ cookiecutter.package_name }}.runner import run_experiment

app = typer.Typer(no_args_is_help=True, help="{{ cookiecutter.project_name }} AIOps commands.")
experiment_app = typer.Typer(no_args_is_help=True, help="Run and validate experiment.yaml.")
app.add_typer(experiment_app, name="experiment")
console = Console()

ExperimentFile = Annotated[Path, typer.Option("--file", "-f", help="Experiment file")]


class EngineName(StrEnum):
    inprocess = "inprocess"
    promptflow = "promptflow"


def _load(path: Path) -> experiment_file.Experiment:
    try:
        return experiment_file.load(path)
    except experiment_file.ExperimentError as error:
        console.print(f"[bold red]Invalid experiment[/]\n{error}", highlight=False)
        raise typer.Exit(2) from error


@experiment_app.command("validate")
def validate(file: ExperimentFile = Path("experiment.yaml")) -> None:
    """Check the experiment file against its schema and that every path exists."""
    loaded = _load(file)
    runs, evaluations = experiment_file.plan(loaded)
    console.print(f"[green]OK[/] {file}: {len(runs)} runs, {len(evaluations)} evaluations")


@experiment_app.command("schema")
def schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
    check: Annotated[bool, typer.Option(help="Fail if OUTPUT differs from the schema")] = False,
) -> None:
    """Export the JSON Schema of experiment.yaml (for editors and CI)."""
    text = experiment_file.json_schema()
    if output is None:
        console.out(text, end="")
    elif check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            console.print(f"[red]{output} is stale:[/] run `make schema`")
            raise typer.Exit(1)
    else:
        output.write_text(text, encoding="utf-8")


@experiment_app.command("run")
def run(
    file: ExperimentFile = Path("experiment.yaml"),
    engine: Annotated[EngineName | None, typer.Option(help="Override the file's engine")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Override concurrency")] = None,
    output: Annotated[Path, typer.Option(help="Results folder")] = Path("results"),
) -> None:
    """Run every flow on every dataset, evaluate each run, and save results, JSON and markdown."""
    loaded = _load(file)
    engine_name = (engine or EngineName(loaded.engine)).value
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def start_task(label: str, total: int):
            task = progress.add_task(label, total=total)
            return lambda: progress.advance(task)

        outcome = run_experiment(
            loaded,
            file.parent,
            get_engine(engine_name, file.parent.resolve()),
            engine_name,
            concurrency or loaded.concurrency,
            start_task,
        )
    directory = results.new_results_dir(output)
    results.save(outcome, directory, report.markdown(outcome))
    console.print(*report.metrics_tables(outcome))
    console.print(f"Results: {directory}/results.json\nSummary: {directory}/summary.md", soft_wrap=True)
    failed = sum(record.result.failed for record in [*outcome.runs, *outcome.evaluations])
    if failed:
        console.print(f"[yellow]{failed} lines failed; see lines.jsonl under {directory}[/]", soft_wrap=True)
