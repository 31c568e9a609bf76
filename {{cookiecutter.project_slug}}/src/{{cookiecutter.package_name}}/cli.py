{#- Answers reach Python only as jsonify literals. A line the answer pushes past ruff's 110 columns, or a
    literal ruff would re-quote (it holds an escaped \"), is left to the author: # fmt: skip (and noqa: E501). #}
{%- macro fit(line) %}{{ line }}{{ '  # fmt: skip  # noqa: E501' if line | length > 110 else ('  # fmt: skip' if '\\"' in line else '') }}{% endmacro -%}
"""Command line: thin wrappers that parse, call one module, and print."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from {{ cookiecutter.package_name }} import (
    azure_ml,
    connections,
    data_validation,
    monitor,
    monitoring_config,
    registry,
    report,
    results,
{%- if cookiecutter.flow_kind == 'rag' %}
    retrieval,
{%- endif %}
    scaleout,
    serving,
    tracing,
)
from {{ cookiecutter.package_name }} import experiment as experiment_file
from {{ cookiecutter.package_name }}.engines import get_engine
from {{ cookiecutter.package_name }}.engines.inprocess import load_entry
from {{ cookiecutter.package_name }}.gate import GateReport
from {{ cookiecutter.package_name }}.gate import check as check_gate
from {{ cookiecutter.package_name }}.llm import ConfigError, ModelCallError
from {{ cookiecutter.package_name }}.runner import entry_problems, run_experiment
from {{ cookiecutter.package_name }}.settings import CONFIGURED_AZURE_OPENAI_ENDPOINT, get_settings

{# escape(): the name is shown as it is, never read as Rich markup (a '[beta]' would vanish). -#}
{{ fit('app = typer.Typer(no_args_is_help=True, help=escape(' ~ ((cookiecutter.project_name ~ ' AIOps commands.') | jsonify) ~ '))') }}
experiment_app = typer.Typer(no_args_is_help=True, help="Run and validate experiment.yaml.")
app.add_typer(experiment_app, name="experiment")
data_app = typer.Typer(no_args_is_help=True, help="Validate and list datasets.")
app.add_typer(data_app, name="data")
register_app = typer.Typer(help="Register data assets and connections (local by default).")
app.add_typer(register_app, name="register")
monitor_app = typer.Typer(no_args_is_help=True, help="Read the trace store: summaries and samples.")
app.add_typer(monitor_app, name="monitor")
# Absolute, so Prompt Flow's worker processes and server (which inherit it) trace to the same store.
os.environ.setdefault("AIOPS_TRACE_DIR", str(Path.cwd() / ".aiops" / "traces"))
# Logs (CI, pipes) get room for the metric tables; a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() else 120)

ExperimentFile = Annotated[Path, typer.Option("--file", "-f", help="Experiment file")]


class RegistryTarget(StrEnum):
    local = "local"
    azureml = "azureml"


TargetOption = Annotated[
    RegistryTarget | None, typer.Option("--target", help="local (default) or azureml; env REGISTRY_TARGET")
]


class EngineName(StrEnum):
    inprocess = "inprocess"
    promptflow = "promptflow"


EnvironmentOption = Annotated[
    str | None,
    typer.Option("--env", help="Merge experiment.<env>.yaml (pr, dev, test, prod) over the base file"),
]
BaselineOption = Annotated[
    Path | None, typer.Option(help="A results.json to compare against (e.g. from main): deltas, regressions")
]


def _load(path: Path, environment: str | None = None) -> experiment_file.Experiment:
    try:
        return experiment_file.load(path, environment)
    except experiment_file.ExperimentError as error:
        raise _fail(f"invalid experiment\n{error}", code=2) from error


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise _fail(f"cannot read results file {path}: {error}") from error


def _print_gate(verdict: GateReport) -> None:
    for finding in verdict.failures:
        console.print(f"[red]✗ {finding}[/]", highlight=False, soft_wrap=True)
    for finding in verdict.regressions:
        if finding not in verdict.failures:
            console.print(f"[yellow]⚠ {finding}[/]", highlight=False, soft_wrap=True)
    if verdict.passed:
        console.print("[bold green]Gate passed[/]")
    else:
        console.print(f"[bold red]Gate failed:[/] {len(verdict.failures)} finding(s)")


@experiment_app.command("validate")
def validate(file: ExperimentFile = Path("experiment.yaml"), env: EnvironmentOption = None) -> None:
    """Check the file against its schema, every path, and every flow and evaluator entry."""
    loaded = _load(file, env)
    problems = entry_problems(loaded, file.parent)
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise _fail(f"{len(problems)} flow/evaluator problem(s) in {file}", code=2)
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
    env: EnvironmentOption = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a threshold or regression fails")] = False,
    baseline: BaselineOption = None,
    variant: Annotated[list[str] | None, typer.Option(help="Only this variant (repeatable)")] = None,
    dataset: Annotated[list[str] | None, typer.Option(help="Only this dataset (repeatable)")] = None,
) -> None:
    """Run every flow variant on every dataset, evaluate each run, save JSON, markdown and HTML."""
    try:
        loaded = experiment_file.select(_load(file, env), variant, dataset)
    except experiment_file.ExperimentError as error:
        raise _fail(error, code=2) from error
    baseline_results = _read_json(baseline) if baseline else None
    engine_name = (engine or EngineName(loaded.engine)).value
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def start_task(label: str, total: int):
            task = progress.add_task(escape(label), total=total)
            return lambda: progress.advance(task)

        outcome = run_experiment(
            loaded,
            file.parent,
            get_engine(engine_name, file.parent.resolve()),
            engine_name,
            concurrency or loaded.concurrency,
            start_task,
        )
    verdict = check_gate(outcome.to_json(), loaded.gate, baseline_results)
    shown = verdict if loaded.gate.thresholds or baseline_results else None  # nothing to gate: no verdict
    directory = results.new_results_dir(output)
    reports = {
        "summary.md": report.markdown(outcome, shown),
        "report.html": report.html(outcome, outcome.rows, shown),
    }
    extra = {"gate": {"passed": verdict.passed, "failures": [str(f) for f in verdict.failures]}}
    results.save(outcome, directory, reports, extra)
    console.print(*report.metrics_tables(outcome))
    failed = sum(record.result.failed for record in [*outcome.runs, *outcome.evaluations])
    if failed:
        console.print(f"[yellow]{failed} lines failed; see lines.jsonl under {directory}[/]", soft_wrap=True)
    _print_gate(verdict)
    for label, name in (("Results", "results.json"), ("Summary", "summary.md"), ("Report", "report.html")):
        console.print(f"{label + ':':9}{directory / name}", soft_wrap=True, highlight=False)
    if gate and not verdict.passed:
        raise typer.Exit(1)


@experiment_app.command("azureml")
def azureml_specs(
    file: ExperimentFile = Path("experiment.yaml"),
    env: EnvironmentOption = None,
    output: Annotated[Path, typer.Option(help="Folder for the specs")] = Path("azureml"),
) -> None:
    """Write the Azure ML pipeline job (one step per variant x dataset) for this experiment."""
    settings = get_settings()
    endpoint = settings.azure_openai_endpoint or CONFIGURED_AZURE_OPENAI_ENDPOINT
    root = file.parent.resolve()
    written = scaleout.write_specs(_load(file, env), root, output, env, settings.azure_ml_compute, endpoint)
    console.print(f"[green]Wrote[/] {', '.join(str(path) for path in written)}", soft_wrap=True)
    console.print(f"Submit with: az ml job create -f {output / 'experiment.pipeline.yml'}", soft_wrap=True)


@experiment_app.command("gate")
def gate_saved(
    results_file: Annotated[Path, typer.Argument(help="A saved results.json")],
    file: ExperimentFile = Path("experiment.yaml"),
    env: EnvironmentOption = None,
    baseline: BaselineOption = None,
) -> None:
    """Gate saved results against the experiment's thresholds (and a baseline) without re-running."""
    verdict = check_gate(
        _read_json(results_file), _load(file, env).gate, _read_json(baseline) if baseline else None
    )
    _print_gate(verdict)
    if not verdict.passed:
        raise typer.Exit(1)


def _fail(message: object, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]Error[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@data_app.command("validate")
def data_validate(file: ExperimentFile = Path("experiment.yaml")) -> None:
    """Check every dataset line: JSON, the columns the mappings need, and non-empty unique ids."""
    loaded = _load(file)
    problems = data_validation.validate_experiment_data(loaded, file.parent)
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise _fail(f"{len(problems)} problem(s) in the datasets of {file}")
    console.print(f"[green]OK[/] {len(loaded.datasets)} datasets valid")


@data_app.command("list")
def data_list(root: Annotated[Path, typer.Option(help="Project folder")] = Path(".")) -> None:
    """Every version in the local data-asset registry."""
    table = Table("name", "version", "sha256", "path", "registered", box=box.SIMPLE_HEAD)
    for name, versions in registry.LocalRegistry(root).versions().items():
        for version in versions:
            table.add_row(name, version.version, version.sha256[:12], version.path, version.registered_at)
    console.print(table)


def _target(option: RegistryTarget | None) -> RegistryTarget:
    return option or RegistryTarget(get_settings().registry_target)


@register_app.callback(invoke_without_command=True)
def register_everything(ctx: typer.Context, target: TargetOption = None) -> None:
    """With no sub-command: data assets, then connections."""
    if ctx.invoked_subcommand is None:
        register_data(target=target)
        register_connections(target=target)


def _data_registry(target: RegistryTarget, root: Path) -> registry.Target:
    if target is RegistryTarget.local:
        return registry.LocalRegistry(root)
    return registry.AzureMLRegistry(azure_ml.workspace_client(get_settings()))


@register_app.command("data")
def register_data(
    target: TargetOption = None, file: ExperimentFile = Path("experiment.yaml"), data_dir: Path = Path("data")
) -> None:
    """Register each data/*.yml asset; a new version only when its content changed."""
    chosen = _target(target)
    try:
        specs = registry.load_specs(data_dir)
        problems = data_validation.validate_experiment_data(_load(file), file.parent)
        problems += [
            p for spec in specs if spec.path.is_file() for p in data_validation.validate_jsonl(spec.path)
        ]
        if problems:
            raise registry.RegistryError(
                "nothing registered; fix these first:\n" + "\n".join(sorted({str(p) for p in problems}))
            )
        outcomes = registry.register_all(specs, _data_registry(chosen, file.parent.resolve()))
    except (registry.RegistryError, azure_ml.AzureUnavailable) as error:
        raise _fail(error) from error
    table = Table(
        "asset", "version", "sha256", "status", title=f"data assets ({chosen.value})", box=box.SIMPLE_HEAD
    )
    for outcome in outcomes:
        status = "[green]new version[/]" if outcome.created else "unchanged"
        table.add_row(outcome.asset.name, outcome.asset.version, outcome.asset.sha256[:12], status)
    console.print(table)


@register_app.command("connections")
def register_connections(target: TargetOption = None, folder: Path = Path("connections")) -> None:
    """Create or update each connections/*.yaml in Prompt Flow's local store or the workspace."""
    chosen = _target(target)
    try:
        specs = connections.load_specs(folder)
        if chosen is RegistryTarget.local:
            names = connections.register_local(specs, folder.resolve().parent / ".promptflow")
        else:
            names = connections.register_azureml(specs, azure_ml.workspace_client(get_settings()))
    except (connections.ConnectionSpecError, azure_ml.AzureUnavailable) as error:
        raise _fail(error) from error
    console.print(f"[green]Registered connections ({chosen.value}):[/] {', '.join(names)}")


MonitoringConfigOption = Annotated[Path, typer.Option(help="Prices and thresholds")]


def _monitoring_config(path: Path) -> monitoring_config.MonitoringConfig:
    try:
        return monitoring_config.load_config(path)
    except monitoring_config.MonitoringConfigError as error:
        raise _fail(error, code=2) from error


def _spans(sources: list[Path]) -> list[dict]:
    try:
        return monitor.read_spans(sources)
    except monitor.TraceReadError as error:
        raise _fail(error, code=2) from error


@monitor_app.command("summary")
def monitor_summary(
    paths: Annotated[list[Path] | None, typer.Argument(help="Span files/folders; default: the store")] = None,
    config: MonitoringConfigOption = monitoring_config.CONFIG_FILE,
) -> None:
    """Requests, p50/p95 latency, errors, tokens and estimated cost per flow and variant."""
    settings = _monitoring_config(config)
    sources = paths or [Path(os.environ["AIOPS_TRACE_DIR"])]
    summaries = monitor.summarise(_spans(sources), settings)
    if not summaries:
        where = ", ".join(map(str, sources))
        raise _fail(f"no traces in {where}: run the flow first (make experiment, make serve)")
    title = "Traced requests by flow (or evaluator) and variant"
    caption = f"cost: an estimate, at the per-model prices in {config}"
    table = Table(box=box.SIMPLE_HEAD, title=title, caption=caption)
    for heading in ("flow", "variant", "requests", "errors", "p50 ms", "p95 ms", "tokens in", "tokens out"):
        table.add_column(heading, justify="left" if heading in ("flow", "variant") else "right")
    table.add_column(f"cost {settings.currency}", justify="right")
    for row in summaries:
        table.add_row(
            row.flow,
            row.variant,
            str(row.requests),
            f"{row.errors} ({100 * row.error_rate:.0f} %)",
            f"{row.p50_ms:.1f}",
            f"{row.p95_ms:.1f}",
            str(row.input_tokens),
            str(row.output_tokens),
            f"{row.cost:.4f}",
        )
    console.print(table)


@monitor_app.command("sample")
def monitor_sample(
    paths: Annotated[list[Path] | None, typer.Argument(help="Span files/folders, AI exports")] = None,
    size: Annotated[int, typer.Option(min=1, help="Requests to sample")] = 50,
    seed: Annotated[int, typer.Option(help="Same traces and seed, same sample")] = 0,
    name: Annotated[str, typer.Option(help="Dataset name under data/")] = "production_samples",
    target: TargetOption = None,
) -> None:
    """Sample served requests into data/<name>.jsonl (ground truth empty) and register a new version."""
    sources = paths or [Path(os.environ["AIOPS_TRACE_DIR"])]
    lines = monitor.sample(_spans(sources), size, seed)
    if not lines:
        raise _fail(f"no successful requests with recorded inputs in {', '.join(map(str, sources))}")
    data = Path("data") / f"{name}.jsonl"
    labelled = monitor.labelled_lines(data)
    if labelled:
        raise _fail(f"{data} has {labelled} labelled lines; keep them and sample into another --name")
    data.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    spec_file = data.with_suffix(".yml")
    if not spec_file.exists():
        asset = {{ (cookiecutter.use_case_code | lower ~ '_') | jsonify }} + name
        spec_file.write_text(  # JSON strings are YAML strings: no name reads as a number or boolean
            "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
            f"name: {json.dumps(asset)}\ntype: uri_file\npath: {json.dumps(data.name)}\n"
            'description: "Sampled production requests; fill in ground_truth to use them for regression."\n',
            encoding="utf-8",
        )
    chosen = _target(target)
    try:
        problems = data_validation.validate_jsonl(data, {"question", "answer", "ground_truth"})
        if problems:
            raise registry.RegistryError("\n".join(map(str, problems)))
        (spec,) = [spec for spec in registry.load_specs(data.parent) if spec.spec_file == spec_file]
        (outcome,) = registry.register_all([spec], _data_registry(chosen, Path.cwd()))
    except (registry.RegistryError, azure_ml.AzureUnavailable) as error:
        raise _fail(error) from error
    status = "new version" if outcome.created else "unchanged"
    console.print(
        f"[green]Sampled[/] {len(lines)} requests into {data}: "
        f"azureml:{outcome.asset.name}:{outcome.asset.version} ({status}, {chosen.value})"
    )


@monitor_app.command("evaluate")
def monitor_evaluate(
    dataset: Annotated[Path, typer.Argument(help="Sampled requests (monitor sample)")],
    output: Annotated[Path, typer.Option(help="Scores file")] = Path("results/online/scores.json"),
) -> None:
    """Judge sampled production answers (no ground truth needed) and emit the scores as telemetry."""
    judges = load_entry(Path("flows/eval_judges"))
    judges.judges = monitor.ONLINE_METRICS  # similarity needs a ground truth, which production lacks
    rows = [json.loads(line) for line in dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    scored, unscored = [], 0
    for row in rows:
        try:
            scored.append(judges(row["question"], row["answer"], row.get("context", ""), ""))
        except (ConfigError, ModelCallError) as error:  # the model itself is unusable: stop
            raise _fail(error) from error
        except (KeyError, ValueError):  # a missing field or a reply that is not a 1-5 score
            unscored += 1
    if not scored:
        raise _fail(f"{dataset}: no line could be scored ({unscored} failed)")
    means = monitor.mean_scores(scored)
    tracing.record_online_scores(means, len(scored), dataset.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {"dataset": str(dataset), "lines": len(scored), "unscored": unscored, "scores": means}
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    title = f"online evaluation: {len(scored)} lines scored, {unscored} not"
    table = Table("metric", "mean (1-5)", box=box.SIMPLE_HEAD, title=title)
    for metric, value in means.items():
        table.add_row(metric, f"{value:.2f}")
    console.print(table)


@monitor_app.command("query")
def monitor_query() -> None:
    """Print the KQL that exports flow and model-call spans from App Insights (for `monitor sample`)."""
    print(monitor.APP_INSIGHTS_QUERY)


@monitor_app.command("alert-params")
def monitor_alert_params(
    config: MonitoringConfigOption = monitoring_config.CONFIG_FILE,
    output: Annotated[Path, typer.Option(help="ARM parameters file")] = monitoring_config.PARAMETERS_FILE,
) -> None:
    """Write the alert rules' parameters file from monitoring/config.yaml (thresholds live only there)."""
    settings = _monitoring_config(config)
    output.write_text(monitoring_config.arm_parameters(settings), encoding="utf-8")
    console.print(f"[green]Wrote[/] {output}")
{%- if cookiecutter.flow_kind == 'rag' %}


@app.command("index")
def build_index() -> None:
    """Chunk data/docs and build the retrieval index in .aiops/index (BM25, or embeddings if configured)."""
    try:
        manifest = retrieval.build(Path.cwd())
    except (retrieval.IndexNotReady, ConfigError, ModelCallError) as error:
        raise _fail(error) from error
    console.print(
        f"[green]Indexed[/] {manifest['chunks']} chunks from {manifest['documents']} documents "
        f"({manifest['retriever']}) into {retrieval.INDEX / str(manifest['key'])}"
    )
{%- endif %}


def _input_value(value: str) -> object:
    """A JSON list or object (e.g. chat_history) as such; anything else as the string given."""
    if value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise _fail(f"--input value is not valid JSON: {error}", code=2) from error
    return value


@app.command("run")
def run_once(
    inputs: Annotated[
        list[str],
        typer.Option("--input", "-i", help="name=value, repeatable; JSON lists and objects are parsed"),
    ],
    flow: Annotated[Path, typer.Option(help="Flow folder")] = Path({{ ('flows/' ~ cookiecutter.flow_kind) | jsonify }}),
) -> None:
    """Run the flow once on one input and print its output as JSON."""
    pairs = [item.partition("=") for item in inputs]
    if any(not separator for _, separator, _ in pairs):
        raise _fail("each --input must be name=value", code=2)
    try:
        output = load_entry(flow)(**{name: _input_value(value) for name, _, value in pairs})
    except (ConfigError, ModelCallError) as error:
        raise _fail(error) from error
    console.print_json(json.dumps(output))


@app.command("serve")
def serve_flow(
    flow: Annotated[Path, typer.Option(help="Flow folder")] = Path({{ ('flows/' ~ cookiecutter.flow_kind) | jsonify }}),
    host: str = "127.0.0.1",
    port: int = 8080,
) -> None:
    """Serve the flow locally over HTTP (Prompt Flow's server): GET /health, POST /score."""
    serving.serve(flow, host, port, flow.resolve().parents[1] / ".promptflow")


@app.command("smoke")
def smoke(
    url: Annotated[str, typer.Argument(help="Base URL, e.g. http://127.0.0.1:8080 or the endpoint's")],
    request: Annotated[Path, typer.Option(help="Sample request")] = Path("deployment/sample_request.json"),
    timeout: Annotated[float, typer.Option(help="Seconds before giving up")] = 30.0,
    entra: Annotated[bool, typer.Option(help="Send an Entra ID token (aad_token endpoints)")] = False,
) -> None:
    """POST the sample request to URL/score and fail unless a non-empty answer comes back."""
    try:
        answer = serving.smoke_test(url, request, timeout, serving.entra_headers() if entra else {})
    except serving.SmokeTestFailed as error:
        raise _fail(f"smoke test failed: {error}") from error
    console.print(f"[green]Smoke test passed[/]: {answer}", highlight=False, soft_wrap=True)
{%- if cookiecutter.deployment_target == 'aml_online_endpoint' %}


deploy_app = typer.Typer(no_args_is_help=True, help="Blue/green deployment to the Azure ML online endpoint.")
app.add_typer(deploy_app, name="deploy")


@deploy_app.command("aml")
def deploy_aml(
    request: Annotated[Path, typer.Option(help="Sample request")] = Path("deployment/sample_request.json"),
) -> None:
    """New colour at 0%, smoke test, then all traffic; the old colour stays for rollback."""
    from {{ cookiecutter.package_name }} import deploy

    client = azure_ml.workspace_client(get_settings())
    endpoint = deploy.load_specs(Path("."), "blue")[0].name
    try:
        deploy.blue_green(client, Path("."), deploy.endpoint_smoke(client, endpoint, request), console.print)
    except (deploy.DeploymentError, azure_ml.AzureUnavailable) as error:
        raise _fail(f"deployment stopped, live traffic unchanged: {error}") from error


@deploy_app.command("rollback")
def deploy_rollback() -> None:
    """Send all traffic back to the previous colour."""
    from {{ cookiecutter.package_name }} import deploy

    client = azure_ml.workspace_client(get_settings())
    endpoint, _ = deploy.load_specs(Path("."), "blue")
    try:
        with azure_ml.azure_errors(f"roll back endpoint {endpoint.name}", then="run the rollback again"):
            traffic = dict(client.online_endpoints.get(endpoint.name).traffic or {})
            target = deploy.rollback_target(traffic)
            endpoint.traffic = deploy.switched(traffic, target)
            client.online_endpoints.begin_create_or_update(endpoint).result()
    except (deploy.DeploymentError, azure_ml.AzureUnavailable) as error:
        raise _fail(error) from error
    console.print(f"[green]Rolled back:[/] {target} takes all traffic")
{%- endif %}
