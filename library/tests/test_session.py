"""An experiment session runs without the command line: checks, run, results, report, gate, release
record and system card, all from the library; the CLI only shows progress and prints."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from aiops_platform import session
from aiops_platform.cli import experiment as experiment_cli


def _progress(seen: list[str]):
    def start(label: str, total: int):
        seen.append(f"{label}:{total}")
        return lambda: None

    return start


def test_a_session_writes_everything_a_run_leaves_without_the_cli(tiny_experiment: Path):
    seen: list[str] = []
    prepared = session.prepare(tiny_experiment, session.Options(output=tiny_experiment.parent / "out"))
    done = session.run(prepared, _progress(seen))
    assert done.passed(gate=True) and done.failed_lines == 0
    names = {path.name for path in done.directory.iterdir()}
    assert {"results.json", "summary.md", "report.html", "release.json", "system_card.md"} <= names
    assert json.loads((done.directory / "results.json").read_text(encoding="utf-8"))["runs"]
    assert seen and all(label.endswith(":3") for label in seen)  # three lines a dataset, each reported


def test_a_broken_dataset_line_is_refused_before_anything_runs(tiny_experiment: Path):
    dataset = next(tiny_experiment.parent.glob("*.jsonl"))
    dataset.write_text(dataset.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(session.Refused) as refused:
        session.prepare(tiny_experiment, session.Options(output=tiny_experiment.parent / "out"))
    assert "nothing ran" in str(refused.value) and refused.value.code == 2
    assert any(":4" in str(problem) for problem in refused.value.problems)  # the file and line
    assert not (tiny_experiment.parent / "out").exists()


@pytest.mark.parametrize(
    ("cost", "max_cost", "refused"),
    [(0.5, 1.0, None), (2.0, 1.0, "exceeds --max-cost 1"), (None, 1.0, "needs a price")],
    ids=["within", "above", "unpriced"],
)
def test_the_budget_refuses_an_online_run_above_it_or_without_a_price(cost, max_cost, refused):
    estimated = session.Estimate(10, "gpt-4o-mini", 1000, "priced", cost, "cache")
    if refused is None:
        session.within_budget(estimated, max_cost)
        return
    with pytest.raises(session.Refused, match=refused):
        session.within_budget(estimated, max_cost)


def test_the_experiment_command_orchestrates_nothing():
    """It imports neither the runner, the engines, the results writer nor the gate's record-keeping."""
    tree = ast.parse(Path(experiment_cli.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {f"aiops_platform.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module == "aiops_platform" for alias in node.names}  # fmt: skip
    orchestration = {
        "aiops_platform.runner",
        "aiops_platform.engines",
        "aiops_platform.results",
        "aiops_platform.llm",
    }
    assert not imported & orchestration
    assert "aiops_platform.session" in imported
