"""Both engines run the same flows to the same results; the in-process one is the default."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml
from conftest import sample_project
from typer.testing import CliRunner

from aiops_platform import monitor, promptflow_adapter
from aiops_platform.cli import app
from aiops_platform.engines import get_engine
from aiops_platform.experiment import load
from aiops_platform.results import ExperimentResults
from aiops_platform.runner import run_experiment

PROMPT_FLOW_SERVICE_PORT = 23333


def _run(experiment_file: Path, engine_name: str) -> ExperimentResults:
    experiment = load(experiment_file)
    engine = get_engine(engine_name, experiment_file.parent)
    return run_experiment(
        experiment, experiment_file.parent, engine, engine_name, 2, lambda label, total: lambda: None
    )


def test_inprocess_runs_every_dataset_and_scores_each_run(tiny_experiment: Path):
    results = _run(tiny_experiment, "inprocess")
    flow = "qa"
    assert [(r.flow, r.dataset) for r in results.runs] == [(flow, "core_qa"), (flow, "hard_qa")]
    assert all(r.result.failed == 0 and len(r.result.outputs) == 3 for r in results.runs)
    for evaluation in results.evaluations:
        assert set(evaluation.result.metrics) == {"exact_match", "f1_score", "rouge_l"}
        assert all(0.0 <= value <= 1.0 for value in evaluation.result.metrics.values())
    core = results.evaluations[0].result.metrics
    assert core["exact_match"] == 1.0  # the stand-in extracts the exact sentence for the core set


def test_a_failing_line_is_recorded_and_the_rest_still_run(tiny_experiment: Path):
    data = tiny_experiment.parent / "core_qa.jsonl"
    lines = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([lines[0], '{"id": "x"}', lines[2]]) + "\n", encoding="utf-8")
    results = _run(tiny_experiment, "inprocess")
    core_run, core_eval = results.runs[0].result, results.evaluations[0].result
    assert core_run.failed == 1 and "KeyError" in (core_run.errors[1] or "")
    assert core_eval.failed == 1 and core_eval.outputs[0] is not None


def test_engine_promptflow_without_prompt_flow_is_one_line_naming_the_install(
    tiny_experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(promptflow_adapter, "available", lambda: False)  # as with PROMPTFLOW=0
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    tiny_experiment.write_text(yaml.safe_dump({**data, "engine": "promptflow"}), encoding="utf-8")
    command = ["experiment", "run", "-f", str(tiny_experiment), "--output", str(tmp_path / "results")]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "engine: promptflow needs Prompt Flow" in line and "make install PROMPTFLOW=1" in line
    assert not (tmp_path / "results").exists()


def test_engine_promptflow_in_an_agent_project_names_what_to_use_not_an_install_it_refuses(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(promptflow_adapter, "available", lambda: False)
    monkeypatch.chdir(sample_project("agent"))  # its make install refuses PROMPTFLOW=1
    with pytest.raises(promptflow_adapter.PromptFlowMissing) as missing:
        promptflow_adapter.require("engine: promptflow")
    said = str(missing.value)
    assert "agent project never has" in said and "engine: inprocess or workflow" in said
    assert "PROMPTFLOW=1" not in said and "\n" not in said


@pytest.mark.promptflow
def test_promptflow_engine_gives_the_same_outputs_and_metrics(
    tiny_experiment: Path, project_root: Path, shipped: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    data["datasets"] = data["datasets"][:1]  # each Prompt Flow run costs ~4 s: 2 variants x 3 evaluators
    data["flows"][0]["variants"] = [
        {"name": "baseline"},
        {"name": "concise", "inputs": {"prompt": "qa_concise.jinja2"}},
    ]
    judges = next(evaluator for evaluator in shipped["evaluators"] if evaluator["name"] == "judges")
    project = tiny_experiment.parent  # evaluators run only from inside the experiment's project
    shutil.copytree(project_root / "evaluators", project / "evaluators")
    shutil.copytree(project_root / judges["path"], project / judges["path"])
    data["evaluators"] += [
        {"name": "length", "path": "evaluators/answer_length.py:answer_length"},
        {key: value for key, value in judges.items() if key != "datasets"},  # scores the one kept
    ]
    tiny_experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    fast = _run(tiny_experiment, "inprocess")
    monkeypatch.setenv("AIOPS_TRACE_DIR", str(tmp_path / "pf-traces"))  # Prompt Flow's workers inherit it
    prompt_flow = _run(tiny_experiment, "promptflow")
    assert [r.result.outputs for r in prompt_flow.runs] == [r.result.outputs for r in fast.runs]
    for ours, theirs in zip(fast.evaluations, prompt_flow.evaluations, strict=True):
        assert theirs.result.metrics == pytest.approx(ours.result.metrics)
        for their_line, our_line in zip(theirs.result.outputs, ours.result.outputs, strict=True):
            assert their_line == pytest.approx(our_line)
    roots = monitor.requests(monitor.read_spans([tmp_path / "pf-traces"]))
    flow_spans = [span["attributes"] for span in roots if "aiops.flow" in span["attributes"]]
    labels = {(attributes["aiops.variant"], attributes["aiops.dataset"]) for attributes in flow_spans}
    # written in Prompt Flow's worker processes, labelled all the same
    assert labels == {("baseline", "core_qa"), ("concise", "core_qa")}
    with socket.socket() as probe:
        service_left_running = probe.connect_ex(("127.0.0.1", PROMPT_FLOW_SERVICE_PORT)) == 0
    assert not service_left_running
