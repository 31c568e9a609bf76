"""The release commands as the project's make targets: a run is named as `results/` lists it."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT_ROOT
from typer.testing import CliRunner

from aiops_platform import project, release
from aiops_platform.cli import app

VENV = Path(sys.executable).parent.parent  # the environment running these tests has the `aiops` command
FLOW_KIND = project.load(PROJECT_ROOT).flow_kind  # small_project copies this sample's flow


def _gated_run(project_dir: Path) -> Path:
    """A gated run of the project's experiment into results/; its folder."""
    before = set((project_dir / "results").glob("*/release.json"))
    arguments = ["experiment", "run", "--gate", "-f", str(project_dir / "experiment.yaml")]
    result = CliRunner().invoke(app, [*arguments, "--output", str(project_dir / "results")])
    assert result.exit_code == 0, result.output
    (record,) = set((project_dir / "results").glob("*/release.json")) - before
    return record.parent


def _make(project_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", "-C", str(project_dir), *arguments, f"VENV={VENV}"]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_release_show_diff_and_card_take_runs_by_their_name_in_results(small_project: Path):
    shutil.copy(PROJECT_ROOT / "Makefile", small_project / "Makefile")
    first = _gated_run(small_project)
    prompt = small_project / "flows" / FLOW_KIND / f"{FLOW_KIND}.jinja2"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\nBe precise.\n", encoding="utf-8")
    second = _gated_run(small_project)

    diff = _make(small_project, "release-diff", f"A={first.name}", f"B={second.name}")
    assert diff.returncode == 0, diff.stderr
    assert f"file flows/{FLOW_KIND}/{FLOW_KIND}.jinja2: changed" in diff.stdout

    prompt_hash = {
        run: release.read(run).files[f"flows/{FLOW_KIND}/{FLOW_KIND}.jinja2"][:16] for run in (first, second)
    }
    newest = _make(small_project, "release-show")
    assert newest.returncode == 0, newest.stderr
    assert prompt_hash[second] in newest.stdout and prompt_hash[first] not in newest.stdout
    older = _make(small_project, "release-show", f"RELEASE={first.name}")
    assert prompt_hash[first] in older.stdout and prompt_hash[second] not in older.stdout

    for run in (first, second):  # a gated run writes its card: gone, to see which one is rewritten
        (run / "system_card.md").unlink()
    card = _make(small_project, "release-card", f"RELEASE={first.name}")
    assert card.returncode == 0, card.stderr
    assert (first / "system_card.md").is_file() and not (second / "system_card.md").exists()


def test_release_diff_without_two_runs_says_how_to_name_them(small_project: Path):
    shutil.copy(PROJECT_ROOT / "Makefile", small_project / "Makefile")
    refused = _make(small_project, "release-diff", "A=20250101-120000")
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[0] == (
        "release-diff: name the two runs, A=<run> B=<run> (folders in results/, or release.json files)"
    )
