"""A custom evaluator is one file plus one line: parameters are matched by name."""

from pathlib import Path

import pytest
import yaml

from aiops_platform.engines import get_engine
from aiops_platform.experiment import load
from aiops_platform.runner import MappingError, run_experiment


def _add_evaluator(experiment: Path, source: str, entry: str) -> Path:
    (experiment.parent / "my_metric.py").write_text(source, encoding="utf-8")
    data = yaml.safe_load(experiment.read_text(encoding="utf-8"))
    data["evaluators"].append({"name": "mine", "path": f"my_metric.py:{entry}"})
    experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    return experiment


def _run(experiment_file: Path):
    experiment = load(experiment_file)
    engine = get_engine("inprocess", experiment_file.parent)
    return run_experiment(experiment, experiment_file.parent, engine, "inprocess", 2, lambda *_: lambda: None)


def test_parameters_come_from_flow_outputs_then_data_columns(tiny_experiment: Path):
    source = "def overlap(answer, ground_truth):\n    return {'same': float(answer == ground_truth)}\n"
    results = _run(_add_evaluator(tiny_experiment, source, "overlap"))
    mine = [e for e in results.evaluations if e.evaluator == "mine"]
    assert [e.dataset for e in mine] == ["core_qa", "hard_qa"]
    assert mine[0].result.metrics == {"same": 1.0}  # the mean of the lines, no __aggregate__ needed


def test_an_unmatched_parameter_is_a_clear_error(tiny_experiment: Path):
    source = "def needs(colour: str) -> dict:\n    return {'x': 1.0}\n"
    with pytest.raises(MappingError, match="parameter 'colour' is neither a flow output"):
        _run(_add_evaluator(tiny_experiment, source, "needs"))
