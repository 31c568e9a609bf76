"""The same experiment as an Azure ML pipeline job, checked offline with azure-ai-ml's loaders.

Nothing is submitted to Azure here; `az ml job create -f azureml/experiment.pipeline.yml` does that.
"""

import shutil
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from azure.ai.ml import load_environment, load_job
from azure.ai.ml.entities import PipelineJob
from conftest import sample_project
from packaging.requirements import Requirement
from typer.testing import CliRunner

from aiops_platform.cli import app
from aiops_platform.experiment import ExperimentError, load, select
from aiops_platform.paths import PLATFORM


def platform_pins(extra: str | None = None) -> set[str]:
    """What the platform's own distribution pins: unconditionally, or for `extra` alone."""
    pins = [Requirement(line) for line in metadata.requires(PLATFORM) or ()]
    if extra is None:
        return {f"{pin.name}{pin.specifier}" for pin in pins if pin.marker is None}
    chosen = [pin for pin in pins if pin.marker is not None and pin.marker.evaluate({"extra": extra})]
    return {f"{pin.name}{pin.specifier}" for pin in chosen}


def platform_extras(pip_packages: list[str], project_root: Path) -> set[str]:
    """The extras of the platform, a job's only pip package: each line is the platform pinned to the
    source the project's pyproject.toml names (the same platform the project installs, never from an
    index), with or without an extra."""
    pins = [Requirement(package) for package in pip_packages]
    dependencies = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (declared,) = [Requirement(line) for line in dependencies["dependencies"] if line.startswith(PLATFORM)]
    assert declared.url.startswith("git+")
    assert pins and all(pin.name == PLATFORM and pin.url == declared.url for pin in pins), pip_packages
    return {extra for pin in pins for extra in pin.extras}


def test_a_slice_keeps_only_the_chosen_variant_and_dataset(project_root: Path):
    sliced = select(load(project_root / "experiment.yaml"), ["concise"], ["hard_qa"])
    assert [v.name for flow in sliced.flows for v in flow.variants] == ["concise"]
    assert [d.name for d in sliced.datasets] == ["hard_qa"]
    with pytest.raises(ExperimentError, match=r"no dataset named \['nope'\]"):
        select(sliced, None, ["nope"])


def test_pipeline_has_one_step_per_variant_and_dataset_and_loads_with_azure_ml(project_copy: Path):
    result = CliRunner().invoke(app, ["experiment", "azureml", "--env", "test", "--output", "azureml"])
    assert result.exit_code == 0, result.output
    environment = load_environment(project_copy / "azureml" / "environment.yml")
    pip_packages = environment.conda_file["dependencies"][-1]["pip"]
    assert not platform_extras(pip_packages, project_copy)  # promptflow is an extra; engine: inprocess
    assert "azure-ai-evaluation==1.18.10" in platform_pins()  # what the job gets through the platform
    job = load_job(project_copy / "azureml" / "experiment.pipeline.yml")
    assert isinstance(job, PipelineJob)
    datasets = ["core_qa", "hard_qa", "safety"]
    flow = "qa"
    assert sorted(job.jobs) == [
        f"{flow}_{variant}_{dataset}" for variant in ("baseline", "concise") for dataset in datasets
    ]
    step = job.jobs[f"{flow}_concise_hard_qa"]
    assert "aiops experiment run --gate --env test --variant concise --dataset hard_qa" in step.command
    assert step.environment_variables["LLM_PROVIDER"] == "azure_openai"


@pytest.mark.parametrize("where", ["azureml", "specs/nested/deeper", "outside"])
def test_every_step_uploads_the_project_root_wherever_the_specs_are_written(project_copy: Path, where: str):
    """Azure ML reads `code:` relative to the job file, so it must follow `--output`."""
    output = project_copy.parent / "elsewhere" if where == "outside" else project_copy / where
    result = CliRunner().invoke(app, ["experiment", "azureml", "--output", str(output)])
    assert result.exit_code == 0, result.output
    job = load_job(output / "experiment.pipeline.yml")
    for step in job.jobs.values():
        assert (Path(job.base_path) / step.code).resolve() == project_copy.resolve()


def test_an_experiment_on_the_prompt_flow_engine_gets_the_promptflow_extra_in_its_job(project_copy: Path):
    spec = project_copy / "experiment.yaml"
    experiment = yaml.safe_load(spec.read_text(encoding="utf-8"))
    spec.write_text(yaml.safe_dump({**experiment, "engine": "promptflow"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["experiment", "azureml", "--output", "azureml"])
    assert result.exit_code == 0, result.output
    conda = yaml.safe_load((project_copy / "azureml/conda.yml").read_text(encoding="utf-8"))
    assert platform_extras(conda["dependencies"][-1]["pip"], project_copy) == {"promptflow"}
    assert {"promptflow==1.18.5", "keyrings-alt==5.0.2"} <= platform_pins("promptflow")


def test_an_experiment_on_the_workflow_engine_gets_the_agent_extra_in_its_job(project_copy: Path):
    spec = project_copy / "experiment.yaml"
    experiment = yaml.safe_load(spec.read_text(encoding="utf-8"))
    spec.write_text(yaml.safe_dump({**experiment, "engine": "workflow"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["experiment", "azureml", "--output", "azureml"])
    assert result.exit_code == 0, result.output
    conda = yaml.safe_load((project_copy / "azureml/conda.yml").read_text(encoding="utf-8"))
    assert platform_extras(conda["dependencies"][-1]["pip"], project_copy) == {"agent"}


def test_an_agent_project_s_job_gets_the_agent_extra_and_never_prompt_flow(tmp_path: Path, monkeypatch):
    """Agent Framework runs an agent's flow; Prompt Flow's OpenTelemetry pins conflict with it."""
    project = shutil.copytree(sample_project("agent"), tmp_path / "agent")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["experiment", "azureml", "--output", "azureml"])
    assert result.exit_code == 0, result.output
    environment = load_environment(project / "azureml" / "environment.yml")
    assert platform_extras(environment.conda_file["dependencies"][-1]["pip"], project) == {"agent"}
    assert "agent-framework-core==1.23.0" in platform_pins("agent")
    job = load_job(project / "azureml" / "experiment.pipeline.yml")
    assert sorted(job.jobs)[0] == "agent_baseline_core_qa"
    specs = [path.read_text(encoding="utf-8") for path in (project / "azureml").iterdir()]
    assert not [spec for spec in specs if "promptflow" in spec.casefold()]
    # The online deployment's environment is the image of deployment/Dockerfile, with the agent extra.
    serving = load_environment(project / "deployment/aml/environment.yml")
    dockerfile = (project / "deployment/aml" / serving.build.path / serving.build.dockerfile_path).read_text()
    assert "'.[agent]'" in dockerfile and "promptflow" not in dockerfile.casefold()
