"""The pull-request gate as CI runs it (`make gate ENV=pr BASELINE=main's results.json`), on a copy
of the sample project with the offline model: a change that breaks two answers of the PR subset
fails the gate naming both lines, though the means over ten lines stay above every threshold; the
same change passes where `max_new_failures` allows two. The reports of that run are read as a
reviewer sees them: a skipped evaluator in one line, the offline cost labelled, no emoji."""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, answers_into
from typer.testing import CliRunner

from aiops_platform import pr_comment
from aiops_platform.cli import app

runner = CliRunner()
BROKEN = ("core_qa-003", "core_qa-007")  # two lines of the PR subset (core_qa's first 10)
UNRELATED = "The canteen opens at eight. Parking is behind building two."


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the sample project, as the working directory, for this module's runs."""
    root = tmp_path_factory.mktemp("pr-gate")
    for folder in ("data", "flows", "connections", "evaluators", "monitoring"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    for file in [*PROJECT_ROOT.glob("experiment*.yaml"), PROJECT_ROOT / "pyproject.toml"]:
        shutil.copy(file, root / file.name)
    answers_into(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        yield root


def _gate(project: Path, out: str, baseline: Path | None = None) -> tuple[int, str, Path]:
    """`experiment run --gate --env pr [--baseline]`: exit code, terminal output, results folder."""
    arguments = ["experiment", "run", "--gate", "--env", "pr", "-f", str(project / "experiment.yaml")]
    arguments += ["--output", str(project / out)] + (["--baseline", str(baseline)] if baseline else [])
    result = runner.invoke(app, arguments)
    (folder,) = (project / out).iterdir()
    return result.exit_code, result.output, folder


@pytest.fixture(scope="module")
def main_run(project: Path) -> tuple[int, str, Path]:
    """The PR subset on main, unchanged: what CI publishes as the baseline."""
    return _gate(project, "main")


@pytest.fixture
def broken_data(project: Path) -> Iterator[None]:
    """The kept-back change: two lines' context no longer holds their answer."""
    data = project / "data" / "core_qa.jsonl"
    shipped = data.read_text(encoding="utf-8")
    rows = [json.loads(line) for line in shipped.splitlines() if line.strip()]
    for row in rows:
        if row["id"] in BROKEN:
            row["context"] = UNRELATED
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    yield
    data.write_text(shipped, encoding="utf-8")


@pytest.fixture
def allow_two(project: Path) -> Iterator[None]:
    overlay = project / "experiment.pr.yaml"
    shipped = overlay.read_text(encoding="utf-8")
    changed = yaml.safe_load(shipped)
    changed["gate"]["max_new_failures"]["core_qa"] = 2
    overlay.write_text(yaml.safe_dump(changed), encoding="utf-8")
    yield
    overlay.write_text(shipped, encoding="utf-8")


def test_the_pr_overlay_allows_no_newly_failing_line_on_the_qa_datasets(project: Path):
    overlay = yaml.safe_load((project / "experiment.pr.yaml").read_text(encoding="utf-8"))
    assert overlay["gate"]["max_new_failures"] == {"core_qa": 0, "hard_qa": 0}


def test_without_a_baseline_the_gate_says_regressions_and_new_failures_were_not_checked(
    main_run: tuple[int, str, Path],
):
    code, output, folder = main_run
    assert code == 0, output
    said = "No baseline given: regressions and lines newly failing were not checked"
    assert said in output and said in _summary(folder)


def test_an_unchanged_project_passes_against_its_own_baseline(project: Path, main_run: tuple[int, str, Path]):
    code, output, _ = main_run
    assert code == 0, output
    code, output, folder = _gate(project, "unchanged", main_run[2] / "results.json")
    assert code == 0, output
    assert "No line that passed its thresholds on the baseline fails now." in output
    assert "No line that passed its thresholds on the baseline fails now." in _summary(folder)


def test_two_broken_answers_fail_the_gate_naming_both_lines(
    project: Path, main_run: tuple[int, str, Path], broken_data: None
):
    code, output, folder = _gate(project, "broken", main_run[2] / "results.json")
    assert code == 1, output
    summary = _summary(folder)
    for variant in ("baseline", "concise"):  # every variant of the flow answers the two lines wrongly
        reason = (
            f"lines.new_failures on core_qa (flow qa, variant {variant}): 2 lines passed on the baseline "
            f"and fail now, 0 allowed (max_new_failures): {', '.join(BROKEN)}"
        )
        assert f"FAIL {reason}" in output and f"- FAIL: {reason}" in summary
        for line in BROKEN:  # each line named with the metric that broke
            assert f"- core_qa line {line} (qa/{variant}): qa_metrics.f1_score 0.000 (was " in summary
    assert "4 line(s) passed a threshold on the baseline and fail now:" in output
    # The mean alone would not have told: core_qa's F1 is still above its threshold.
    assert "qa_metrics.f1_score on core_qa" not in output
    body = pr_comment.body(summary, pr_comment.GITHUB_LIMIT)  # what the pull request's comment says
    assert all(f"core_qa line {line} (qa/baseline)" in body for line in BROKEN)
    saved = json.loads((folder / "results.json").read_text(encoding="utf-8"))["gate"]["new_failures"]
    assert sorted({failure["line"] for failure in saved}) == list(BROKEN)


def test_saved_results_are_gated_the_same_without_running_again(
    project: Path, main_run: tuple[int, str, Path], broken_data: None
):
    _, _, folder = _gate(project, "broken-saved", main_run[2] / "results.json")
    arguments = ["experiment", "gate", str(folder / "results.json"), "--env", "pr"]
    result = runner.invoke(app, [*arguments, "--baseline", str(main_run[2] / "results.json")])
    assert result.exit_code == 1
    assert all(f"core_qa line {line} (qa/concise)" in result.output for line in BROKEN)


def test_max_new_failures_of_two_lets_the_change_pass_and_still_lists_the_lines(
    project: Path, main_run: tuple[int, str, Path], broken_data: None, allow_two: None
):
    code, output, folder = _gate(project, "allowed", main_run[2] / "results.json")
    assert code == 0, output
    assert all(f"core_qa line {line} (qa/baseline)" in _summary(folder) for line in BROKEN)
    assert "max_new_failures" not in output  # listed, not failed


def test_a_skipped_evaluator_is_one_line_not_an_empty_table(main_run: tuple[int, str, Path]):
    _, output, folder = main_run
    summary = _summary(folder)
    section = summary.split("## content_safety\n", 1)[1].split("\n## ", 1)[0]
    assert section.strip() == (
        "Skipped, not passed: no Azure AI project (set AZURE_AI_PROJECT): "
        "content safety and indirect attacks not scored"
    )
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert '<p class="meta skipped">Skipped, not passed: no Azure AI project' in html
    assert "content_safety (inprocess" not in output  # no empty terminal table either


def test_the_offline_cost_is_what_the_priced_model_would_charge_and_says_so(main_run: tuple[int, str, Path]):
    _, output, folder = main_run
    runs = json.loads((folder / "results.json").read_text(encoding="utf-8"))["runs"]
    assert {run["stats"]["priced_as"] for run in runs} == {"gpt-4o-mini"}
    assert all(run["stats"]["cost"] > 0 for run in runs)
    amount = sum(run["stats"]["cost"] for run in runs)
    label = (
        f"Cost: {amount:.4f} USD over {len(runs)} runs, estimated at gpt-4o-mini prices "
        "(offline run: nothing was charged)"
    )
    assert label in output and label in _summary(folder)
    assert label in (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"\bfree\b", output + _summary(folder))  # pii_free is a metric


def needs_emoji_font(text: str) -> list[str]:
    """Characters a terminal or browser without an emoji font may show as a box: symbols (Unicode
    category So) other than box drawing and block elements, anything past U+1F000, and the emoji
    presentation selector."""
    return sorted(
        {
            f"{char} U+{ord(char):04X}"
            for char in text
            if ord(char) >= 0x1F000
            or char == "\ufe0f"
            or (unicodedata.category(char) == "So" and not 0x2500 <= ord(char) <= 0x259F)
        }
    )


def test_the_check_for_emoji_finds_what_it_looks_for():
    assert needs_emoji_font("Gate: \u2705 passed \u26a0 \u23ed \U0001f680") == [
        "\u23ed U+23ED",
        "\u26a0 U+26A0",
        "\u2705 U+2705",
        "\U0001f680 U+1F680",
    ]
    assert needs_emoji_font("0.600 \u00b7 \u2265 0.500 pass \u2014 \u2500\u2501 \u2192") == []


def test_no_report_of_a_failed_gate_needs_an_emoji_font(
    project: Path, main_run: tuple[int, str, Path], broken_data: None
):
    _, output, folder = _gate(project, "glyphs", main_run[2] / "results.json")
    files = ("summary.md", "report.html", "system_card.md")
    rendered = {name: (folder / name).read_text(encoding="utf-8") for name in files} | {"terminal": output}
    found = {name: needs_emoji_font(text) for name, text in rendered.items()}
    assert found == {name: [] for name in rendered}


def _summary(folder: Path) -> str:
    return (folder / "summary.md").read_text(encoding="utf-8")
