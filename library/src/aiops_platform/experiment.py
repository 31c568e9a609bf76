"""`experiment.yaml`: its schema, loading with errors that name the key, and the plan of runs.

The schema validates without I/O: no validator reads a file or asks a registry. Loading then
checks, outside the schema, that every local path exists; registered-asset datasets
(`azureml:name:N`) are resolved only where data is read, through the chosen registry target
(`resolve_assets`), so a file that names workspace assets validates offline.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aiops_platform import paths
from aiops_platform.flow_entry import DATA_REFERENCE, REFERENCE, entry_file, entry_parameters
from aiops_platform.problems import Problem, report, yaml_reason
from aiops_platform.registry import (
    RegistryError,
    is_asset_reference,
    parse_reference,
)

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$", description="Identifier used in paths")]
METRIC_KEY = r"^[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_]*$"
Bound = Annotated[float, Field(allow_inf_nan=False)]  # a NaN or infinite limit would gate nothing
Bounds = dict[Annotated[str, Field(pattern=METRIC_KEY)], Bound | dict[Name, Bound]]


class ExperimentError(ValueError):
    """A bad experiment file; each problem names the file, the key and what was expected."""

    def __init__(self, problems: list[Problem] | str) -> None:
        self.problems = [] if isinstance(problems, str) else problems
        super().__init__(problems if isinstance(problems, str) else report(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _LocalPath(_Strict):
    """`path` is relative to the experiment file; `path_problems` checks that it exists."""

    path: Path


class VariantConfig(_Strict):
    name: Name
    inputs: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Literal flow inputs for this variant, e.g. prompt or temperature"
    )


class FlowConfig(_LocalPath):
    name: Name
    path: Path = Field(description="Folder holding flow.flex.yaml")
    column_mapping: dict[str, Annotated[str, Field(pattern=DATA_REFERENCE)]] = Field(
        description="Flow input -> ${data.column}"
    )
    variants: list[VariantConfig] = Field(
        default_factory=lambda: [VariantConfig(name="default")],
        min_length=1,
        description="Each variant runs as its own run; results show them side by side",
    )


class DatasetConfig(_LocalPath):
    name: Name
    path: Path = Field(
        description="JSON Lines file relative to experiment.yaml, or a registered asset: "
        "azureml:<name>:<version> or azureml:<name>@latest"
    )

    limit: int | None = Field(None, ge=1, description="Use only the first N lines (e.g. in the pr overlay)")

    @field_validator("path")
    @classmethod
    def _asset_reference_is_well_formed(cls, value: Path) -> Path:
        """Syntax only: whether the asset exists is the registry's answer, after validation."""
        if is_asset_reference(str(value)):
            try:
                parse_reference(str(value))
            except RegistryError as error:
                raise ValueError(str(error)) from error
        return value

    @property
    def is_asset(self) -> bool:
        """A registered asset (`azureml:name:N` or `azureml:name@latest`), not a file."""
        return is_asset_reference(str(self.path))


class EvaluatorConfig(_LocalPath):
    name: Name
    path: Path = Field(description="Evaluation flow folder (flow.flex.yaml), or `file.py:Callable`")
    column_mapping: dict[str, Annotated[str, Field(pattern=REFERENCE)]] | None = Field(
        None,
        description="Evaluator input -> ${data.column} or ${run.outputs.field}; when omitted, each "
        "parameter is taken from the flow output, else the data column, of the same name",
    )
    datasets: list[Name] | None = Field(None, description="Datasets to evaluate; all when omitted")


class GateConfig(_Strict):
    """What `experiment run --gate` enforces."""

    thresholds: Bounds = Field(
        default_factory=dict,
        description="`evaluator.metric` -> minimum for every dataset, or {dataset: minimum}",
    )
    maximums: Bounds = Field(
        default_factory=dict,
        description="Lower-is-better metrics (e.g. turns, latency): `evaluator.metric` -> maximum for "
        "every dataset, or {dataset: maximum}; against a baseline a rise is the regression",
    )
    tolerance: float = Field(
        0.02,
        ge=0,
        description="Allowed drop (a rise, for a metric under maximums) against a baseline before it is "
        "a regression",
    )
    fail_on_regression: bool = Field(True, description="Regressions beyond the tolerance fail the gate")
    max_new_failures: dict[Name, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="With a baseline: dataset -> how many of its lines may newly fail (met a threshold or "
        "maximum on the baseline, miss it now) in each run; those lines are listed either way",
    )

    @field_validator("thresholds", "maximums", mode="before")
    @classmethod
    def _bounds_are_numbers(cls, value: object) -> object:
        """One line naming the metric; the union of the two forms would report each form's error."""
        for key, bound in value.items() if isinstance(value, dict) else ():
            for where, number in bound.items() if isinstance(bound, dict) else [("", bound)]:
                problem = _bound_problem(number)
                if problem:
                    either = "" if where else ", nor {dataset: number}"
                    named = f"{key}.{where}" if where else key
                    raise ValueError(f"{named}: {json.dumps(number)} {problem}{either}")
        return value

    @model_validator(mode="after")
    def _one_direction_per_metric(self) -> GateConfig:
        both = sorted(self.thresholds.keys() & self.maximums.keys())
        if both:
            raise ValueError(
                f"{both[0]} is under both thresholds (a minimum, higher is better) and maximums (lower is "
                "better); keep it in one"
            )
        return self


def _bound_problem(value: object) -> str:
    """What keeps `value` from being a limit ("" when it is one): it must be a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return "is not a number"
    try:
        number = float(value)
    except ValueError:
        return "is not a number"
    return "" if math.isfinite(number) else "is not a finite number"


class Experiment(_Strict):
    """Which flows run on which datasets, and which evaluators score them."""

    name: Name
    engine: Literal["inprocess", "promptflow", "workflow"] = Field(
        "inprocess",
        description="inprocess: fast default; promptflow: Prompt Flow's batch engine; workflow: each line "
        "through the flow as an Agent Framework workflow (the agent extra)",
    )
    concurrency: int = Field(8, ge=1, le=64, description="Lines in flight at once per run")
    flows: list[FlowConfig] = Field(min_length=1)
    datasets: list[DatasetConfig] = Field(min_length=1)
    evaluators: list[EvaluatorConfig] = Field(default_factory=list)
    gate: GateConfig = Field(default_factory=GateConfig)

    @model_validator(mode="after")
    def _names_are_unique_and_known(self) -> Experiment:
        for group in ("flows", "datasets", "evaluators"):
            names = [item.name for item in getattr(self, group)]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{group}: duplicate names {duplicates}")
        known = {d.name for d in self.datasets}
        for evaluator in self.evaluators:
            unknown = sorted(set(evaluator.datasets or []) - known)
            if unknown:
                raise ValueError(f"evaluators.{evaluator.name}.datasets: unknown datasets {unknown}")
        for flow in self.flows:
            variants = [variant.name for variant in flow.variants]
            if len(set(variants)) != len(variants):
                raise ValueError(f"flows.{flow.name}.variants: duplicate names {variants}")
        evaluators = {e.name for e in self.evaluators}
        for section in ("thresholds", "maximums"):
            for key, bound in getattr(self.gate, section).items():
                if key.partition(".")[0] not in evaluators:
                    raise ValueError(f"gate.{section}.{key}: no evaluator named {key.partition('.')[0]!r}")
                unknown = sorted(set(bound) - known) if isinstance(bound, dict) else []
                if unknown:
                    raise ValueError(f"gate.{section}.{key}: unknown datasets {unknown}")
        unknown = sorted(set(self.gate.max_new_failures) - known)
        if unknown:
            raise ValueError(f"gate.max_new_failures: unknown datasets {unknown}")
        return self


@dataclass(frozen=True)
class PlannedRun:
    flow: FlowConfig
    variant: VariantConfig
    dataset: DatasetConfig

    @property
    def key(self) -> tuple[str, str, str]:
        return self.flow.name, self.variant.name, self.dataset.name


@dataclass(frozen=True)
class PlannedEvaluation:
    evaluator: EvaluatorConfig
    base: PlannedRun


def _location(loc: tuple[Any, ...]) -> str:
    return (
        "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "(top)"
    )


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ExperimentError([Problem(path, "file not found")])
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ExperimentError([Problem(path, f"not valid YAML: {yaml_reason(error)}")]) from error
    if not isinstance(raw, dict):
        raise ExperimentError([Problem(path, "expected a mapping at the top level")])
    return raw


def merge(base: Any, overlay: Any) -> Any:
    """Overlay rules: mappings merge key by key; lists of named items merge by `name` (an item
    with `drop: true` removes it, a new name is appended); anything else is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {
            **base,
            **{key: merge(base[key], value) if key in base else value for key, value in overlay.items()},
        }
    if _named_items(base) and _named_items(overlay):
        merged = {item["name"]: item for item in base}
        for item in overlay:
            if item.get("drop"):
                merged.pop(item["name"], None)
            else:
                merged[item["name"]] = merge(merged[item["name"]], item) if item["name"] in merged else item
        return list(merged.values())
    return overlay


def _named_items(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def overlay_path(path: Path, environment: str) -> Path:
    return path.with_name(f"{path.stem}.{environment}{path.suffix}")


def environments(path: Path) -> list[str]:
    """The environment names with an overlay next to `path` (experiment.<name>.yaml)."""
    return sorted(p.name.split(".")[-2] for p in path.parent.glob(f"{path.stem}.*{path.suffix}"))


def _overlay(path: Path, environment: str) -> Path:
    known = environments(path)
    if environment not in known:
        choices = f"choose one of {', '.join(known)}" if known else "there are no overlays"
        overlay = f"{path.stem}.{environment}{path.suffix}"  # a plain string: `../x` is no file name
        message = f"{environment!r} is not an environment: no {overlay}; {choices}"
        raise ExperimentError([Problem("--env", message)])
    return overlay_path(path, environment)


def validate(raw: dict[str, Any], source: str = "experiment") -> Experiment:
    """The schema alone: no file is read, no registry asked. Problems name `source` and the key."""
    try:
        return Experiment.model_validate(raw)
    except ValidationError as error:
        problems = [Problem(source, e["msg"], key=_location(e["loc"])) for e in error.errors()]
        raise ExperimentError(problems) from error


def path_problems(experiment: Experiment, root: Path, source: str = "experiment") -> list[Problem]:
    """Local flow, evaluator and dataset paths that lie outside the project (paths.inside_project)
    or do not exist under `root` (asset references are the registry's to check, when resolved)."""
    problems = []
    for group in ("flows", "datasets", "evaluators"):
        for index, item in enumerate(getattr(experiment, group)):
            if getattr(item, "is_asset", False):
                continue
            where = f"{group}[{index}].path"
            needed = root / entry_file(item.path)  # `file.py:Callable` entries name a file
            try:
                paths.inside_project(needed, f"{group[:-1]} {item.name} ({item.path})", root)
            except paths.OutsideProject as error:
                problems.append(Problem(source, str(error), key=where))
                continue
            if not needed.exists():
                problems.append(Problem(source, f"path does not exist: {needed}", key=where))
    return problems


def load(path: Path, environment: str | None = None) -> Experiment:
    """Parse, merge the `experiment.<environment>.yaml` overlay, validate, check local paths.

    Every problem is reported as `file: key: message`.
    """
    raw, source = _read(path), str(path)
    if environment:
        overlay = _overlay(path, environment)
        raw, source = merge(raw, _read(overlay)), f"{path} + {overlay.name}"
    experiment = validate(raw, source)
    problems = path_problems(experiment, path.parent, source)
    if problems:
        raise ExperimentError(problems)
    return experiment


class AssetResolver(Protocol):
    """A registry target: `azureml:name:N` or `azureml:name@latest` -> a local copy of its data."""

    def resolve(self, reference: str) -> Path: ...


def resolve_assets(experiment: Experiment, registry: AssetResolver, source: str = "experiment") -> Experiment:
    """The experiment with each registered-asset dataset replaced by its local copy, from `registry`
    (the chosen registry target). Runs after validation, only where data is read."""
    datasets, problems = [], []
    for index, dataset in enumerate(experiment.datasets):
        if not dataset.is_asset:
            datasets.append(dataset)
            continue
        try:
            datasets.append(dataset.model_copy(update={"path": registry.resolve(str(dataset.path))}))
        except RegistryError as error:
            problems.append(Problem(source, str(error), key=f"datasets[{index}].path"))
    if problems:
        raise ExperimentError(problems)
    return experiment.model_copy(update={"datasets": datasets})


def entry_problems(experiment: Experiment, root: Path, source: str = "experiment") -> list[Problem]:
    """Flows and evaluators that do not import, or whose mapping names a parameter they lack.

    Run after `load` (its `path_problems` refuse a path outside the project); an entry that a flow's
    flow.flex.yaml points outside is refused by `entry_of`, before anything is imported."""
    problems = []
    for kind, items in (("flow", experiment.flows), ("evaluator", experiment.evaluators)):
        for item in items:
            where = f"{kind} {item.name}"
            try:
                parameters = set(entry_parameters(root / item.path, root))
            except paths.OutsideProject as error:
                problems.append(Problem(source, str(error), key=where))
                continue
            except Exception as error:  # noqa: BLE001 - report any import failure, keep checking
                reason = f"{type(error).__name__}: {error}"
                problems.append(Problem(source, f"cannot load {item.path}: {reason}", key=where))
                continue
            mapped = set(item.column_mapping or {}) | {
                name for variant in getattr(item, "variants", []) for name in variant.inputs
            }
            unknown = sorted(mapped - parameters)
            if unknown:
                message = f"mapped inputs {unknown} are not parameters {sorted(parameters)}"
                problems.append(Problem(source, message, key=where))
    return problems


def select(experiment: Experiment, variants: list[str] | None, datasets: list[str] | None) -> Experiment:
    """A slice of the experiment (one Azure ML pipeline step runs one); unknown names are errors."""
    known_variants = {v.name for flow in experiment.flows for v in flow.variants}
    known_datasets = {d.name for d in experiment.datasets}
    for kind, wanted, known in (("variant", variants, known_variants), ("dataset", datasets, known_datasets)):
        unknown = sorted(set(wanted or []) - known)
        if unknown:
            raise ExperimentError(f"no {kind} named {unknown}; known: {sorted(known)}")
    flows = [
        flow.model_copy(update={"variants": [v for v in flow.variants if not variants or v.name in variants]})
        for flow in experiment.flows
    ]
    return experiment.model_copy(
        update={
            "flows": [flow for flow in flows if flow.variants],
            "datasets": [d for d in experiment.datasets if not datasets or d.name in datasets],
        }
    )


def plan(experiment: Experiment) -> tuple[list[PlannedRun], list[PlannedEvaluation]]:
    """Every flow variant on every dataset, then every evaluator on each base run of its datasets."""
    runs = [
        PlannedRun(flow, variant, dataset)
        for flow in experiment.flows
        for variant in flow.variants
        for dataset in experiment.datasets
    ]
    evaluations = [
        PlannedEvaluation(evaluator, run)
        for evaluator in experiment.evaluators
        for run in runs
        if evaluator.datasets is None or run.dataset.name in evaluator.datasets
    ]
    return runs, evaluations


def json_schema() -> str:
    """The JSON Schema editors use for completion (referenced from the top of experiment.yaml)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Experiment.model_json_schema()}
    return json.dumps(schema, indent=2) + "\n"
