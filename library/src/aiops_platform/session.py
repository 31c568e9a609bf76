"""One run of an experiment file, from its checks to its release record: what `aiops experiment run`
does, without the terminal. The CLI shows progress and prints; this module orchestrates.

`prepare` checks everything that can be checked before a model is called (the file, every flow and
evaluator entry, the data, governance.yaml, the engine) and raises `Refused` (one line, and the
problems one per line) when something is wrong: nothing has run then. `estimate` says what an online
run would ask of the model, and `within_budget` refuses a run above `--max-cost`. `run` executes the
plan, then writes results, the report, the gate's verdict, the release record and the system card.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiops_platform import azure_ml, paths, registry
from aiops_platform import experiment as experiment_file
from aiops_platform import results as results_folder
from aiops_platform.data_validation import validate_experiment_data
from aiops_platform.engines import Engine, EngineUnavailable, get_engine
from aiops_platform.gate import GateReport, baseline_problem
from aiops_platform.gate import check as check_gate
from aiops_platform.governance import Governance, GovernanceError
from aiops_platform.jsonl import read_jsonl
from aiops_platform.problems import Problem
from aiops_platform.results import ExperimentResults
from aiops_platform.runner import MappingError, failed_runs, run_experiment
from aiops_platform.settings import get_settings

if TYPE_CHECKING:  # a run's model client, report and records load in `prepare` and `run`: not for validate
    from aiops_platform import release

PROMPT_SUFFIXES = (".jinja2", ".prompty")
OUTPUT_TOKENS_PER_CALL = 200  # the estimate's guess at an answer's length
StartTask = Callable[[str, int], Callable[[], None]]  # (label, lines) -> advance one line


class Refused(RuntimeError):
    """The session stopped before anything ran (or, for a mapping, before anything was written)."""

    def __init__(self, message: str, problems: list[object] | None = None, code: int = 2) -> None:
        super().__init__(message)
        self.problems, self.code = problems or [], code  # code: the exit status a command gives


@dataclass(frozen=True)
class Options:
    engine: str | None = None  # None: the file's
    concurrency: int | None = None  # None: the file's
    output: Path = paths.RESULTS
    env: str | None = None
    gate: bool = False  # a failed gate fails the session (exit 1)
    baseline: Path | None = None
    variants: list[str] | None = None
    datasets: list[str] | None = None
    note: str = ""


@dataclass
class Prepared:
    file: Path
    options: Options
    declared: experiment_file.Experiment  # as the file says (what the release record hashes)
    loaded: experiment_file.Experiment  # registered assets resolved to local copies
    agreed: Governance | None
    engine_name: str
    engine: Engine
    baseline: dict | None

    @property
    def root(self) -> Path:
        return paths.root(self.file.parent)


@dataclass(frozen=True)
class Estimate:
    calls: int
    model: str
    tokens: int
    priced: str  # "~0.0123 EUR", or why there is no price
    cost: float | None
    cache: str  # how the response cache bears on the figure


@dataclass
class Session:
    outcome: ExperimentResults
    verdict: GateReport
    directory: Path
    record_file: Path  # release.json, as release.write wrote it
    failed_lines: int
    failed_runs: list[str] = field(default_factory=list)

    def passed(self, gate: bool) -> bool:
        return not self.failed_runs and (self.verdict.passed or not gate)


def load(file: Path, environment: str | None = None) -> experiment_file.Experiment:
    """The validated experiment (schema and local paths; no registry is asked)."""
    try:
        return experiment_file.load(file, environment)
    except experiment_file.ExperimentError as error:
        raise Refused("invalid experiment", [*error.problems] if error.problems else [error]) from error


def with_data(loaded: experiment_file.Experiment, file: Path) -> experiment_file.Experiment:
    """Registered-asset datasets resolved to local copies through the chosen registry target."""
    if not any(dataset.is_asset for dataset in loaded.datasets):
        return loaded
    target = registry.target(get_settings().registry_target, paths.root(file.parent))
    try:
        return experiment_file.resolve_assets(loaded, target, str(file))
    except experiment_file.ExperimentError as error:
        raise Refused("invalid experiment", [*error.problems] if error.problems else [error]) from error
    except azure_ml.AzureUnavailable as error:
        raise Refused(str(error), code=1) from error


def entry_problems(loaded: experiment_file.Experiment, file: Path, outcome: str = "") -> None:
    """`validate` and `run` alike: every flow and evaluator entry loads from the project (`load`
    already refused a path outside it) and takes the inputs mapped to it."""
    problems = experiment_file.entry_problems(loaded, file.parent, str(file))
    if problems:
        raise Refused(f"{len(problems)} flow/evaluator problem(s) in {file}{outcome}", list(problems))


def prepare(file: Path, options: Options) -> Prepared:
    """Everything checked that can be before a model is called; Refused when something is wrong."""
    try:
        selected = experiment_file.select(load(file, options.env), options.variants, options.datasets)
    except experiment_file.ExperimentError as error:
        raise Refused(str(error)) from error
    entry_problems(selected, file, "; nothing ran")  # what `experiment validate` checks, before any run
    loaded = with_data(selected, file)
    problems: list[Problem] = validate_experiment_data(loaded, file.parent)
    if problems:
        raise Refused(f"{len(problems)} data problem(s) in the datasets to run; nothing ran", list(problems))
    from aiops_platform import release

    try:
        agreed = release.agreed(paths.root(file.parent))  # read now: a broken file stops before the run
    except GovernanceError as error:
        raise Refused(str(error)) from error
    baseline = _read_baseline(options.baseline) if options.baseline else None
    engine_name = options.engine or loaded.engine
    try:
        engine = get_engine(engine_name, paths.root(file.parent))
    except EngineUnavailable as error:  # e.g. engine: promptflow without the promptflow extra
        raise Refused(str(error)) from error
    return Prepared(file, options, selected, loaded, agreed, engine_name, engine, baseline)


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
        for prompt_file in _prompts(base / evaluation.evaluator.path):
            # the prompt, the line, and the answer being judged
            prompt_chars = len(prompt_file.read_text(encoding="utf-8")) + 4 * OUTPUT_TOKENS_PER_CALL
            calls += len(sizes[evaluation.base.dataset.name])
            input_chars += sum(prompt_chars + size for size in sizes[evaluation.base.dataset.name])
    return calls, input_chars // 4, calls * OUTPUT_TOKENS_PER_CALL


def estimate(prepared: Prepared) -> Estimate | None:
    """What an online run asks of the model and what it costs at monitoring/config.yaml's prices;
    None offline (the offline model is not billed)."""
    from aiops_platform.monitoring_config import MonitoringConfigError, load_config

    settings = get_settings()
    if settings.provider == "offline":
        return None
    calls, input_tokens, output_tokens = estimate_tokens(prepared.loaded, prepared.file.parent)
    try:
        config = load_config(prepared.root / paths.MONITORING_CONFIG)
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
    return Estimate(calls, model, input_tokens + output_tokens, priced, cost, cache)


def within_budget(estimated: Estimate | None, max_cost: float | None) -> None:
    """Refused when an online run's estimated cost exceeds `max_cost`, or cannot be priced."""
    if estimated is None or max_cost is None:
        return
    if estimated.cost is None:
        raise Refused(f"--max-cost needs a price: {estimated.priced}; nothing ran")
    if estimated.cost > max_cost:
        raise Refused(f"estimated cost {estimated.cost:.4f} exceeds --max-cost {max_cost:g}; nothing ran")


def run(prepared: Prepared, start_task: StartTask) -> Session:
    """Run the plan, then write results.json, summary.md, report.html, release.json and the card."""
    from aiops_platform import llm, release, report, system_card

    options, loaded = prepared.options, prepared.loaded
    started_ns = time.time_ns()  # the run's spans are the ones from here on
    calls_before = llm.CALLS.snapshot()
    concurrency = options.concurrency or loaded.concurrency
    try:
        outcome = run_experiment(
            loaded, prepared.file.parent, prepared.engine, prepared.engine_name, concurrency, start_task
        )
    except MappingError as error:  # found once the flow has run: its outputs are known then
        raise Refused(str(error)) from error
    outcome.model_calls = asdict(llm.CALLS.since(calls_before))
    outcome.model, outcome.note = llm.model_identity(get_settings()), options.note
    results_folder.add_run_stats(  # after the model is known: an offline run is priced as the paid one
        outcome, started_ns, paths.trace_dir(), prepared.root / paths.MONITORING_CONFIG
    )
    verdict = check_gate(outcome.to_json(), loaded.gate, prepared.baseline)
    # nothing to gate: no verdict shown
    gated = bool(loaded.gate.thresholds or loaded.gate.maximums or prepared.baseline)
    directory = report.write_all(outcome, verdict, gated, options.output, loaded.gate)
    record_file = release.write(_release_record(prepared, directory), directory)
    system_card.write(record_file, prepared.root)
    failed = sum(record.result.failed for record in outcome.runs) + sum(
        evaluation.result.failed for evaluation in outcome.evaluations
    )
    return Session(outcome, verdict, directory, record_file, failed, failed_runs(outcome))


def _release_record(prepared: Prepared, directory: Path) -> release.ReleaseRecord:
    """What produced these results, read back from the files, the data, the settings and results.json."""
    from aiops_platform import release

    file, root = prepared.file, prepared.root
    results = _read_json(directory / "results.json")
    settings = get_settings()
    api_version = settings.azure_openai_api_version if settings.provider == "azure_openai" else None
    evaluation = release.evaluation(
        prepared.declared, results, (directory / "results.json").as_posix(), prepared.options.gate, file,
        prepared.options.env,
    )  # fmt: skip
    return release.ReleaseRecord(
        kind="experiment",
        created=release.now(),
        source=release.source(root),
        files=release.hashed_files(prepared.declared, file, root),
        data=release.data_used(prepared.declared, prepared.loaded, file.parent, root),
        model=release.ModelUsed(**results["model"], api_version=api_version),
        evaluation=evaluation,
        agreed=prepared.agreed,
    )


def _read_baseline(path: Path) -> dict:
    """Checked before the run: a baseline the gate cannot compare against stops it in one line."""
    baseline = _read_json(path)
    if problem := baseline_problem(baseline):
        raise Refused(f"baseline {path}: {problem}; the gate cannot compare against it", code=1)
    return baseline


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise Refused(f"cannot read results file {path}: {error}", code=1) from error
