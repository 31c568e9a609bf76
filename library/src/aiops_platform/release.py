"""Release records: which code, prompts, data and model produced a run or a deployment, and how it
was judged. One JSON file an auditor can read ("which version answered, how was it tested, who
approved it?"), validated by `release.schema.json`, written next to every experiment's results and
by every deployment, and compared with `release diff`.

Everything in a record is read from what ran: file hashes from the files, data hashes from the
data, the model from the settings, metrics and the gate verdict from the results. Nothing is typed
in by hand, and a deployment believes none of it unchecked (`gated_record`).
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops_platform import approvals, governance, paths, registry
from aiops_platform.approvals import Approval
from aiops_platform.experiment import Experiment, ExperimentError
from aiops_platform.experiment import load as load_experiment
from aiops_platform.flow_entry import entry_file
from aiops_platform.gate import check as check_gate
from aiops_platform.terminal import visible

RECORD = "release.json"  # next to results.json, and in a deployment's artifacts
SCHEMA_FILE = Path("release.schema.json")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", paths.PROMPTFLOW_HOME.name, paths.STATE.name}  # not sources
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of this machine's clock a record's own may run
# The most a record or a run's results.json can hold; more is no file a run wrote.
RECORD_LIMIT_BYTES = 16 * 1024 * 1024
RESULTS_LIMIT_BYTES = 256 * 1024 * 1024


class _Record(BaseModel):
    # A score that became NaN or infinite stays one in the file (JSON's null would make it unreadable).
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class Source(_Record):
    commit: str | None = Field(description="git HEAD of the project; None outside git")
    dirty: bool = Field(description="tracked files differed from the commit")
    template_commit: str | None = Field(description="the template commit in .cruft.json")


class DataUsed(_Record):
    dataset: str = Field(description="the experiment's name for it")
    asset: str | None = Field(description="registered asset `name:version` holding exactly this data")
    sha256: str
    path: str


class ModelUsed(_Record):
    provider: str
    model: str = Field(description="model or deployment name")
    endpoint: str = Field(description="endpoint host; no credential")
    api_version: str | None = None


class Gate(_Record):
    enforced: bool = Field(description="run with --gate: a failure stopped the pipeline")
    passed: bool
    thresholds: dict[str, Any]
    maximums: dict[str, Any] = Field(
        default_factory=dict, description="lower-is-better metrics' maximums (gate.maximums)"
    )
    tolerance: float
    failures: list[str]
    experiment: str | None = Field(None, description="the experiment file the thresholds are from")
    overlay: str | None = Field(None, description="its environment overlay (--env) the run merged, if any")


class Scores(_Record):
    evaluator: str
    flow: str
    variant: str
    dataset: str
    metrics: dict[str, float]
    skipped: str | None = Field(
        None, description="why the evaluator left its metrics out (none then), e.g. no Azure AI project"
    )


class Evaluation(_Record):
    results: str = Field(description="the results.json these scores come from")
    evaluators: dict[str, str] = Field(description="name -> path")
    scores: list[Scores]
    gate: Gate


# An environment names files (release-<environment>.json, system_card-<environment>.md): no path in it.
ENVIRONMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Deployment(_Record):
    environment: str = Field(pattern=ENVIRONMENT_NAME, description="dev, test, prod or local")
    target: str = Field(description="what was deployed to, e.g. endpoint/deployment")
    approver: str | None = Field(description="who started it, as the CI system says; locally the git user")
    approvals: list[Approval] | None = Field(
        None, description="this run's approvals of the environment, read from the CI system"
    )
    approvals_note: str | None = Field(None, description="why approvals is None: outside CI, API refused")
    region: str | None = Field(None, description="the Azure region deployed to (data residency checked)")
    run_url: str | None = Field(description="the pipeline run; its environment approvals are on record there")
    deployed_at: str


class ReleaseRecord(_Record):
    schema_: str = Field("release.schema.json", alias="$schema")
    kind: Literal["experiment", "deployment"]
    created: str
    source: Source
    files: dict[str, str] = Field(description="flow, prompt, evaluator and experiment file -> sha256")
    data: list[DataUsed]
    model: ModelUsed
    evaluation: Evaluation | None
    deployment: Deployment | None = None
    agreed: governance.Governance | None = Field(
        None, description="governance.yaml as it was: classification, GxP relevance, residency, approvers"
    )


def json_schema() -> str:
    return json.dumps(ReleaseRecord.model_json_schema(by_alias=True), indent=2) + "\n"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashed_files(declared: Experiment, experiment_file: Path, root: Path) -> dict[str, str]:
    """Every file of the flows and evaluators the experiment ran (their whole folders: prompts,
    code, flow.flex.yaml), and the experiment file with its overlays; by project-relative path."""
    base = experiment_file.parent
    entries = [base / entry_file(item.path) for item in (*declared.flows, *declared.evaluators)]
    found = [p for entry in entries for p in (entry.rglob("*") if entry.is_dir() else [entry])]
    found += sorted(base.glob(f"{experiment_file.stem}*.yaml"))
    kept = {p.resolve() for p in found if p.is_file() and not SKIPPED_PARTS & set(p.parts)}
    return {_shown(p, root): _sha256(p) for p in sorted(kept)}


def _shown(path: Path, root: Path) -> str:
    resolved, project = path.resolve(), root.resolve()
    return (resolved.relative_to(project) if resolved.is_relative_to(project) else resolved).as_posix()


def _git(root: Path, *arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source(root: Path) -> Source:
    commit = _git(root, "rev-parse", "HEAD")
    changes = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    try:
        template = json.loads((root / ".cruft.json").read_text(encoding="utf-8")).get("commit")
    except (OSError, ValueError):
        template = None
    return Source(commit=commit, dirty=bool(changes), template_commit=template)


def data_used(declared: Experiment, resolved: Experiment, base: Path, root: Path) -> list[DataUsed]:
    """Each dataset's hash, and the registered version holding exactly that content: the reference
    itself for `azureml:` datasets, else the local registry's version of the spec (`data/*.yml`)
    for that file with the same hash (None when the file changed since `make register`)."""
    versions = registry.LocalRegistry(root).versions()
    specs = _spec_names(root / paths.DATA)
    used = []
    for named, local in zip(declared.datasets, resolved.datasets, strict=True):
        path = (base / local.path).resolve()
        digest = registry.content_hash(path)
        if named.is_asset:
            asset: str | None = str(named.path).removeprefix("azureml:")
        else:
            name = specs.get(path, "")
            match = [version for version in versions.get(name, []) if version.sha256 == digest]
            asset = f"{name}:{match[-1].version}" if match else None
        used.append(DataUsed(dataset=named.name, asset=asset, sha256=digest, path=_shown(path, root)))
    return used


def _spec_names(data: Path) -> dict[Path, str]:
    """Data file -> its asset name, read from the specs as plain YAML (azure-ai-ml's loader takes
    seconds to import; `make data-validate` and `make register` validate the specs)."""
    names = {}
    for spec in sorted(data.glob("*.yml")):
        try:
            loaded = yaml.safe_load(spec.read_text(encoding="utf-8"))
            names[(spec.parent / loaded["path"]).resolve()] = str(loaded["name"])
        except (OSError, yaml.YAMLError, TypeError, KeyError):
            continue
    return names


def evaluation(
    declared: Experiment,
    results: dict[str, Any],
    results_file: str,
    enforced: bool,
    experiment_file: Path,
    overlay: str | None,
) -> Evaluation:
    """The scores and the verdict, with the experiment file (and overlay) whose thresholds gave it.
    A score that is not a number fails the verdict, whether or not a threshold names it."""
    gate = results.get("gate", {})
    scores = _scores(results)
    failures = [*gate.get("failures", []), *_not_numbers(scores)]
    return Evaluation(
        results=results_file,
        evaluators={evaluator.name: str(evaluator.path) for evaluator in declared.evaluators},
        scores=scores,
        gate=Gate(
            enforced=enforced,
            passed=bool(gate.get("passed", True)) and not _not_numbers(scores),
            thresholds=declared.gate.thresholds,
            maximums=declared.gate.maximums,
            tolerance=declared.gate.tolerance,
            failures=list(dict.fromkeys(failures)),
            experiment=_shown(experiment_file, paths.root(experiment_file.parent)),
            overlay=overlay,
        ),
    )


def _scores(results: dict[str, Any]) -> list[Scores]:
    return [
        Scores(
            evaluator=e["evaluator"],
            flow=e["flow"],
            variant=e["variant"],
            dataset=e["dataset"],
            metrics={k: float(v) for k, v in e["metrics"].items()},
            skipped=e.get("skipped") or None,
        )
        for e in results["evaluations"]
    ]


def _not_numbers(scores: list[Scores]) -> list[str]:
    """Scores that are NaN or infinite: no verdict can rest on them."""
    found = []
    for score in scores:
        where = f"{score.dataset} ({score.flow}/{score.variant})"
        found += [
            f"{score.evaluator}.{metric} on {where}: {value} is not a number"
            for metric, value in score.metrics.items()
            if not math.isfinite(value)
        ]
    return found


def write(record: ReleaseRecord, folder: Path) -> Path:
    target = folder / RECORD
    target.write_text(record.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    return target


def write_as(record: ReleaseRecord, folder: Path, environment: str) -> Path:
    """A deployment's record, `release-<environment>.json`: the pipeline keeps it as an artifact."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"release-{environment}.json"
    target.write_text(record.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    return target


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read(path: Path) -> ReleaseRecord:
    """A record, from its file or from a results folder that holds one (a regular file: paths.read_bytes)."""
    file = path / RECORD if path.is_dir() else path
    return ReleaseRecord.model_validate_json(paths.read_bytes(file, RECORD_LIMIT_BYTES))


def latest(root: Path) -> Path | None:
    """The newest run's record under results/, by its own `created` time: file times change when a
    results folder is copied or downloaded (a pipeline artifact), the record's time does not. A record
    dated in the future is no run's: it is never the newest."""
    horizon = datetime.now(UTC) + CLOCK_SKEW
    found = (root / paths.RESULTS).glob(f"*/{RECORD}")
    records = sorted((_created(path), path.stat().st_mtime, path) for path in found)
    records = [entry for entry in records if entry[0] <= horizon]
    return records[-1][2] if records else None


def _created(path: Path) -> datetime:
    try:
        created = _time(json.loads(paths.read_bytes(path, RECORD_LIMIT_BYTES))["created"])
    except (OSError, ValueError, KeyError, TypeError):
        created = None
    return created or datetime.min.replace(tzinfo=UTC)  # unreadable: oldest; `release show` says why


def _time(text: object) -> datetime | None:
    """An ISO time with its zone; None for anything else."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def diff(before: ReleaseRecord, after: ReleaseRecord) -> list[str]:
    """What changed, one line each: files, data, model, source, scores and verdict. [] when nothing did."""
    lines = []
    for name in sorted(before.files.keys() | after.files.keys()):
        old, new = before.files.get(name), after.files.get(name)
        if old != new:
            change = "added" if old is None else "removed" if new is None else "changed"
            lines.append(f"file {name}: {change}")
    old_data = {d.dataset: d for d in before.data}
    for item in after.data:
        was = old_data.pop(item.dataset, None)
        if was is None:
            lines.append(f"data {item.dataset}: added ({_version(item)})")
        elif was.sha256 != item.sha256 or was.asset != item.asset:
            lines.append(f"data {item.dataset}: {_version(was)} -> {_version(item)}")
    lines += [f"data {name}: removed" for name in sorted(old_data)]
    if before.model != after.model:
        lines.append(f"model: {_model(before.model)} -> {_model(after.model)}")
    if before.source.commit != after.source.commit:
        lines.append(f"commit: {before.source.commit} -> {after.source.commit}")
    if before.source.template_commit != after.source.template_commit:
        lines.append(f"template: {before.source.template_commit} -> {after.source.template_commit}")
    lines += _score_changes(before.evaluation, after.evaluation)
    lines += _agreement_changes(before.agreed, after.agreed)
    return lines


def _agreement_changes(
    before: governance.Governance | None, after: governance.Governance | None
) -> list[str]:
    old, new = (agreed.model_dump() if agreed else {} for agreed in (before, after))
    changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    return [f"agreed {key}: {old.get(key)} -> {new.get(key)}" for key in changed]


def _version(data: DataUsed) -> str:
    return data.asset or f"unregistered {data.sha256[:12]}"


def _model(model: ModelUsed) -> str:
    return f"{model.provider} {model.model} ({model.endpoint}, api {model.api_version or '-'})"


def _score_changes(before: Evaluation | None, after: Evaluation | None) -> list[str]:
    if before is None or after is None:
        return []
    lines = []
    old = {(s.evaluator, s.flow, s.variant, s.dataset): s.metrics for s in before.scores}
    for score in after.scores:
        previous = old.get((score.evaluator, score.flow, score.variant, score.dataset), {})
        for metric, value in score.metrics.items():
            if metric in previous and _differ(previous[metric], value):
                where = f"{score.evaluator}.{metric} on {score.dataset} ({score.flow}/{score.variant})"
                lines.append(f"score {where}: {previous[metric]:.3f} -> {value:.3f}")
    if before.gate.passed != after.gate.passed:
        verdicts = ["passed" if gate.passed else "failed" for gate in (before.gate, after.gate)]
        lines.append(f"gate: {verdicts[0]} -> {verdicts[1]}")
    return lines


def _differ(before: float, after: float) -> bool:
    """NaN or infinity against a number is a change; NaN against NaN is none."""
    if math.isfinite(before) and math.isfinite(after):
        return abs(before - after) > 1e-9
    return not (before == after or (math.isnan(before) and math.isnan(after)))


def approver(environ: Mapping[str, str]) -> str | None:
    """Who started the deployment, as the CI system reports it (the environment's approval itself is
    in the CI system's deployment history: `run_url` leads there); locally, the git user."""
    for name in ("GITHUB_ACTOR", "BUILD_REQUESTEDFOREMAIL", "BUILD_REQUESTEDFOR"):
        if environ.get(name):
            return environ[name]
    return _git(paths.root(), "config", "user.email")


def approved_by(deployed: Deployment) -> str:
    """A deployment's approvals in one line for people: who decided what, and when."""
    if deployed.approvals is None:
        return f"not on record ({deployed.approvals_note or 'unknown'})"
    decisions = [f"{a.approver} ({a.state}{', ' + a.at if a.at else ''})" for a in deployed.approvals]
    return "; ".join(decisions) or "nobody (the environment required no approval)"


def run_url(environ: Mapping[str, str]) -> str | None:
    if environ.get("GITHUB_RUN_ID"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{environ.get('GITHUB_REPOSITORY')}/actions/runs/{environ['GITHUB_RUN_ID']}"
    if environ.get("BUILD_BUILDID") and environ.get("SYSTEM_COLLECTIONURI"):
        project = environ.get("SYSTEM_TEAMPROJECT", "")
        return f"{environ['SYSTEM_COLLECTIONURI']}{project}/_build/results?buildId={environ['BUILD_BUILDID']}"
    return None


def agreed(root: Path) -> governance.Governance | None:
    """governance.yaml as the run saw it; None in a project generated before the file existed."""
    return governance.load(root) if (root / governance.FILE).is_file() else None


def deployment_record(
    gated: ReleaseRecord,
    environment: str,
    target: str,
    environ: Mapping[str, str],
    region: str | None = None,
) -> ReleaseRecord:
    """The gated run's record, as deployed: what was evaluated is what went out, who approved it."""
    recorded = approvals.recorded(environment, environ)
    deployed = Deployment(
        environment=environment,
        target=target,
        approver=approver(environ),
        approvals=recorded.approvals,
        approvals_note=recorded.note,
        region=region,
        run_url=run_url(environ),
        deployed_at=now(),
    )
    update = {"kind": "deployment", "created": deployed.deployed_at, "deployment": deployed}
    return gated.model_copy(update=update)


def tags(record: ReleaseRecord) -> dict[str, str]:
    """A record in short strings, for Azure ML deployment tags and Web App settings: each value stays
    on its one line (`KEY=value` lines are read back as settings)."""
    gate = record.evaluation.gate if record.evaluation else None
    short = {
        "release_commit": record.source.commit or "none",
        "release_template": record.source.template_commit or "none",
        "release_gate": ("passed" if gate.passed else "failed") if gate else "not gated",
        "release_data": ",".join(d.asset or f"unregistered:{d.sha256[:12]}" for d in record.data) or "none",
        "release_model": f"{record.model.provider}:{record.model.model}",
        "release_record_sha256": record_sha256(record),
    }
    return {key: visible(value) for key, value in short.items()}


def record_sha256(record: ReleaseRecord) -> str:
    """The record's identity: the sha256 of its compact JSON."""
    return hashlib.sha256(record.model_dump_json(by_alias=True).encode()).hexdigest()


def gated_record(root: Path, chosen: Path | None) -> ReleaseRecord:
    """The record a deployment ships (the one given, else the newest run's), if it is evidence for
    what is deployed: made in the past, gated and passed on numbers, from the commit being deployed
    (HEAD, no uncommitted changes), with every file it hashed unchanged, and a verdict that the run's
    own results.json (next to it) still gives under the experiment's thresholds. Every deploy path
    calls this; a refusal is one line naming the record, what does not hold and what to run."""
    path = chosen or latest(root)
    if path is None:
        raise ReleaseError("no release record: run `make gate` first (the deploy pipeline's gate job does)")
    file = path / RECORD if path.is_dir() else path
    try:
        record = read(file)
    except OSError as error:
        raise ReleaseError(f"{file}: {error.strerror}; run `make gate` first") from error
    except paths.NotAFile as error:
        raise ReleaseError(f"{file}: {error}; deploy the gate run's whole results folder") from error
    except ValidationError as error:
        raise ReleaseError(f"{file} is not a release record ({error.error_count()} problems)") from error
    problem = _not_deployable(record, file, root)
    if problem:
        raise ReleaseError(f"{file}: {problem}")
    return record


def _not_deployable(record: ReleaseRecord, file: Path, root: Path) -> str:
    """Why `record` is no evidence for deploying `root` as it is ("" when it is), checked in order."""
    created = _time(record.created)
    if created is None:
        return f"created {record.created!r} is not a time with its zone; run `make gate` again"
    if created > datetime.now(UTC) + CLOCK_SKEW:
        return f"created {record.created} is in the future, so no run made it; run `make gate` again"
    gated = record.evaluation
    if gated is None or not gated.gate.passed:
        return "its gate did not pass; deploy only what passed `make gate`"
    if _not_numbers(gated.scores):
        return f"{_not_numbers(gated.scores)[0]}; deploy only what passed `make gate` on numbers"
    if gated.gate.experiment is None:
        return "it names no experiment file (made before deployments checked records); run `make gate` again"
    stale = _not_this_commit(record.source, root)
    if stale:
        return stale
    try:
        declared, experiment_file = _gated_experiment(gated.gate, root)
    except ExperimentError as error:
        problem = f"its experiment {gated.gate.experiment} does not load ({str(error).splitlines()[0]})"
        return f"{problem}; run `make experiment-validate`"
    now = hashed_files(declared, experiment_file, root)
    return _not_these_files(record.files, now, root) or _not_its_verdict(gated, record.model, declared, file)


def _not_this_commit(recorded: Source, root: Path) -> str:
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return f"{root} is not a git checkout; deploy a commit, so that the record names what is deployed"
    if recorded.commit != head:
        return f"gated on commit {recorded.commit}, but HEAD is {head}; run `make gate` on this commit"
    if recorded.dirty:
        return "gated with uncommitted changes; commit them, then run `make gate` again"
    return ""


def _gated_experiment(gate: Gate, root: Path) -> tuple[Experiment, Path]:
    """The experiment (with its overlay) whose thresholds gated the run, as it is in the project now."""
    experiment_file = (root / str(gate.experiment)).resolve()
    if not experiment_file.is_relative_to(root.resolve()):
        raise ExperimentError("it is outside the project")
    return load_experiment(experiment_file, gate.overlay), experiment_file


def _not_these_files(hashed: dict[str, str], now: dict[str, str], root: Path) -> str:
    """The files the record hashed against the experiment's files now; then the rest against HEAD."""
    for name in sorted(hashed.keys() | now.keys()):
        if hashed.get(name) != now.get(name):
            change = "is gone" if name not in now else "is new" if name not in hashed else "changed"
            return f"{name} {change} since the gate; deploy what was gated, or run `make gate` again"
    changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    if changes:
        return f"uncommitted change to {changes.splitlines()[0][3:]}; commit it, then run `make gate` again"
    return ""


def _not_its_verdict(gated: Evaluation, model: ModelUsed, declared: Experiment, file: Path) -> str:
    """The verdict again, from the results.json next to the record and the experiment's thresholds."""
    results_file = file.parent / "results.json"
    try:
        results = json.loads(paths.read_bytes(results_file, RESULTS_LIMIT_BYTES))
        scores, verdict = _scores(results), check_gate(results, declared.gate)
        recorded_passed = results.get("gate", {}).get("passed", True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "no readable results.json next to it; deploy the gate run's whole results folder"
    if scores != gated.scores:
        return f"its scores are not those in {results_file}; run `make gate` again"
    if model.model_dump(exclude={"api_version"}) != results.get("model"):
        return f"its model is not the one in {results_file}; run `make gate` again"
    if (gated.gate.thresholds, gated.gate.maximums) != (declared.gate.thresholds, declared.gate.maximums):
        return f"its thresholds are not those of {gated.gate.experiment}; run `make gate` again"
    failures = [str(finding) for finding in verdict.failures] + _not_numbers(scores)
    if recorded_passed is not True:
        failures.append(f"{results_file} records a failed gate")
    if failures:
        return f"it says passed, but its results fail the gate: {failures[0]}"
    return ""


class ReleaseError(RuntimeError):
    """No deployable record; the message says what to run."""
