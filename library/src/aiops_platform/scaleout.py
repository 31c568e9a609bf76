"""Azure ML specs for the same experiment: one pipeline job, one step per flow variant x dataset.

Each step runs this project's own `experiment run` on a slice (`--variant`, `--dataset`) on a
compute cluster, against Azure OpenAI with the cluster's managed identity, and writes its results
folder as a step output. Nothing here talks to Azure: the specs are files, checked offline with
azure-ai-ml's own loaders; `az ml job create -f azureml/experiment.pipeline.yml` submits them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import yaml

from aiops_platform import project
from aiops_platform.experiment import Experiment, plan

BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
STEP_OUTPUT = "${" + "{outputs.results}" + "}"  # Azure ML's own placeholder syntax, spelled out


def conda_spec(project_root: Path, extras: tuple[str, ...] = ()) -> dict:
    """The job's Python environment: the project's pinned runtime dependencies, plus `extras`."""
    metadata = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = metadata.get("optional-dependencies", {})
    pinned = [*metadata["dependencies"], *(pin for extra in extras for pin in optional[extra])]
    return {
        "name": f"{project.load(project_root).package}-eval",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pip", {"pip": sorted(pinned)}],
    }


def code_path(project_root: Path, output: Path) -> str:
    """`code:` as Azure ML reads it, relative to the job file's folder: the project root from `output`."""
    try:
        return Path(os.path.relpath(project_root.resolve(), output.resolve())).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return project_root.resolve().as_posix()


def pipeline_spec(
    experiment: Experiment, environment: str | None, compute: str, endpoint: str, code: str
) -> dict:
    runs, _ = plan(experiment)
    env_flag = f" --env {environment}" if environment else ""
    steps = {}
    for run in runs:
        name = f"{run.flow.name}_{run.variant.name}_{run.dataset.name}".replace("-", "_")
        steps[name] = {
            "type": "command",
            "display_name": f"{run.flow.name}/{run.variant.name} on {run.dataset.name}",
            "code": code,
            "environment": {"image": BASE_IMAGE, "conda_file": "conda.yml"},
            "command": (
                f"pip install --no-deps -e . && aiops experiment run --gate{env_flag} "
                f"--variant {run.variant.name} --dataset {run.dataset.name} --output {STEP_OUTPUT}"
            ),
            "environment_variables": {"LLM_PROVIDER": "azure_openai", "AZURE_OPENAI_ENDPOINT": endpoint},
            "outputs": {"results": {"type": "uri_folder"}},
        }
    return {
        "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
        "type": "pipeline",
        "display_name": f"{experiment.name} experiment" + (f" ({environment})" if environment else ""),
        "experiment_name": experiment.name,
        "settings": {"default_compute": f"azureml:{compute}", "continue_on_step_failure": True},
        "jobs": steps,
    }


def environment_spec(project_root: Path) -> dict:
    return {
        "$schema": "https://azuremlschemas.azureedge.net/latest/environment.schema.json",
        "name": f"{project.load(project_root).package}-eval",
        "image": BASE_IMAGE,
        "conda_file": "conda.yml",
    }


def write_specs(
    experiment: Experiment,
    project_root: Path,
    output: Path,
    environment: str | None,
    compute: str,
    endpoint: str,
) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    # An agent, or a flow run as a workflow, needs Agent Framework; Prompt Flow, an optional extra, only
    # if used (the two conflict).
    if project.load(project_root).flow_kind == "agent" or experiment.engine == "workflow":
        extras: tuple[str, ...] = ("agent",)
    else:
        extras = ("promptflow",) if experiment.engine == "promptflow" else ()
    files = {
        output / "conda.yml": conda_spec(project_root, extras),
        output / "environment.yml": environment_spec(project_root),
        output / "experiment.pipeline.yml": pipeline_spec(
            experiment, environment, compute, endpoint, code_path(project_root, output)
        ),
    }
    for path, spec in files.items():
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return list(files)
