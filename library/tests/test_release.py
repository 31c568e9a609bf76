"""Release records: every experiment run writes one; a diff names exactly what changed between two.
A deployment ships a record only as evidence for what it deploys, and a record is printed as text."""

import json
import math
import os
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT
from typer.testing import CliRunner

from aiops_platform import gate, project, registry, release, terminal
from aiops_platform.cli import app
from aiops_platform.experiment import GateConfig, load

runner = CliRunner()
FLOW_KIND = project.load(PROJECT_ROOT).flow_kind  # small_project copies this sample's flow


def _register(project: Path) -> None:
    data = project / "data" / "core_qa.jsonl"
    spec = registry.DataSpec("small_core_qa", "uri_file", data, "3 lines", project / "data" / "core_qa.yml")
    registry.LocalRegistry(project).register(spec, registry.content_hash(data))


def _gated_run(project: Path, output: str, passes: bool = True) -> Path:
    arguments = ["experiment", "run", "--gate", "-f", str(project / "experiment.yaml")]
    before = set((project / output).glob("*/release.json"))
    result = runner.invoke(app, [*arguments, "--output", str(project / output)])
    assert result.exit_code == (0 if passes else 1), result.output
    (record,) = set((project / output).glob("*/release.json")) - before
    return record


def _git(project: Path, *arguments: str) -> str:
    identity = ["-c", "user.name=Release Tester", "-c", "user.email=release@example.com"]
    done = subprocess.run(
        ["git", *identity, *arguments], cwd=project, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def committed(small_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """small_project as a git checkout at one commit, and the working directory (as for make deploy)."""
    (small_project / ".gitignore").write_text("results/\n", encoding="utf-8")
    _git(small_project, "init", "--quiet")
    _git(small_project, "add", "--all")
    _git(small_project, "commit", "--quiet", "--message", "the commit the gate runs on")
    monkeypatch.chdir(small_project)
    return small_project


def _edit(path: Path, change) -> None:
    """Change a JSON file the way a hand (or a script) would: parse, change, write."""
    loaded = json.loads(path.read_text(encoding="utf-8"))
    change(loaded)
    path.write_text(json.dumps(loaded), encoding="utf-8")


def _refusal(record: Path) -> str:
    """What `release tags` (every deploy path's check) says about `record`: exactly one line."""
    refused = runner.invoke(app, ["release", "tags", "--release", str(record)])
    assert refused.exit_code == 1, refused.output
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1, refused.output
    return refused.output


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
    committed: Path, monkeypatch: pytest.MonkeyPatch
):
    small_project = committed
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


def test_an_environment_name_never_becomes_a_path(committed: Path, monkeypatch: pytest.MonkeyPatch):
    """The environment names the deployment's files: from the command line or a record, no path in it."""
    small_project = committed
    _gated_run(small_project, "results")
    for name in ("GH_TOKEN", "GITHUB_TOKEN", "SYSTEM_ACCESSTOKEN"):  # no CI system to ask for approvals
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEPLOY_ENVIRONMENT", "../../outside")
    refused = runner.invoke(app, ["release", "deployed", "--target", "app"])
    assert refused.exit_code == 2 and "environment ../../outside: use letters" in refused.output
    monkeypatch.setenv("DEPLOY_ENVIRONMENT", "test")
    assert runner.invoke(app, ["release", "deployed", "--target", "app"]).exit_code == 0
    deployed = small_project / "results" / "release-test.json"
    _edit(deployed, lambda raw: raw["deployment"].update(environment="../../outside"))
    card = runner.invoke(app, ["release", "card", str(deployed)])
    assert card.exit_code == 2 and "is not a release record" in card.output
    assert not [*small_project.rglob("outside.*"), *small_project.parent.glob("outside.*")]


def test_the_newest_record_is_the_newest_run_even_when_an_older_one_was_copied_later(tmp_path: Path):
    results = tmp_path / "results"
    for name, created in (("b-new", "2026-02-01T00:00:00+00:00"), ("a-old", "2026-01-01T00:00:00+00:00")):
        (results / name).mkdir(parents=True)  # the older run is written second, as a download would be
        (results / name / release.RECORD).write_text(json.dumps({"created": created}), encoding="utf-8")
    assert release.latest(tmp_path) == results / "b-new" / release.RECORD


def test_a_failed_gate_edited_to_say_passed_is_not_deployable(committed: Path):
    experiment = committed / "experiment.yaml"
    strict = yaml.safe_load(experiment.read_text(encoding="utf-8"))
    strict["gate"]["thresholds"] = {"qa_metrics.f1_score": 1.5}  # no answer scores that
    experiment.write_text(yaml.safe_dump(strict, sort_keys=False), encoding="utf-8")
    _git(committed, "commit", "--quiet", "--all", "--message", "a threshold nothing passes")
    record = _gated_run(committed, "results", passes=False)
    passed = {"passed": True, "failures": []}
    _edit(record, lambda raw: raw["evaluation"]["gate"].update(passed))
    _edit(record.with_name("results.json"), lambda raw: raw["gate"].update(passed))
    assert "says passed, but its results fail the gate: qa_metrics.f1_score" in _refusal(record)

    _edit(record, lambda raw: raw["evaluation"]["gate"].update(thresholds={"qa_metrics.f1_score": 0.1}))
    assert "its thresholds are not those of experiment.yaml" in _refusal(record)
    loosened = {"thresholds": strict["gate"]["thresholds"], "maximums": {"qa_metrics.exact_match": 9.0}}
    _edit(record, lambda raw: raw["evaluation"]["gate"].update(loosened))  # a maximum the file lacks
    assert "its thresholds are not those of experiment.yaml" in _refusal(record)


def test_a_record_gated_on_an_earlier_commit_is_not_deployable(committed: Path):
    record = _gated_run(committed, "results")
    gated_on = _git(committed, "rev-parse", "HEAD")
    prompt = committed / "flows" / FLOW_KIND / f"{FLOW_KIND}.jinja2"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\nAnswer anything.\n", encoding="utf-8")
    _git(committed, "commit", "--quiet", "--all", "--message", "a prompt edit after the gate")
    refusal = _refusal(record)
    assert f"gated on commit {gated_on}, but HEAD is {_git(committed, 'rev-parse', 'HEAD')}" in refusal
    assert "run `make gate` on this commit" in refusal


def test_a_file_the_gate_hashed_cannot_change_or_appear_after_it(committed: Path):
    record = _gated_run(committed, "results")
    prompt = committed / "flows" / FLOW_KIND / f"{FLOW_KIND}.jinja2"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\nAnswer anything.\n", encoding="utf-8")
    assert f"flows/{FLOW_KIND}/{FLOW_KIND}.jinja2 changed since the gate" in _refusal(record)
    _git(committed, "checkout", "--quiet", "--", ".")
    (committed / "flows" / FLOW_KIND / "extra_prompt.jinja2").write_text("Say yes.\n", encoding="utf-8")
    assert f"flows/{FLOW_KIND}/extra_prompt.jinja2 is new since the gate" in _refusal(record)


def test_a_record_must_name_the_project_s_experiment_that_gated_it(committed: Path):
    record = _gated_run(committed, "results")
    _edit(record, lambda raw: raw["evaluation"]["gate"].update(experiment="../elsewhere/experiment.yaml"))
    assert "does not load (it is outside the project)" in _refusal(record)
    _edit(record, lambda raw: raw["evaluation"]["gate"].update(experiment=None))
    assert "it names no experiment file" in _refusal(record)


@pytest.mark.parametrize("made", ["results.json", "release.json"])
def test_a_runs_file_that_is_a_named_pipe_is_refused_not_waited_on(committed: Path, made: str):
    """A record or its results.json that is no file (a named pipe, a link to a device) would hold the
    deploy until its time limit: it is one line, at once."""
    record = _gated_run(committed, "results")
    (committed / "results" / record.parent.name / made).unlink()
    os.mkfifo(committed / "results" / record.parent.name / made)
    said = []
    check = threading.Thread(target=lambda: said.append(_refusal(record)), daemon=True)
    check.start()
    check.join(timeout=60)  # a guard against a hang, not a measure: the refusal comes at once
    assert said, "release tags waited on a named pipe"
    assert "not a regular file" in said[0] or "no readable results.json" in said[0]
    shown = runner.invoke(app, ["release", "show", str(record)])
    assert shown.exit_code == (2 if made == "release.json" else 0), shown.output


def test_a_record_created_in_the_future_neither_wins_nor_deploys(committed: Path):
    record = _gated_run(committed, "results")
    future = committed / "results" / "future"
    shutil.copytree(record.parent, future)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    _edit(future / release.RECORD, lambda raw: raw.update(created=tomorrow))
    assert release.latest(committed) == record
    assert f"created {tomorrow} is in the future" in _refusal(future / release.RECORD)

    in_a_minute = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    _edit(future / release.RECORD, lambda raw: raw.update(created=in_a_minute))  # a clock a little ahead
    assert runner.invoke(app, ["release", "tags", "--release", str(future)]).exit_code == 0


def test_a_value_from_a_record_cannot_add_a_setting_line(committed: Path):
    record = _gated_run(committed, "results")
    forged = "offline-extractive\nWEBSITE_RUN_FROM_PACKAGE=https://example.com/other.zip"
    _edit(record, lambda raw: raw["model"].update(model=forged))
    _edit(record.with_name("results.json"), lambda raw: raw["model"].update(model=forged))
    tags = runner.invoke(app, ["release", "tags"])
    assert tags.exit_code == 0, tags.output
    assert not any(line.startswith("WEBSITE_") for line in tags.output.splitlines())
    assert "AIOPS_RELEASE_MODEL=offline:offline-extractive\\nWEBSITE_RUN_FROM_PACKAGE=" in tags.output


def test_show_and_diff_print_control_characters_and_markup_from_a_record_as_text(small_project: Path):
    record = _gated_run(small_project, "one")
    hostile = small_project / "hostile.json"
    shutil.copy(record, hostile)

    def forge(raw: dict) -> None:
        raw["model"]["endpoint"] = "host\x1b[2J\x1b[H"
        raw["files"]["flows/x.jinja2\nForged line: gate passed"] = "0" * 64
        raw["data"][0]["dataset"] = "[red]core[/red]"
        raw["evaluation"]["scores"][0]["evaluator"] = "[bold]qa\u202egnirts"

    _edit(hostile, forge)
    for command in (["show", str(hostile)], ["diff", str(record), str(hostile)]):
        shown = runner.invoke(app, ["release", *command])
        assert shown.exit_code == 0, shown.output
        assert "\x1b" not in shown.output and "\u202e" not in shown.output
        assert "host\\x1b[2J\\x1b[H" in shown.output
        assert "flows/x.jinja2\\nForged line: gate passed" in shown.output
        assert not any(line.lstrip().startswith("Forged line") for line in shown.output.splitlines())
    assert "[red]core[/red]" in runner.invoke(app, ["release", "show", str(hostile)]).output
    assert terminal.visible("a\rb\tc\x9b31md\u2028e") == "a\\rb\\tc\\x9b31md\\u2028e"


def test_a_score_that_became_nan_is_a_difference_and_never_passes(small_project: Path):
    record = _gated_run(small_project, "one")
    before = release.read(record)
    assert before.evaluation is not None
    (score,) = before.evaluation.scores
    where = f"{score.evaluator}.f1_score on core_qa ({score.flow}/{score.variant})"
    for value in (math.nan, math.inf):
        changed = score.model_copy(update={"metrics": {**score.metrics, "f1_score": value}})
        scored = before.evaluation.model_copy(update={"scores": [changed]})
        after = release.write_as(before.model_copy(update={"evaluation": scored}), small_project, str(value))
        diffed = runner.invoke(app, ["release", "diff", str(record), str(after)])
        assert f"score {where}: {score.metrics['f1_score']:.3f} -> {value}" in diffed.output, diffed.output
        assert release.diff(release.read(after), release.read(after)) == []

    results = {"evaluations": [{**score.model_dump(), "metrics": {"f1_score": math.nan}}], "runs": []}
    assert not gate.check(results, GateConfig(thresholds={"qa_metrics.f1_score": 0.1})).passed
    experiment_file = small_project / "experiment.yaml"
    recorded = release.evaluation(load(experiment_file), results, "results.json", True, experiment_file, None)
    assert not recorded.gate.passed and recorded.gate.failures == [f"{where}: nan is not a number"]


def test_a_record_with_a_nan_score_is_not_deployable(committed: Path):
    record = _gated_run(committed, "results")
    _edit(record, lambda raw: raw["evaluation"]["scores"][0]["metrics"].update(f1_score=math.nan))
    _edit(
        record.with_name("results.json"),
        lambda raw: raw["evaluations"][0]["metrics"].update(f1_score=math.nan),
    )
    assert "f1_score on core_qa" in _refusal(record) and "nan is not a number" in _refusal(record)


def test_show_names_a_skipped_evaluator_in_one_line_with_its_reason_not_rows_of_empty_metrics(
    small_project: Path,
):
    record = _gated_run(small_project, "one")
    reason = "no Azure AI project (set AZURE_AI_PROJECT): content safety and indirect attacks not scored"

    def skip(raw: dict) -> None:
        scored = raw["evaluation"]["scores"][0]
        for variant in ("baseline", "concise"):  # one row per variant, one line for the evaluator
            skipped = {"evaluator": "content_safety", "variant": variant, "metrics": {}, "skipped": reason}
            raw["evaluation"]["scores"].append({**scored, **skipped})
        raw["evaluation"]["scores"].append({**scored, "evaluator": "older_record", "metrics": {}})

    _edit(record, skip)
    shown = runner.invoke(app, ["release", "show", str(record)])

    assert shown.exit_code == 0, shown.output
    assert shown.output.count("content_safety") == 1
    assert f"Skipped, not passed: content_safety: {reason}" in shown.output
    assert "Skipped, not passed: older_record: no metrics recorded" in shown.output
    assert "f1_score" in shown.output, "the scored evaluator keeps its row"


def test_a_skipped_evaluator_s_reason_is_recorded_with_its_scores(small_project: Path):
    experiment_file = small_project / "experiment.yaml"
    results = {
        "evaluations": [
            {"evaluator": "content_safety", "flow": "qa", "variant": "baseline", "dataset": "safety"}
            | {"metrics": {}, "skipped": "no Azure AI project"},
            {"evaluator": "qa_metrics", "flow": "qa", "variant": "baseline", "dataset": "core_qa"}
            | {"metrics": {"f1_score": 0.5}, "skipped": None},
        ]
    }
    recorded = release.evaluation(load(experiment_file), results, "results.json", True, experiment_file, None)
    assert [score.skipped for score in recorded.scores] == ["no Azure AI project", None]
