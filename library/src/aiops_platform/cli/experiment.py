"""`experiment`: validate, run, gate and export experiment.yaml."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aiops_platform import experiment as experiment_file
from aiops_platform import llm, paths, project, release, report, scaleout, system_card
from aiops_platform import results as results_folder
from aiops_platform.cli._common import (
    EnvironmentOption,
    ExperimentFile,
    console,
    export_schema,
    fail,
    load,
    print_problems,
    read_json,
    with_data,
)
from aiops_platform.data_validation import validate_experiment_data
from aiops_platform.engines import EngineUnavailable, get_engine
from aiops_platform.flow_entry import read_jsonl
from aiops_platform.gate import GateReport
from aiops_platform.gate import check as check_gate
from aiops_platform.governance import Governance, GovernanceError
from aiops_platform.runner import MappingError, failed_runs, run_experiment
from aiops_platform.settings import get_settings
from aiops_platform.terminal import line, markup, text

app = typer.Typer(no_args_is_help=True, help="Run and validate experiment.yaml.")


class EngineName(StrEnum):
    inprocess = "inprocess"
    promptflow = "promptflow"


BaselineOption = Annotated[
    Path | None, typer.Option(help="A results.json to compare against (e.g. from main): deltas, regressions")
]


PROMPT_SUFFIXES = (".jinja2", ".prompty")
OUTPUT_TOKENS_PER_CALL = 200  # the estimate's guess at an answer's length


def _prompts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in PROMPT_SUFFIXES) if folder.is_dir() else []


def estimate_tokens(loaded: experiment_file.Experiment, base: Path) -> tuple[int, int, int]:
    """(calls, input tokens, output tokens) the experiment would ask the model for, cache ignored.

    Each line of a run is one call: the variant's prompt file (else the flow's largest) and the
    line's data, at 4 characters a token. Each line of an evaluation is one call per prompt file in
    the evaluator's folder (the judges: five; qa_metrics and code evaluators: none). Retrieved
    context and chat history that are not in the data are not counted."""
    rows = {d.name: read_jsonl(base / d.path, d.limit) for d in loaded.datasets}
    sizes = {d: [len(json.dumps(row, ensure_ascii=False)) for row in lines] for d, lines in rows.items()}
    runs, evaluations = experiment_file.plan(loaded)
    calls = input_chars = 0
    for planned in runs:
        prompts = {p.name: len(p.read_text(encoding="utf-8")) for p in _prompts(base / planned.flow.path)}
        chosen = [prompts[v] for v in planned.variant.inputs.values() if isinstance(v, str) and v in prompts]
        prompt = chosen[0] if chosen else max(prompts.values(), default=0)
        calls += len(sizes[planned.dataset.name])
        input_chars += sum(prompt + size for size in sizes[planned.dataset.name])
    for evaluation in evaluations:
        for prompt in _prompts(base / evaluation.evaluator.path):
            # the prompt, the line, and the answer being judged
            prompt_chars = len(prompt.read_text(encoding="utf-8")) + 4 * OUTPUT_TOKENS_PER_CALL
            calls += len(sizes[evaluation.base.dataset.name])
            input_chars += sum(prompt_chars + size for size in sizes[evaluation.base.dataset.name])
    return calls, input_chars // 4, calls * OUTPUT_TOKENS_PER_CALL


def _check_cost(loaded: experiment_file.Experiment, file: Path, max_cost: float | None) -> None:
    """Online: print the run's estimated tokens and cost; refuse to start above `max_cost`."""
    from aiops_platform.monitoring_config import MonitoringConfigError, load_config

    settings = get_settings()
    if settings.provider == "offline":
        return
    calls, input_tokens, output_tokens = estimate_tokens(loaded, file.parent)
    try:
        config = load_config(paths.root(file.parent) / paths.MONITORING_CONFIG)
    except MonitoringConfigError:
        config = None
    model = settings.model
    if config is None or model not in config.prices_per_1k_tokens:
        cost, priced = None, f"no price for {model} in {paths.MONITORING_CONFIG}"
    else:
        cost = config.cost(model, "input", input_tokens) + config.cost(model, "output", output_tokens)
        priced = f"~{cost:.4f} {config.currency}"
    cache = (
        "the cache is ignored: an upper bound"
        if settings.llm_cache == "on"
        else f"LLM_CACHE={settings.llm_cache}"
    )
    tokens = input_tokens + output_tokens
    estimate = line(
        "Estimate: {} model calls to {}, ~{:,} tokens, {} ({})", calls, model, tokens, priced, cache
    )
    console.print(estimate, soft_wrap=True, highlight=False)
    if max_cost is None:
        return
    if cost is None:
        raise fail("--max-cost needs a price: {}; nothing ran", priced, code=2)
    if cost > max_cost:
        raise fail("estimated cost {:.4f} exceeds --max-cost {:g}; nothing ran", cost, max_cost, code=2)


def _release_record(
    declared: experiment_file.Experiment,
    loaded: experiment_file.Experiment,
    file: Path,
    directory: Path,
    gate: bool,
    agreed: Governance | None,
    env: str | None,
) -> release.ReleaseRecord:
    """What produced these results, read back from the files, the data, the settings and results.json."""
    root = paths.root(file.parent)
    results = read_json(directory / "results.json")
    settings = get_settings()
    api_version = settings.azure_openai_api_version if settings.provider == "azure_openai" else None
    return release.ReleaseRecord(
        kind="experiment",
        created=release.now(),
        source=release.source(root),
        files=release.hashed_files(declared, file, root),
        data=release.data_used(declared, loaded, file.parent, root),
        model=release.ModelUsed(**results["model"], api_version=api_version),
        evaluation=release.evaluation(
            declared, results, (directory / "results.json").as_posix(), gate, file, env
        ),
        agreed=agreed,
    )


def _print_gate(verdict: GateReport) -> None:
    if verdict.baseline_note:
        console.print(text(verdict.baseline_note, "yellow"), highlight=False, soft_wrap=True)
    for finding in verdict.failures:
        console.print(line("[red]✗ {}[/]", finding), highlight=False, soft_wrap=True)
    for finding in verdict.regressions:
        if finding not in verdict.failures:
            console.print(line("[yellow]⚠ {}[/]", finding), highlight=False, soft_wrap=True)
    if verdict.passed:
        console.print("[bold green]Gate passed[/]")
    else:
        console.print(line("[bold red]Gate failed:[/] {} finding(s)", len(verdict.failures)))


def _check_entries(loaded: experiment_file.Experiment, file: Path, outcome: str = "") -> None:
    """`validate` and `run` alike: every flow and evaluator entry loads from the project (`load`
    already refused a path outside it) and takes the inputs mapped to it."""
    problems = experiment_file.entry_problems(loaded, file.parent, str(file))
    print_problems(problems)
    if problems:
        raise fail("{} flow/evaluator problem(s) in {}{}", len(problems), file, outcome, code=2)


@app.command("validate")
def validate(file: ExperimentFile = paths.EXPERIMENT, env: EnvironmentOption = None) -> None:
    """Check the file against its schema, every path, every flow and evaluator entry, and the local
    datasets' lines (registered assets are checked where they are read: run, data validate)."""
    loaded = load(file, env)
    _check_entries(loaded, file)
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
    try:
        loaded = experiment_file.select(load(file, env), variant, dataset)
    except experiment_file.ExperimentError as error:
        raise fail(error, code=2) from error
    _check_entries(loaded, file, "; nothing ran")  # what `experiment validate` checks, before any run
    declared, loaded = loaded, with_data(loaded, file)
    problems = validate_experiment_data(loaded, file.parent)  # `file:line:` now, not a traceback later
    if problems:
        print_problems(problems)
        raise fail("{} data problem(s) in the datasets to run; nothing ran", len(problems), code=2)
    try:
        agreed = release.agreed(paths.root(file.parent))  # read now: a broken file stops before the run
    except GovernanceError as error:
        raise fail(error, code=2) from error
    baseline_results = read_json(baseline) if baseline else None
    engine_name = (engine or EngineName(loaded.engine)).value
    try:
        chosen_engine = get_engine(engine_name, paths.root(file.parent))
    except EngineUnavailable as error:  # e.g. engine: promptflow without the promptflow extra
        raise fail(error, code=2) from error
    _check_cost(loaded, file, max_cost)
    started_ns = time.time_ns()  # the run's spans are the ones from here on
    calls_before = llm.CALLS.snapshot()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def start_task(label: str, total: int):
            task = progress.add_task(markup(label), total=total)
            return lambda: progress.advance(task)

        try:
            outcome = run_experiment(
                loaded, file.parent, chosen_engine, engine_name, concurrency or loaded.concurrency, start_task
            )
        except MappingError as error:  # found once the flow has run: its outputs are known then
            raise fail(error, code=2) from error
    prices = paths.root(file.parent) / paths.MONITORING_CONFIG
    results_folder.add_run_stats(outcome, started_ns, paths.trace_dir(), prices)
    outcome.model_calls = asdict(llm.CALLS.since(calls_before))
    outcome.model, outcome.note = llm.model_identity(get_settings()), note
    verdict = check_gate(outcome.to_json(), loaded.gate, baseline_results)
    gated = bool(loaded.gate.thresholds or baseline_results)  # nothing to gate: no verdict shown
    directory = report.write_all(outcome, verdict, gated, output, loaded.gate)
    record = release.write(_release_record(declared, loaded, file, directory, gate, agreed, env), directory)
    system_card.write(record, paths.root(file.parent))
    console.print(*report.metrics_tables(outcome, loaded.gate))
    failed = sum(record.result.failed for record in [*outcome.runs, *outcome.evaluations])
    if failed:
        said = line("[yellow]{} lines failed; see lines.jsonl under {}[/]", failed, directory)
        console.print(said, soft_wrap=True)
    _print_gate(verdict)
    for context in report.context_lines(outcome):
        console.print(text(context), highlight=False, soft_wrap=True)
    written = ("results.json", "summary.md", "report.html", release.RECORD, system_card.CARD)
    for label, name in zip(("Results", "Summary", "Report", "Release", "Card"), written, strict=True):
        console.print(text(f"{label + ':':9}{directory / name}"), soft_wrap=True, highlight=False)
    whole_runs_failed = failed_runs(outcome)
    for message in whole_runs_failed:
        console.print(line("[bold red]✗[/] {}", message), soft_wrap=True, highlight=False)
    if whole_runs_failed or (gate and not verdict.passed):
        raise typer.Exit(1)


@app.command("azureml")
def azureml_specs(
    file: ExperimentFile = paths.EXPERIMENT,
    env: EnvironmentOption = None,
    output: Annotated[Path, typer.Option(help="Folder for the specs")] = paths.AZUREML_SPECS,
) -> None:
    """Write the Azure ML pipeline job (one step per variant x dataset) for this experiment."""
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
    baseline_results = read_json(baseline) if baseline else None
    verdict = check_gate(read_json(results_file), load(file, env).gate, baseline_results)
    _print_gate(verdict)
    if not verdict.passed:
        raise typer.Exit(1)
