"""The CLI a developer runs: `experiment run` saves JSON and markdown and prints metrics."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app

runner = CliRunner()


def test_experiment_run_writes_results_and_summary_for_each_dataset(tiny_experiment: Path, tmp_path: Path):
    result = runner.invoke(
        app, ["experiment", "run", "-f", str(tiny_experiment), "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "out").iterdir()
    saved = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert [(e["dataset"], e["lines"]) for e in saved["evaluations"]] == [("core_qa", 3), ("hard_qa", 3)]
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    for dataset in ("core_qa", "hard_qa"):
        assert f"| {{ cookiecutter.flow_kind }} | default | {dataset} | 3 | 0 |" in summary
    assert "Gate" not in summary  # no thresholds, no baseline: nothing to gate
    assert (folder / {{ ('evaluations/qa_metrics/' ~ cookiecutter.flow_kind ~ '/default/hard_qa/lines.jsonl') | jsonify }}).is_file()
    assert (folder / "report.html").is_file()
    assert "exact_match" in result.output


def test_two_runs_never_share_a_results_folder(tiny_experiment: Path, tmp_path: Path):
    for _ in range(2):
        runner.invoke(
            app, ["experiment", "run", "-f", str(tiny_experiment), "--output", str(tmp_path / "out")]
        )
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_validate_reports_a_bad_file_and_exits_2(tmp_path: Path):
    (tmp_path / "experiment.yaml").write_text("name: x\nflows: []\n", encoding="utf-8")
    result = runner.invoke(app, ["experiment", "validate", "-f", str(tmp_path / "experiment.yaml")])
    assert result.exit_code == 2
    assert "flows: List should have at least 1 item" in result.output


def test_validate_loads_every_flow_and_evaluator_entry(tiny_experiment: Path):
    ok = runner.invoke(app, ["experiment", "validate", "-f", str(tiny_experiment)])
    assert ok.exit_code == 0, ok.output
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    data["flows"][0]["column_mapping"]["topic"] = "${data.question}"
    tiny_experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["experiment", "validate", "-f", str(tiny_experiment)])
    assert result.exit_code == 2
    assert {{ ('flow ' ~ cookiecutter.flow_kind ~ ": mapped inputs ['topic'] are not parameters") | jsonify }} in result.output
