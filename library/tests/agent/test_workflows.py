"""The qa, chat and rag flows as Agent Framework 1.23.0 workflows (workflows.py): the same outputs as
calling the flow, the flow's own errors, the flow's span under the caller's; and `engine: workflow`
scoring an experiment as the in-process engine does, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import sample_project
from typer.testing import CliRunner

from aiops_platform import monitor, tracing, workflows
from aiops_platform.cli import app
from aiops_platform.engines import get_engine
from aiops_platform.experiment import load
from aiops_platform.flow_entry import load_entry, resolve_inputs
from aiops_platform.jsonl import read_jsonl
from aiops_platform.results import ExperimentResults
from aiops_platform.runner import run_experiment

KINDS = ["qa", "chat", "rag"]


@pytest.fixture(scope="module", params=KINDS)
def kind_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the kind's sample project: the rag flow builds its index in the project on first use."""
    source = sample_project(request.param)
    return Path(shutil.copytree(source, tmp_path_factory.mktemp(request.param) / source.name))


def first_lines(project: Path) -> list[dict]:
    """The shipped flow's inputs for the first line of each of its local datasets, as an engine maps them."""
    experiment = load(project / "experiment.yaml")
    mapping = experiment.flows[0].column_mapping
    return [
        resolve_inputs(mapping, read_jsonl(project / dataset.path, 1)[0], None)
        for dataset in experiment.datasets
    ]


def test_the_workflow_gives_the_flows_outputs_on_each_datasets_first_line(kind_project: Path):
    flow = kind_project / load(kind_project / "experiment.yaml").flows[0].path
    lines = first_lines(kind_project)
    assert len(lines) >= 3  # the datasets were read (each kind ships three or four)
    entry = load_entry(flow, kind_project)
    for inputs in lines:
        direct = dict(entry(**inputs))
        assert direct["answer"]  # a real answer to compare, not two empty ones
        assert workflows.run(workflows.flow_workflow(flow, kind_project), inputs) == direct


def test_one_workflow_runs_line_after_line(kind_project: Path):
    flow = kind_project / load(kind_project / "experiment.yaml").flows[0].path
    workflow = workflows.flow_workflow(flow, kind_project)
    entry = load_entry(flow, kind_project)
    assert [workflows.run(workflow, inputs) for inputs in first_lines(kind_project)] == [
        dict(entry(**inputs)) for inputs in first_lines(kind_project)
    ]


def test_an_error_in_the_flow_surfaces_as_the_same_error(kind_project: Path):
    flow = kind_project / load(kind_project / "experiment.yaml").flows[0].path
    inputs = {**first_lines(kind_project)[0], "prompt": "no_such_prompt.jinja2"}
    with pytest.raises(Exception) as direct:
        load_entry(flow, kind_project)(**inputs)
    with pytest.raises(type(direct.value)) as through_workflow:
        workflows.run(workflows.flow_workflow(flow, kind_project), inputs)
    assert str(through_workflow.value) == str(direct.value)


def test_the_flows_span_is_traced_under_the_callers_span(trace_store: Path):
    project = sample_project("qa")
    inputs = first_lines(project)[0]
    workflow = workflows.flow_workflow(project / "flows/qa", project)
    with tracing.run_attributes(dataset="core_qa", variant="baseline"):
        with tracing.tracer().start_as_current_span("caller"):
            workflows.run(workflow, inputs)
        workflows.run(workflow, inputs)
    spans = monitor.read_spans([trace_store])
    caller = next(span for span in spans if span["name"] == "caller")
    flows = [span for span in spans if span["name"] == "flow qa"]
    assert [span["parent_id"] for span in flows] == [caller["span_id"], None]  # and alone, a root
    assert all(span["attributes"]["aiops.dataset"] == "core_qa" for span in flows)
    assert all(span["attributes"]["aiops.outputs"] for span in flows)
    chats = [span for span in spans if span["name"].startswith("chat ")]
    assert {span["parent_id"] for span in chats} == {span["span_id"] for span in flows}  # model calls below


def _run(experiment_file: Path, engine_name: str) -> ExperimentResults:
    engine = get_engine(engine_name, experiment_file.parent)
    return run_experiment(
        load(experiment_file),
        experiment_file.parent,
        engine,
        engine_name,
        2,
        lambda label, total: lambda: None,
    )


def test_an_experiment_through_the_workflow_engine_scores_as_in_process(tiny_experiment: Path):
    inprocess, workflow = _run(tiny_experiment, "inprocess"), _run(tiny_experiment, "workflow")
    assert [run.result.outputs for run in workflow.runs] == [run.result.outputs for run in inprocess.runs]
    assert all(run.result.failed == 0 and len(run.result.outputs) == 3 for run in workflow.runs)
    scores = [evaluation.result.metrics for evaluation in workflow.evaluations]
    assert scores == [evaluation.result.metrics for evaluation in inprocess.evaluations]
    assert scores[0]["f1_score"] > 0.5  # real scores, not two empty runs


def test_a_failing_line_fails_alone_with_the_flows_error(tiny_experiment: Path):
    data = tiny_experiment.parent / "core_qa.jsonl"
    lines = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([lines[0], '{"id": "x"}', lines[2]]) + "\n", encoding="utf-8")
    inprocess, workflow = _run(tiny_experiment, "inprocess"), _run(tiny_experiment, "workflow")
    assert workflow.runs[0].result.errors == inprocess.runs[0].result.errors
    assert "KeyError" in (workflow.runs[0].result.errors[1] or "")


def test_run_with_workflow_prints_the_flows_own_output():
    """`aiops run --workflow` in the project (the tests' working folder is the qa sample)."""
    inputs = [f"--input={name}={value}" for name, value in first_lines(sample_project("qa"))[0].items()]
    direct, through = (CliRunner().invoke(app, ["run", *inputs, *more]) for more in ([], ["--workflow"]))
    assert direct.exit_code == through.exit_code == 0, through.output
    assert json.loads(through.output) == json.loads(direct.output) and json.loads(direct.output)["answer"]


def run_command(experiment_file: Path) -> list[str]:
    return ["experiment", "run", "-f", str(experiment_file), "--engine", "workflow", "--output"]


def test_the_command_line_runs_the_engine(tiny_experiment: Path, tmp_path: Path):
    result = CliRunner().invoke(app, [*run_command(tiny_experiment), str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    (results,) = (tmp_path / "results").glob("*/results.json")
    assert yaml.safe_load(results.read_text(encoding="utf-8"))["engine"] == "workflow"


def test_without_agent_framework_each_is_one_line_naming_the_install(
    tiny_experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(workflows, "available", lambda: False)  # as without the agent extra
    with pytest.raises(workflows.AgentFrameworkMissing, match="needs the agent extra") as missing:
        workflows.flow_workflow(sample_project("qa") / "flows/qa")
    assert workflows.INSTALL_HINT in str(missing.value) and "\n" not in str(missing.value)
    result = CliRunner().invoke(app, [*run_command(tiny_experiment), str(tmp_path / "results")])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "engine: workflow needs the agent extra" in line and workflows.INSTALL_HINT in line
    assert not (tmp_path / "results").exists()
    result = CliRunner().invoke(app, ["run", "--input=question=Who?", "--input=context=QA.", "--workflow"])
    (line,) = result.output.strip().splitlines()
    assert result.exit_code == 1 and "needs the agent extra" in line and workflows.INSTALL_HINT in line
