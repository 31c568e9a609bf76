"""The CLI a developer runs: `experiment run` saves JSON and markdown and prints metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aiops_platform.cli import app

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
        assert f"| qa | default | {dataset} | 3 | 0 |" in summary
    assert "Gate" not in summary  # no thresholds, no baseline: nothing to gate
    assert (folder / "evaluations/qa_metrics/qa/default/hard_qa/lines.jsonl").is_file()
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


def test_validate_loads_every_flow_and_evaluator_entry(project_copy: Path):
    ok = runner.invoke(app, ["experiment", "validate"])
    assert ok.exit_code == 0, ok.output
    spec = project_copy / "experiment.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data["flows"][0]["column_mapping"]["topic"] = "${data.question}"
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["experiment", "validate"])
    assert result.exit_code == 2
    assert "flow qa: mapped inputs ['topic'] are not parameters" in result.output


def test_validate_never_imports_code_from_outside_the_project(project_copy: Path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    marker = outside / "imported"
    (outside / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\ndef f(answer):\n    return dict()\n",
        encoding="utf-8",
    )
    spec = project_copy / "experiment.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    relative = os.path.relpath(outside / "evil.py", project_copy)
    data["evaluators"].append({"name": "evil", "path": f"{relative}:f"})
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["experiment", "validate"])
    assert result.exit_code == 2
    assert "evaluator evil" in result.output and "outside the project" in result.output
    assert not marker.exists()


def test_an_unknown_environment_is_named_with_the_ones_there_are(project_copy: Path):
    result = runner.invoke(app, ["experiment", "validate", "--env", "staging"])
    assert result.exit_code == 2
    expected = "'staging' is not an environment: no experiment.staging.yaml; choose one of"
    assert f"{expected} dev, pr, prod, test" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "1", "question": "unclosed"\n', "core_qa.jsonl:1: not valid JSON"),
        ('\ufeff{"id": "1"}\n', "core_qa.jsonl:1: starts with a byte-order mark (BOM)"),
        ("", "core_qa.jsonl: no lines"),
    ],
    ids=["malformed-line", "byte-order-mark", "empty-file"],
)
def test_run_checks_the_data_first_and_names_file_and_line(
    tiny_experiment: Path, tmp_path: Path, content: str, message: str
):
    (tiny_experiment.parent / "core_qa.jsonl").write_text(content, encoding="utf-8")
    output = tmp_path / "results"
    result = runner.invoke(app, ["experiment", "run", "-f", str(tiny_experiment), "--output", str(output)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert message in result.output and "nothing ran" in result.output
    assert "Traceback" not in result.output and not output.exists()


EVIL = "from pathlib import Path\nPath({marker!r}).touch()\ndef f(answer):\n    return dict()\n"


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("named_as", ["dot-dot", "absolute", "symlink-inside"])
def test_no_command_imports_an_evaluator_from_outside_the_project(
    project_copy: Path, tmp_path_factory, command: str, named_as: str
):
    """`run` refuses what `validate` refuses, before anything is imported: the module never runs."""
    outside = tmp_path_factory.mktemp("evil")
    marker = outside / "imported"
    (outside / "evaluator.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    if named_as == "dot-dot":
        path = os.path.relpath(outside / "evaluator.py", project_copy)
    elif named_as == "absolute":
        path = str(outside / "evaluator.py")
    else:
        (project_copy / "evaluators" / "linked.py").symlink_to(outside / "evaluator.py")
        path = "evaluators/linked.py"
    spec = project_copy / "experiment.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data["evaluators"].append({"name": "evil", "path": f"{path}:f"})
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["experiment", command])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    (line,) = [line for line in result.output.splitlines() if "outside the project" in line]
    assert f"evaluator evil ({path}:f)" in line and "only files inside it are read or run" in line
    assert "Traceback" not in result.output
    assert not marker.exists() and not (project_copy / "results").exists()


def test_a_flow_whose_spec_points_outside_the_project_is_refused_before_import(
    project_copy: Path, tmp_path_factory
):
    outside = tmp_path_factory.mktemp("evil")
    marker = outside / "imported"
    (outside / "evil.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    spec = project_copy / "flows" / "qa" / "flow.flex.yaml"
    text = spec.read_text(encoding="utf-8")
    entry = re.search(r"^entry: .*$", text, re.MULTILINE)[0]
    spec.write_text(text.replace(entry, f"entry: {json.dumps(f'{outside}/evil:f')}"), encoding="utf-8")
    result = runner.invoke(app, ["experiment", "run"])
    assert result.exit_code == 2, result.output
    assert "is outside the project" in result.output and "nothing ran" in result.output
    assert not marker.exists()


def test_an_evaluator_parameter_found_nowhere_is_one_line(project_copy: Path):
    """Without a column_mapping, each evaluator parameter is a flow output or a data column; one that
    is neither is known once the flow has run, and is the line to fix, not a traceback."""
    (project_copy / "evaluators" / "needs_more.py").write_text(
        "def needs_more(answer, verdict):\n    return {}\n", encoding="utf-8"
    )
    spec = project_copy / "experiment.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data["evaluators"].append({"name": "needs_more", "path": "evaluators/needs_more.py:needs_more"})
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["experiment", "run"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    (line,) = [line for line in result.output.splitlines() if "Error" in line]
    assert "parameter 'verdict' is neither a flow output" in line and line.endswith("add a column_mapping")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_flow_whose_additional_include_lies_outside_the_project_is_refused(
    project_copy: Path, tmp_path_factory, command: str
):
    """Prompt Flow copies a flow's additional_includes over its own files: an outside file named like
    the entry module replaced the checked one and ran (engine: promptflow)."""
    outside = tmp_path_factory.mktemp("evil")
    marker = outside / "imported"
    spec = project_copy / "flows" / "qa" / "flow.flex.yaml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    module = data["entry"].partition(":")[0]
    (outside / f"{module}.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    data["additional_includes"] = [*data.get("additional_includes", []), str(outside / f"{module}.py")]
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["experiment", command])
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if "additional include" in line]
    assert "is outside the project" in line and "Traceback" not in result.output
    assert not marker.exists() and not (project_copy / "results").exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_flow_entry_named_like_a_module_python_finds_elsewhere_is_refused(project_copy: Path, command: str):
    """Prompt Flow imports a flex entry by name: `entry: os:popen` beside a decoy flows/<flow>/os.py
    passes a check of the file, then runs the standard library's popen (a dataset value as a shell
    command). The name must be the flow's own."""
    flow = project_copy / "flows" / "qa"
    spec = flow / "flow.flex.yaml"
    text = spec.read_text(encoding="utf-8")
    entry = re.search(r"^entry: .*$", text, re.MULTILINE)[0]
    module, _, function = yaml.safe_load(entry)["entry"].partition(":")
    shutil.copy(flow / f"{module}.py", flow / "os.py")  # the decoy: the flow's own code, under os
    spec.write_text(text.replace(entry, f"entry: {json.dumps(f'os:{function}')}"), encoding="utf-8")
    result = runner.invoke(app, ["experiment", command])
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if "names module 'os'" in line]
    assert "the standard library" in line and "rename the file" in line
    assert "Traceback" not in result.output and not (project_copy / "results").exists()
