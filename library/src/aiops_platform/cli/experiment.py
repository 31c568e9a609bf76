"""`experiment`: validate, run, gate and export experiment.yaml."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aiops_platform import paths
from aiops_platform.cli._common import (
    EnvironmentOption,
    ExperimentFile,
    console,
    export_schema,
    fail,
    load,
    print_problems,
    read_json,
    refused,
)
from aiops_platform.terminal import line, markup, text

if TYPE_CHECKING:  # each command imports what it uses: validate loads no engine, report or model
    from aiops_platform import experiment as experiment_file
    from aiops_platform import session
    from aiops_platform.gate import GateReport

app = typer.Typer(no_args_is_help=True, help="Run and validate experiment.yaml.")


class EngineName(StrEnum):
    inprocess = "inprocess"
    promptflow = "promptflow"
    workflow = "workflow"


BaselineOption = Annotated[
    Path | None, typer.Option(help="A results.json to compare against (e.g. from main): deltas, regressions")
]


def _print_gate(verdict: GateReport, enforced: bool = True) -> None:
    """The findings, then the verdict; `enforced`: whether this command fails on them (a run without
    --gate, as make experiment, does not: its verdict says so, so that it is not read as make gate's)."""
    from aiops_platform import report

    if verdict.baseline_note:
        console.print(text(verdict.baseline_note, "yellow"), highlight=False, soft_wrap=True)
    for finding in verdict.failures:
        console.print(line("[red]FAIL {}[/]", finding), highlight=False, soft_wrap=True)
    for finding in verdict.regressions:
        if finding not in verdict.failures:
            console.print(line("[yellow]regression: {}[/]", finding), highlight=False, soft_wrap=True)
    for said in report.gate_lines(verdict):
        console.print(text(said), highlight=False, soft_wrap=True)
    found = len(verdict.failures)
    findings = f"{found} finding{'' if found == 1 else 's'}"
    if not enforced:
        outcome = f"{findings}; make gate fails on them" if found else "no findings; make gate would pass"
        console.print(text(f"Gate (not enforced by make experiment): {outcome}"), highlight=False)
    elif verdict.passed:
        console.print("[bold green]Gate passed[/]")
    else:
        console.print(line("[bold red]Gate failed:[/] {}", findings))


@app.command("validate")
def validate(file: ExperimentFile = paths.EXPERIMENT, env: EnvironmentOption = None) -> None:
    """Check the file against its schema, every path, every flow and evaluator entry, and the local
    datasets' lines (registered assets are checked where they are read: run, data validate)."""
    from aiops_platform import experiment as experiment_file
    from aiops_platform import session
    from aiops_platform.data_validation import validate_experiment_data

    loaded = load(file, env)
    try:
        session.entry_problems(loaded, file)
    except session.Refused as error:
        raise refused(error) from error
    problems = validate_experiment_data(loaded, file.parent)
    print_problems(problems)
    if problems:
        raise fail("{} data problem(s) in the datasets of {}", len(problems), file, code=2)
    runs, evaluations = experiment_file.plan(loaded)
    console.print(line("[green]OK[/] {}: {} runs, {} evaluations", file, len(runs), len(evaluations)))


@app.command("schema")
def schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
    check: Annotated[bool, typer.Option(help="Fail if OUTPUT differs from the schema")] = False,
) -> None:
    """Export the JSON Schema of experiment.yaml (for editors and CI)."""
    from aiops_platform import experiment as experiment_file

    export_schema(experiment_file.json_schema(), output, check)


@app.command("run")
def run(
    file: ExperimentFile = paths.EXPERIMENT,
    engine: Annotated[EngineName | None, typer.Option(help="Override the file's engine")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Override concurrency")] = None,
    output: Annotated[Path, typer.Option(help="Results folder")] = paths.RESULTS,
    env: EnvironmentOption = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a threshold or regression fails")] = False,
    baseline: BaselineOption = None,
    variant: Annotated[list[str] | None, typer.Option(help="Only this variant (repeatable)")] = None,
    dataset: Annotated[list[str] | None, typer.Option(help="Only this dataset (repeatable)")] = None,
    max_cost: Annotated[
        float | None, typer.Option(min=0, help="Online: refuse to start when the estimated cost exceeds this")
    ] = None,
    note: Annotated[
        str,
        typer.Option(
            envvar="AIOPS_RUN_NOTE", help="A line for the summary and report (pipelines: which model, why)"
        ),
    ] = "",
) -> None:
    """Run every flow variant on every dataset, evaluate each run, save JSON, markdown and HTML."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from aiops_platform import session

    options = session.Options(
        engine=engine.value if engine else None, concurrency=concurrency, output=output, env=env, gate=gate,
        baseline=baseline, variants=variant, datasets=dataset, note=note,
    )  # fmt: skip
    try:
        prepared = session.prepare(file, options)
        estimated = session.estimate(prepared)
        if estimated is not None:
            said = line(
                "Estimate: {} model calls to {}, ~{:,} tokens, {} ({})",
                estimated.calls, estimated.model, estimated.tokens, estimated.priced, estimated.cache,
            )  # fmt: skip
            console.print(said, soft_wrap=True, highlight=False)
        session.within_budget(estimated, max_cost)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:

            def start_task(label: str, total: int) -> Callable[[], None]:
                task = progress.add_task(markup(label), total=total)
                return lambda: progress.advance(task)

            done = session.run(prepared, start_task)
    except session.Refused as error:
        raise refused(error) from error
    _print_run(done, prepared.loaded, gate)
    if not done.passed(gate):
        raise typer.Exit(1)


def _print_run(done: session.Session, loaded: experiment_file.Experiment, gate: bool) -> None:
    from aiops_platform import release, report, system_card

    console.print(*report.metrics_tables(done.outcome, loaded.gate))
    if done.failed_lines:
        said = line("[yellow]{} lines failed; see lines.jsonl under {}[/]", done.failed_lines, done.directory)
        console.print(said, soft_wrap=True)
    _print_gate(done.verdict, enforced=gate)
    for context in report.context_lines(done.outcome):
        console.print(text(context), highlight=False, soft_wrap=True)
    written = ("results.json", "summary.md", "report.html", release.RECORD, system_card.CARD)
    for label, name in zip(("Results", "Summary", "Report", "Release", "Card"), written, strict=True):
        console.print(text(f"{label + ':':9}{done.directory / name}"), soft_wrap=True, highlight=False)
    for message in done.failed_runs:
        console.print(line("[bold red]FAIL[/] {}", message), soft_wrap=True, highlight=False)


@app.command("azureml")
def azureml_specs(
    file: ExperimentFile = paths.EXPERIMENT,
    env: EnvironmentOption = None,
    output: Annotated[Path, typer.Option(help="Folder for the specs")] = paths.AZUREML_SPECS,
) -> None:
    """Write the Azure ML pipeline job (one step per variant x dataset) for this experiment."""
    from aiops_platform import project, scaleout
    from aiops_platform.settings import get_settings

    settings = get_settings()
    endpoint = (
        settings.azure_openai_endpoint or project.load(paths.root(file.parent)).model.azure_openai_endpoint
    )
    root = paths.root(file.parent)
    written = scaleout.write_specs(load(file, env), root, output, env, settings.azure_ml_compute, endpoint)
    console.print(line("[green]Wrote[/] {}", ", ".join(map(str, written))), soft_wrap=True)
    submit = line("Submit with: az ml job create -f {}", output / "experiment.pipeline.yml")
    console.print(submit, soft_wrap=True)


@app.command("gate")
def gate_saved(
    results_file: Annotated[Path, typer.Argument(help="A saved results.json")],
    file: ExperimentFile = paths.EXPERIMENT,
    env: EnvironmentOption = None,
    baseline: BaselineOption = None,
) -> None:
    """Gate saved results against the experiment's thresholds (and a baseline) without re-running."""
    from aiops_platform.gate import BaselineError
    from aiops_platform.gate import check as check_gate

    baseline_results = read_json(baseline) if baseline else None
    try:
        verdict = check_gate(read_json(results_file), load(file, env).gate, baseline_results)
    except BaselineError as error:
        raise fail("baseline {}: {}; the gate cannot compare against it", baseline, error) from error
    _print_gate(verdict)
    if not verdict.passed:
        raise typer.Exit(1)
