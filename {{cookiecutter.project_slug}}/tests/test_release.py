"""Release records: every experiment run writes one; a diff names exactly what changed between two."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import registry, release
from {{ cookiecutter.package_name }}.cli import app

runner = CliRunner()
FLOW_KIND = {{ cookiecutter.flow_kind | jsonify }}


def _register(project: Path) -> None:
    data = project / "data" / "core_qa.jsonl"
    spec = registry.DataSpec("small_core_qa", "uri_file", data, "3 lines", project / "data" / "core_qa.yml")
    registry.LocalRegistry(project).register(spec, registry.content_hash(data))


def _gated_run(project: Path, output: str) -> Path:
    arguments = ["experiment", "run", "--gate", "-f", str(project / "experiment.yaml")]
    result = runner.invoke(app, [*arguments, "--output", str(project / output)])
    assert result.exit_code == 0, result.output
    (record,) = (project / output).glob("*/release.json")
    return record


def test_the_committed_json_schema_is_current(project_root: Path):
    assert (project_root / release.SCHEMA_FILE).read_text(encoding="utf-8") == release.json_schema()


def test_a_run_records_its_files_data_model_scores_and_verdict(small_project: Path):
    _register(small_project)
    record = release.read(_gated_run(small_project, "one"))
    prompt = f"flows/{FLOW_KIND}/{FLOW_KIND}.jinja2"
    assert prompt in record.files and f"flows/{FLOW_KIND}/flow.py" in record.files
    assert "experiment.yaml" in record.files
    (data,) = record.data
    assert data.asset == "small_core_qa:1" and data.path == "data/core_qa.jsonl"
    assert record.model.provider == "offline" and record.model.model == "offline-extractive"
    assert record.evaluation is not None and record.evaluation.gate.passed and record.evaluation.gate.enforced
    assert record.evaluation.gate.thresholds == {"qa_metrics.f1_score": 0.1}
    assert {score.evaluator for score in record.evaluation.scores} == {"qa_metrics"}
    raw = json.loads((small_project / "one").glob("*/release.json").__next__().read_text(encoding="utf-8"))
    assert raw["$schema"] == "release.schema.json"


def test_a_prompt_edit_is_the_one_file_the_diff_names_and_new_data_a_new_version(small_project: Path):
    _register(small_project)
    first = _gated_run(small_project, "one")
    prompt = small_project / "flows" / FLOW_KIND / f"{FLOW_KIND}.jinja2"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\nBe precise.\n", encoding="utf-8")
    second = _gated_run(small_project, "two")
    changes = release.diff(release.read(first), release.read(second))
    assert [line for line in changes if line.startswith("file ")] == [
        f"file flows/{FLOW_KIND}/{FLOW_KIND}.jinja2: changed"
    ]

    data = small_project / "data" / "core_qa.jsonl"
    data.write_text(data.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    _register(small_project)
    third = _gated_run(small_project, "four")
    result = runner.invoke(app, ["release", "diff", str(second), str(third)])
    assert result.exit_code == 0, result.output
    assert "data core_qa: small_core_qa:1 -> small_core_qa:2" in result.output
    assert "file " not in result.output


def test_show_prints_the_record_and_a_non_record_is_one_line(small_project: Path, tmp_path: Path):
    record = _gated_run(small_project, "one")
    shown = runner.invoke(app, ["release", "show", str(record.parent)])
    assert shown.exit_code == 0, shown.output
    assert "offline offline-extractive" in shown.output
    assert "unregistered" in shown.output  # no version holds this data (not registered): said, not guessed
    not_a_record = tmp_path / "results.json"
    not_a_record.write_text("{}", encoding="utf-8")
    refused = runner.invoke(app, ["release", "show", str(not_a_record)])
    assert refused.exit_code == 2 and "is not a release record" in refused.output
    assert "Traceback" not in refused.output


def test_a_deployment_ships_only_a_passed_gate_and_records_where_and_who(
    small_project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(small_project)
    refused = runner.invoke(app, ["release", "tags"])
    assert refused.exit_code == 1 and "no release record: run `make gate` first" in refused.output
    gated = _gated_run(small_project, "results")
    tags = runner.invoke(app, ["release", "tags"])
    assert tags.exit_code == 0, tags.output
    settings = dict(line.split("=", 1) for line in tags.output.splitlines())
    assert settings["AIOPS_RELEASE_GATE"] == "passed"
    assert settings["AIOPS_RELEASE_MODEL"] == "offline:offline-extractive"
    assert settings["AIOPS_RELEASE_DATA"].startswith("unregistered:")

    pipeline = {"GITHUB_ACTOR": "qa-lead", "GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "o/r"}
    for name, value in {"DEPLOY_ENVIRONMENT": "test", **pipeline}.items():
        monkeypatch.setenv(name, value)
    for name in ("GH_TOKEN", "GITHUB_TOKEN"):  # approvals: test_approvals.py reads them from a stand-in
        monkeypatch.delenv(name, raising=False)
    done = runner.invoke(app, ["release", "deployed", "--target", "app-test"])
    assert done.exit_code == 0, done.output
    deployed = release.read(small_project / "results" / "release-test.json")
    assert deployed.kind == "deployment" and deployed.deployment is not None
    assert (deployed.deployment.environment, deployed.deployment.target) == ("test", "app-test")
    assert deployed.deployment.approver == "qa-lead"
    assert deployed.deployment.run_url == "https://github.com/o/r/actions/runs/42"
    assert deployed.deployment.approvals is None and deployed.deployment.approvals_note  # says why
    card = (small_project / "results" / "system_card-test.md").read_text(encoding="utf-8")
    assert "- Deployed: app-test in test at " in card and "- Approved by: not on record (" in card
    assert release.diff(release.read(gated), deployed) == []  # what was evaluated is what went out

    failed = json.loads(gated.read_text(encoding="utf-8"))
    failed["evaluation"]["gate"]["passed"] = False
    gated.write_text(json.dumps(failed), encoding="utf-8")
    assert "its gate did not pass" in runner.invoke(app, ["release", "tags"]).output


def test_the_newest_record_is_the_newest_run_even_when_an_older_one_was_copied_later(tmp_path: Path):
    results = tmp_path / "results"
    for name, created in (("b-new", "2026-02-01T00:00:00+00:00"), ("a-old", "2026-01-01T00:00:00+00:00")):
        (results / name).mkdir(parents=True)  # the older run is written second, as a download would be
        (results / name / release.RECORD).write_text(json.dumps({"created": created}), encoding="utf-8")
    assert release.latest(tmp_path) == results / "b-new" / release.RECORD
