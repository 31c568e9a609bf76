"""`experiment.yaml`: its schema, loading with errors that name the key, and the plan of runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from {{ cookiecutter.package_name }}.registry import LocalRegistry, RegistryError

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$", description="Identifier used in paths")]
DATA_REF = r"^\$\{data\.[A-Za-z_][A-Za-z0-9_]*\}$"
DATA_OR_RUN_REF = r"^\$\{(data|run\.outputs)\.[A-Za-z_][A-Za-z0-9_]*\}$"
SCHEMA_FILE = "experiment.schema.json"


class ExperimentError(ValueError):
    """A bad experiment file; the message names the file, the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _LocalPath(_Strict):
    """`path` is relative to the experiment file and must exist."""

    path: Path

    @field_validator("path")
    @classmethod
    def _exists(cls, value: Path, info: ValidationInfo) -> Path:
        root = (info.context or {}).get("root")
        if root is not None and not (root / value).exists():
            raise ValueError(f"path does not exist: {root / value}")
        return value


class FlowConfig(_LocalPath):
    name: Name
    path: Path = Field(description="Folder holding flow.flex.yaml")
    column_mapping: dict[str, Annotated[str, Field(pattern=DATA_REF)]] = Field(
        description="Flow input -> ${data.column}"
    )


class DatasetConfig(_LocalPath):
    name: Name
    path: Path = Field(
        description="JSON Lines file relative to experiment.yaml, or a registered asset: "
        "azureml:<name>:<version> or azureml:<name>@latest"
    )

    @field_validator("path", mode="before")
    @classmethod
    def _resolve_asset(cls, value: object, info: ValidationInfo) -> object:
        """Registered assets resolve to their immutable copy in the local registry."""
        root = (info.context or {}).get("root")
        if root is None or not str(value).startswith("azureml:"):
            return value
        try:
            return LocalRegistry(root).resolve(str(value))
        except RegistryError as error:
            raise ValueError(str(error)) from error


class EvaluatorConfig(_LocalPath):
    name: Name
    path: Path = Field(description="Folder holding the evaluation flow's flow.flex.yaml")
    column_mapping: dict[str, Annotated[str, Field(pattern=DATA_OR_RUN_REF)]] = Field(
        description="Evaluator input -> ${data.column} or ${run.outputs.field}"
    )
    datasets: list[Name] | None = Field(None, description="Datasets to evaluate; all when omitted")


class Experiment(_Strict):
    """Which flows run on which datasets, and which evaluators score them."""

    name: Name
    engine: Literal["inprocess", "promptflow"] = Field(
        "inprocess", description="inprocess: fast default; promptflow: Prompt Flow's batch engine"
    )
    concurrency: int = Field(8, ge=1, le=64, description="Lines in flight at once per run")
    flows: list[FlowConfig] = Field(min_length=1)
    datasets: list[DatasetConfig] = Field(min_length=1)
    evaluators: list[EvaluatorConfig] = Field(default_factory=list)

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
        return self


@dataclass(frozen=True)
class PlannedRun:
    flow: FlowConfig
    dataset: DatasetConfig


@dataclass(frozen=True)
class PlannedEvaluation:
    evaluator: EvaluatorConfig
    base: PlannedRun


def _location(loc: tuple[Any, ...]) -> str:
    return (
        "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "(top)"
    )


def load(path: Path) -> Experiment:
    """Parse and validate; every problem is reported as `file: key: message`."""
    if not path.is_file():
        raise ExperimentError(f"{path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ExperimentError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ExperimentError(f"{path}: expected a mapping at the top level")
    try:
        return Experiment.model_validate(raw, context={"root": path.parent})
    except ValidationError as error:
        lines = [f"{path}: {_location(e['loc'])}: {e['msg']}" for e in error.errors()]
        raise ExperimentError("\n".join(lines)) from error


def plan(experiment: Experiment) -> tuple[list[PlannedRun], list[PlannedEvaluation]]:
    """Every flow on every dataset, then every evaluator on each base run of its datasets."""
    runs = [PlannedRun(flow, dataset) for flow in experiment.flows for dataset in experiment.datasets]
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
