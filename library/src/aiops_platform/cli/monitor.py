"""`monitor`: the trace store's summaries and samples, online evaluation, alert parameters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from aiops_platform.cli._common import TargetOption, chosen_target, console, fail
from aiops_platform.paths import (
    ALERT_PARAMETERS,
    MONITORING_CONFIG,
    ONLINE_SCORES,
    SAMPLE_NAME,
    root,
    trace_dir,
)
from aiops_platform.terminal import FittedTable, line, text

if TYPE_CHECKING:  # the trace reader, the registry and the judges load where a command uses them
    from aiops_platform import monitoring_config

app = typer.Typer(no_args_is_help=True, help="Read the trace store: summaries and samples.")

MonitoringConfigOption = Annotated[Path, typer.Option(help="Prices and thresholds")]


def _monitoring_config(path: Path) -> monitoring_config.MonitoringConfig:
    from aiops_platform import monitoring_config

    try:
        return monitoring_config.load_config(path)
    except monitoring_config.MonitoringConfigError as error:
        raise fail(error, code=2) from error


def _spans(sources: list[Path]) -> list[dict]:
    from aiops_platform import monitor

    def warn(message: str) -> None:
        console.print(line("[yellow]warning: {}[/]", message), highlight=False, soft_wrap=True)

    try:
        return monitor.read_spans(sources, on_skipped=warn)
    except monitor.TraceReadError as error:
        raise fail(error, code=2) from error


@app.command("summary")
def monitor_summary(
    paths: Annotated[list[Path] | None, typer.Argument(help="Span files/folders; default: the store")] = None,
    config: MonitoringConfigOption = MONITORING_CONFIG,
) -> None:
    """Requests, p50/p95 latency, errors, tokens and estimated cost per flow and variant; an agent's
    tool calls, errors and p50/p95 latency per tool."""
    from aiops_platform import monitor

    settings = _monitoring_config(config)
    sources = paths or [trace_dir()]
    spans = _spans(sources)
    summaries = monitor.summarise(spans, settings)
    if not summaries:
        where = ", ".join(map(str, sources))
        raise fail("no traces in {}: run the flow first (make experiment, make serve)", where)
    title = "Traced requests by flow (or evaluator) and variant"
    caption = line("cost: an estimate, at the per-model prices in {}", config)
    headers = ["flow", "variant", "requests", "errors", "p50 ms", "p95 ms", "tokens in", "tokens out"]
    rows = []
    for row in summaries:  # names and counts from the traces: any process may have written them
        cells = (
            row.flow,
            row.variant,
            row.requests,
            f"{row.errors} ({100 * row.error_rate:.0f} %)",
            f"{row.p50_ms:.1f}",
            f"{row.p95_ms:.1f}",
            row.input_tokens,
            row.output_tokens,
            f"{row.cost:.4f}",
        )
        rows.append(list(map(text, cells)))
    # columns that do not fit the terminal go on in a table of their own, every value whole
    headers.append(f"cost {settings.currency}")
    console.print(FittedTable(title, headers, rows, keep=2, caption=caption))
    tools = monitor.tool_summaries(spans)
    if tools:  # only an agent's traces have tool calls: other projects' output stays as it was
        tool_rows = []
        for tool in tools:  # tool names from the traces, as any process wrote them
            error_share = f"{tool.errors} ({100 * tool.errors / tool.calls:.0f} %)"
            tool_cells = (tool.tool, tool.calls, error_share, f"{tool.p50_ms:.1f}", f"{tool.p95_ms:.1f}")
            tool_rows.append(list(map(text, tool_cells)))
        tool_headers = ["tool", "calls", "errors", "p50 ms", "p95 ms"]
        console.print(FittedTable("Tool calls by tool", tool_headers, tool_rows, keep=1))


@app.command("sample")
def monitor_sample(
    paths: Annotated[list[Path] | None, typer.Argument(help="Span files/folders, AI exports")] = None,
    size: Annotated[int, typer.Option(min=1, help="Requests to sample")] = 50,
    seed: Annotated[int, typer.Option(help="Same traces and seed, same sample")] = 0,
    name: Annotated[str, typer.Option(help="Sample name: asset <use case>_<name>")] = SAMPLE_NAME,
    output: Annotated[
        Path | None,
        typer.Option(help="The .jsonl to write; default .aiops/samples/<name>.jsonl. data/... to commit it"),
    ] = None,
    target: TargetOption = None,
) -> None:
    """Sample served requests (ground truth empty) into local state and register a new version.

    The lines are real user requests: they stay out of git unless --output puts them under data/.
    """
    from aiops_platform import azure_ml, monitor, registry

    sources = paths or [trace_dir()]
    lines = monitor.sample(_spans(sources), size, seed)
    if not lines:
        raise fail("no successful requests with recorded inputs in {}", ", ".join(map(str, sources)))
    chosen, project = chosen_target(target), root()
    data = output.resolve() if output else project / monitor.SAMPLES / f"{name}.jsonl"
    if not data.is_relative_to(project):
        raise fail(
            "--output {}: must be inside the project ({}), where it is registered from", output, project
        )
    try:
        spec = registry.load_spec(monitor.write_sample(lines, data, name))
        (outcome,) = registry.register_all([spec], registry.target(chosen.value, project))
    except (monitor.SampleError, registry.RegistryError, azure_ml.AzureUnavailable) as error:
        raise fail(error) from error
    status = "new version" if outcome.created else "unchanged"
    asset = f"azureml:{outcome.asset.name}:{outcome.asset.version}"
    where = data.relative_to(project)
    sampled = line(
        "[green]Sampled[/] {} requests into {}: {} ({}, {})", len(lines), where, asset, status, chosen.value
    )
    console.print(sampled, highlight=False)


@app.command("evaluate")
def monitor_evaluate(
    dataset: Annotated[
        str | None,
        typer.Argument(help="A .jsonl file or azureml:<name>:<version>; default: the latest sample"),
    ] = None,
    output: Annotated[Path, typer.Option(help="Scores file")] = ONLINE_SCORES,
    target: TargetOption = None,
) -> None:
    """Judge sampled production answers (no ground truth needed) and emit the scores as telemetry."""
    from aiops_platform import azure_ml, monitor, registry

    label = reference = dataset or monitor.latest_sample()
    if registry.is_asset_reference(reference):
        chosen, project = chosen_target(target), root()
        try:
            path = registry.target(chosen.value, project).resolve(reference)
            label = f"{reference} ({path.relative_to(project) if path.is_relative_to(project) else path})"
        except registry.RegistryError as error:
            if dataset is None:  # the default: say what makes one
                missing = "no production sample in the {} registry yet: run `make sample` first"
                raise fail(missing, chosen.value) from error
            raise fail(error) from error
        except azure_ml.AzureUnavailable as error:
            raise fail(error) from error
    else:
        path = Path(reference)
        if not path.is_file():
            raise fail("{}: no such file", path, code=2)
    try:
        scores = monitor.evaluate_online(path, label=label)
    except monitor.OnlineEvaluationError as error:
        raise fail(error) from error
    monitor.save_scores(scores, output)
    console.print(line("Judged {}", label), highlight=False, soft_wrap=True)
    title = line("online evaluation: {} lines scored, {} not", scores.lines, scores.unscored)
    table = Table("metric", "mean (1-5)", box=box.SIMPLE_HEAD, title=title)
    for metric, value in scores.scores.items():
        table.add_row(text(metric), text(f"{value:.2f}"))
    console.print(table)


@app.command("query")
def monitor_query() -> None:
    """Print the KQL that exports flow and model-call spans from App Insights (for `monitor sample`)."""
    from aiops_platform import monitor

    print(monitor.APP_INSIGHTS_QUERY)


@app.command("alert-params")
def monitor_alert_params(
    config: MonitoringConfigOption = MONITORING_CONFIG,
    output: Annotated[Path, typer.Option(help="ARM parameters file")] = ALERT_PARAMETERS,
) -> None:
    """Write the alert rules' parameters file from monitoring/config.yaml (thresholds live only there)."""
    from aiops_platform import monitoring_config

    settings = _monitoring_config(config)
    output.write_text(monitoring_config.arm_parameters(settings), encoding="utf-8")
    console.print(line("[green]Wrote[/] {}", output))
