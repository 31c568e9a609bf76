"""The system card: every run writes one next to its release record, the reports link it, and
`release card` rewrites it, byte for byte the same."""

import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from aiops_platform import governance, project, registry, system_card
from aiops_platform.cli import app

runner = CliRunner()
SECTIONS = (
    "## Intended use",
    "## Out-of-scope use",
    "## Data used",
    "## Evaluation results",
    "### core_qa",
    "## Known limitations",
    "## Owner",
    "## Release",
)


def _run(project: Path, output: str, passes: bool = True) -> Path:
    arguments = ["experiment", "run", "--gate", "-f", str(project / "experiment.yaml")]
    result = runner.invoke(app, [*arguments, "--output", str(project / output)])
    assert result.exit_code == (0 if passes else 1), result.output
    (folder,) = (project / output).iterdir()
    assert f"Card:    {folder / system_card.CARD}" in result.output.replace("\n", "")
    return folder


def _row(card: str, metric: str) -> str:
    return next(line for line in card.splitlines() if line.startswith(f"| {metric} |"))


def test_a_gated_run_writes_a_card_with_every_section_and_the_reports_link_it(
    small_project: Path, project_root: Path
):
    safety = Path("flows") / "eval_safety" / "safety.jsonl"  # the refused categories come from it
    (small_project / safety).parent.mkdir(parents=True)
    shutil.copy(project_root / safety, small_project / safety)
    data, spec_file = small_project / "data" / "core_qa.jsonl", small_project / "data" / "core_qa.yml"
    spec = registry.DataSpec("small_core_qa", "uri_file", data, "3 lines", spec_file)
    registry.LocalRegistry(small_project).register(spec, registry.content_hash(data))
    agreed = yaml.safe_load((small_project / governance.FILE).read_text(encoding="utf-8"))
    changed = {"use_case": "CMC", "owner": "qc-analytics", "data_classification": "confidential"}
    (small_project / governance.FILE).write_text(yaml.safe_dump({**agreed, **changed}), encoding="utf-8")
    folder = _run(small_project, "results")
    card = (folder / system_card.CARD).read_text(encoding="utf-8")
    assert [section for section in SECTIONS if section not in card] == []
    answers = project.load(small_project)  # the card names the project's answers, not the sample's defaults
    assert card.startswith(f"# System card: {answers.name}\n")
    assert "Use case `CMC` · owner qc-analytics · " in card and "Data classification: confidential" in card
    assert "qc-analytics: questions, incidents and changes" in card
    assert answers.description in card and f"- Flow: `{answers.flow_kind}`, " in card
    assert f"| core_qa | small_core_qa:1 | 3 | `{registry.content_hash(data)}` |" in card
    assert "| pass |" in _row(card, "qa_metrics.f1_score") and "≥ 0.100" in _row(card, "qa_metrics.f1_score")
    assert "Gate: **passed**" in card
    assert "`jailbreak`" in card  # a refused category of the safety set
    assert "offline model" in card  # the model that answered is a limitation worth saying
    assert 'href="system_card.md"' in (folder / "report.html").read_text(encoding="utf-8")
    assert "](system_card.md)" in (folder / "summary.md").read_text(encoding="utf-8")


def test_a_failed_gate_shows_the_failing_threshold_and_the_card_is_rewritten_the_same(small_project: Path):
    experiment = yaml.safe_load((small_project / "experiment.yaml").read_text(encoding="utf-8"))
    experiment["gate"]["thresholds"]["qa_metrics.f1_score"] = 1.01  # no score reaches it
    (small_project / "experiment.yaml").write_text(yaml.safe_dump(experiment), encoding="utf-8")
    folder = _run(small_project, "results", passes=False)
    card_file = folder / system_card.CARD
    card = card_file.read_text(encoding="utf-8")
    assert "Gate: **failed" in card and "| FAIL |" in _row(card, "qa_metrics.f1_score")
    assert "must not be deployed" in card
    assert "`core_qa` is unregistered" in card  # never registered: said, not guessed

    card_file.unlink()
    rewritten = runner.invoke(app, ["release", "card", str(folder / "release.json")])
    assert rewritten.exit_code == 0, rewritten.output
    assert str(card_file) in rewritten.output.replace("\n", "")
    assert card_file.read_text(encoding="utf-8") == card  # deterministic: the same inputs, the same card


def test_card_without_a_record_is_one_line(tmp_path: Path):
    missing = runner.invoke(app, ["release", "card", str(tmp_path / "release.json")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_a_maximum_shows_as_at_most_in_the_summary_the_record_and_the_card(small_project: Path):
    """A lower-is-better metric (tool_use.turns_to_answer in an agent project); f1_score stands in here."""
    experiment = yaml.safe_load((small_project / "experiment.yaml").read_text(encoding="utf-8"))
    experiment["gate"] = {"maximums": {"qa_metrics.f1_score": 0.0}}  # any answer's F1 exceeds it
    (small_project / "experiment.yaml").write_text(yaml.safe_dump(experiment), encoding="utf-8")
    folder = _run(small_project, "results", passes=False)
    card = (folder / system_card.CARD).read_text(encoding="utf-8")
    assert "≤ 0.000 | FAIL |" in _row(card, "qa_metrics.f1_score")
    assert "at least its threshold (≥), or at most its maximum (≤)" in card
    assert "No thresholds are set" not in card
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert "· ≤ 0.000 FAIL" in summary and "is above the maximum 0.000" in summary
    assert '"maximums": {\n' in (folder / "release.json").read_text(encoding="utf-8")
