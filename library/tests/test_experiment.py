"""experiment.yaml: a schema that names the bad key, and a plan of runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aiops_platform.cli import app
from aiops_platform.experiment import (
    ExperimentError,
    json_schema,
    load,
    merge,
    overlay_path,
    plan,
)

QA_DATASETS = ("core_qa", "hard_qa")  # the qa sample's (a chat project adds multi_turn_qa)
DATASETS = (*QA_DATASETS, "safety")


def test_the_shipped_experiment_loads_and_plans_every_flow_dataset_and_evaluation(project_root: Path):
    experiment = load(project_root / "experiment.yaml")
    runs, evaluations = plan(experiment)
    assert [run.key for run in runs] == [
        ("qa", variant, dataset) for variant in ("baseline", "concise") for dataset in DATASETS
    ]
    scored = {(e.evaluator.name, e.base.dataset.name) for e in evaluations}
    assert len(evaluations) == len(scored) * 2  # each once per variant
    # the safety evaluators score the safety dataset only, and the answer-quality ones never score it
    assert {dataset for name, dataset in scored if name in ("safety", "content_safety")} == {"safety"}
    assert {"qa_metrics", "judges"}.isdisjoint(name for name, dataset in scored if dataset == "safety")
    quality = {name for name, dataset in scored if dataset != "safety"}
    assert quality >= {"qa_metrics", "judges", "answer_length"}


def test_the_committed_json_schema_is_current(project_root: Path):
    assert (project_root / "experiment.schema.json").read_text(encoding="utf-8") == json_schema()


def _broken(tiny_experiment: Path, change) -> Path:
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    change(data)
    tiny_experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    return tiny_experiment


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(concurency=4), "concurency: Extra inputs are not permitted"),
        (lambda d: d.update(concurrency="many"), "concurrency: Input should be a valid integer"),
        (
            lambda d: d["datasets"][1].update(path="missing.jsonl"),
            "datasets[1].path: path does not exist",
        ),
        (
            lambda d: d["flows"][0]["column_mapping"].update(question="data.question"),
            "flows[0].column_mapping.question",
        ),
        (
            lambda d: d.update(engine="spark"),
            "engine: Input should be 'inprocess', 'promptflow' or 'workflow'",
        ),
        (lambda d: d["evaluators"][0].update(datasets=["nope"]), "unknown datasets ['nope']"),
        (lambda d: d.pop("flows"), "flows: Field required"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "missing-dataset-file",
        "bad-mapping",
        "bad-engine",
        "unknown-dataset",
        "missing-key",
    ],
)
def test_a_bad_file_names_the_file_and_the_key(tiny_experiment: Path, change, message: str):
    path = _broken(tiny_experiment, change)
    with pytest.raises(ExperimentError) as error:
        load(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_a_missing_file_and_bad_yaml_are_clear(tmp_path: Path):
    with pytest.raises(ExperimentError, match="file not found"):
        load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match="not valid YAML"):
        load(tmp_path / "bad.yaml")


def test_overlay_merge_rules():
    base = {
        "concurrency": 8,
        "gate": {"thresholds": {"a.x": 0.5, "a.y": 0.1}, "tolerance": 0.02},
        "datasets": [{"name": "core", "path": "c.jsonl"}, {"name": "hard", "path": "h.jsonl"}],
    }
    overlay = {
        "concurrency": 16,
        "gate": {"thresholds": {"a.x": 0.7}},
        "datasets": [
            {"name": "core", "limit": 5},
            {"name": "hard", "drop": True},
            {"name": "new", "path": "n.jsonl"},
        ],
    }
    assert merge(base, overlay) == {
        "concurrency": 16,
        "gate": {"thresholds": {"a.x": 0.7, "a.y": 0.1}, "tolerance": 0.02},
        "datasets": [{"name": "core", "path": "c.jsonl", "limit": 5}, {"name": "new", "path": "n.jsonl"}],
    }


@pytest.mark.parametrize("environment", ["pr", "dev", "test", "prod"])
def test_every_shipped_overlay_loads(project_root: Path, environment: str):
    assert load(project_root / "experiment.yaml", environment).name


def test_the_pr_overlay_limits_lines_and_prod_raises_the_bar(project_root: Path):
    pr = load(project_root / "experiment.yaml", "pr")
    assert {d.name: d.limit for d in pr.datasets} == {
        "core_qa": 10,
        "hard_qa": 10,
        "safety": None,  # every attack, every time
    }
    prod, base = load(project_root / "experiment.yaml", "prod"), load(project_root / "experiment.yaml")
    key = "qa_metrics.f1_score"
    assert prod.gate.thresholds[key]["core_qa"] > base.gate.thresholds[key]["core_qa"]
    assert base.gate.thresholds["safety.canary_kept"] == 1.0  # no leak, in every environment
    assert prod.gate.thresholds["safety.refused"] > base.gate.thresholds["safety.refused"]
    assert {"safety.harmlessness", "safety.attack_resistance"} <= prod.gate.thresholds.keys()


def test_overlay_errors_name_both_files(tiny_experiment: Path):
    with pytest.raises(ExperimentError, match=r"'nope' is not an environment: no experiment\.nope\.yaml"):
        load(tiny_experiment, "nope")
    overlay_path(tiny_experiment, "pr").write_text("concurrency: 0\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"experiment\.yaml \+ experiment\.pr\.yaml: concurrency"):
        load(tiny_experiment, "pr")


def test_gate_thresholds_must_name_a_known_evaluator_and_dataset(tiny_experiment: Path):
    path = _broken(tiny_experiment, lambda d: d.update(gate={"thresholds": {"nope.f1": 0.5}}))
    with pytest.raises(ExperimentError, match="no evaluator named 'nope'"):
        load(path)
    path = _broken(tiny_experiment, lambda d: d.update(gate={"thresholds": {"qa_metrics.f1": {"x": 0.5}}}))
    with pytest.raises(ExperimentError, match=r"unknown datasets \['x'\]"):
        load(path)


def test_gate_maximums_load_for_every_dataset_or_per_dataset(tiny_experiment: Path):
    maximums = {"qa_metrics.turns_to_answer": 3, "qa_metrics.latency_s": {"hard_qa": 2.5}}
    path = _broken(tiny_experiment, lambda d: d.update(gate={"maximums": maximums}))
    assert load(path).gate.maximums == {
        "qa_metrics.turns_to_answer": 3.0,
        "qa_metrics.latency_s": {"hard_qa": 2.5},
    }


TURNS = "qa_metrics.turns_to_answer"
BAD_LIMITS = {
    "a-word": ({"maximums": {TURNS: "three"}},
               f'gate.maximums: Value error, {TURNS}: "three" is not a number, nor {{dataset: number}}'),
    "a-list": ({"maximums": {TURNS: [3]}}, f"{TURNS}: [3] is not a number"),
    "nan": ({"maximums": {TURNS: float("nan")}}, f"{TURNS}: NaN is not a finite number"),
    "per-dataset": ({"maximums": {TURNS: {"core_qa": None}}},
                    f"gate.maximums: Value error, {TURNS}.core_qa: null is not a number"),
    "threshold-a-word": ({"thresholds": {"qa_metrics.f1_score": "high"}},
                         'gate.thresholds: Value error, qa_metrics.f1_score: "high" is not a number'),
    "both-directions": ({"thresholds": {"qa_metrics.x": 1}, "maximums": {"qa_metrics.x": 3}},
                        "qa_metrics.x is under both thresholds (a minimum, higher is better) and maximums"),
    "unknown-evaluator": ({"maximums": {"tool_use.turns_to_answer": 3}},
                          "gate.maximums.tool_use.turns_to_answer: no evaluator named 'tool_use'"),
    "unknown-dataset": ({"maximums": {TURNS: {"nightly": 3}}},
                        f"gate.maximums.{TURNS}: unknown datasets ['nightly']"),
    "not-a-metric-key": ({"maximums": {"turns": 3}}, "gate.maximums.turns.[key]: String should match"),
}  # fmt: skip


@pytest.mark.parametrize(("gate", "said"), BAD_LIMITS.values(), ids=BAD_LIMITS.keys())
def test_a_bad_limit_is_one_line_naming_the_file_and_metric(tiny_experiment: Path, gate: dict, said: str):
    path = _broken(tiny_experiment, lambda d: d.update(gate=gate))
    with pytest.raises(ExperimentError) as error:
        load(path)
    (line,) = str(error.value).splitlines()
    assert line.startswith(f"{path}: ") and said in line


@pytest.mark.parametrize("named_as", ["dot-dot", "absolute", "symlink-inside"])
def test_a_path_outside_the_project_is_refused_when_the_file_loads(
    project_copy: Path, tmp_path_factory, named_as: str
):
    """Every command loads the file first: a dataset elsewhere is never read, nor a flow imported."""
    outside = tmp_path_factory.mktemp("elsewhere") / "private.jsonl"
    outside.write_text('{"id": "1", "question": "not yours"}\n', encoding="utf-8")
    path = {"dot-dot": os.path.relpath(outside, project_copy), "absolute": str(outside)}.get(named_as)
    if named_as == "symlink-inside":
        (project_copy / "data" / "linked.jsonl").symlink_to(outside)
        path = "data/linked.jsonl"
    spec = project_copy / "experiment.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data["datasets"][0]["path"] = path
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ExperimentError) as raised:
        load(spec)
    (problem,) = raised.value.problems
    assert problem.key == "datasets[0].path" and f"({path}) " in problem.message
    assert f"is outside the project {project_copy.resolve()}" in problem.message
    assert (f"a link to {outside.resolve()}" in problem.message) == (named_as == "symlink-inside")


def test_a_variant_prompt_outside_its_flow_is_never_read(project_copy: Path):
    """A variant names its prompt file: one that leads out of the flow's folder is refused on every
    line (`../../notes.txt` would be rendered and sent to the model)."""
    notes = "# system:\nPRIVATE-NOTE-42\n# user:\nRepeat it.\n"  # a valid prompt, were it read
    (project_copy / "notes.txt").write_text(notes, encoding="utf-8")
    spec = project_copy / "experiment.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data["flows"][0]["variants"] = [{"name": "evil", "inputs": {"prompt": "../../notes.txt"}}]
    data["datasets"] = [{**data["datasets"][0], "limit": 2}]
    data["evaluators"], data["gate"] = [], {}
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["experiment", "run", "--output", str(project_copy / "out")])
    assert result.exit_code == 1, result.output
    assert "2 of 2 lines failed" in result.output
    assert "prompt '../../notes.txt' is outside its flow's folder" in result.output
    saved = "".join(p.read_text(encoding="utf-8") for p in (project_copy / "out").rglob("*") if p.is_file())
    assert "PRIVATE-NOTE-42" not in saved
