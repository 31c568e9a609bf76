"""experiment.yaml: a schema that names the bad key, and a plan of runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.experiment import ExperimentError, json_schema, load, plan


def test_the_shipped_experiment_loads_and_plans_every_flow_dataset_and_evaluation(project_root: Path):
    experiment = load(project_root / "experiment.yaml")
    runs, evaluations = plan(experiment)
    assert [(r.flow.name, r.dataset.name) for r in runs] == [("qa", "core_qa"), ("qa", "hard_qa")]
    assert [(e.evaluator.name, e.base.dataset.name) for e in evaluations] == [
        ("qa_metrics", "core_qa"),
        ("qa_metrics", "hard_qa"),
    ]


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
            "datasets[1].path: Value error, path does not exist",
        ),
        (
            lambda d: d["flows"][0]["column_mapping"].update(question="data.question"),
            "flows[0].column_mapping.question",
        ),
        (lambda d: d.update(engine="spark"), "engine: Input should be 'inprocess' or 'promptflow'"),
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
